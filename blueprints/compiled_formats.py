"""Babel's date and time patterns compiled once per locale, for pages that format many values.

`babel.dates.format_datetime` parses the locale, looks up its patterns and the
time zone on every call, then interprets the pattern field by field through a
fresh `DateTimeFormat` (about 12 us); a list page formats a date-time on every
row, and that was an eighth of its time. Here a locale's medium patterns are
tokenized once into one %-format: numeric fields (year, month, day, hour,
minute, second) are written the way Babel writes them, and the other fields
(month names, day periods...) are asked of Babel itself, once per distinct value
of what they depend on (about 1 us in all). The text is Babel's, character for
character: the tests compare them over a whole day and a whole year in each UI
language and several time zones.

Everything cached here is derived from CLDR data shipped with Babel, never from
the database, so a second worker builds the same objects for itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    DateTimeFormat,
    get_date_format,
    get_datetime_format,
    get_time_format,
    tokenize_pattern,
)

_ATTRIBUTES: dict[str, str] = {
    "y": "year",
    "M": "month",
    "L": "month",
    "d": "day",
    "H": "hour",
    "m": "minute",
    "s": "second",
}
"""Numeric fields read straight off the value, by pattern letter."""

_COMPUTED: dict[str, Callable[[Any], int]] = {
    "h": lambda value: value.hour % 12 or 12,
    "K": lambda value: value.hour % 12,
    "k": lambda value: value.hour or 24,
}
"""Numeric fields computed from the value, by pattern letter."""

_DEPENDS_ON: dict[str, Callable[[Any], Any]] = {
    "M": lambda value: value.month,
    "L": lambda value: value.month,
    "E": lambda value: value.weekday(),
    "a": lambda value: value.hour >= 12,
    "b": lambda value: (value.hour, value.minute, value.second),
    "B": lambda value: (value.hour, value.minute, value.second),
}
"""What a named field's text depends on, for the fields whose Babel answers are remembered."""


def _named(char: str, width: int, locale: Locale, as_time: bool) -> Callable[[Any], str]:
    """A field Babel names (a month, a day period...), asked of Babel as `format_datetime` does.

    The date part of a pattern is applied to the date, the time part to the
    time with its date as reference, exactly as `format_date` and `format_time`
    are called by `format_datetime`.
    """
    name = char * width

    def ask(value: Any) -> str:
        if as_time:
            return DateTimeFormat(value.timetz(), locale, reference_date=value.date())[name]
        return DateTimeFormat(_as_date(value), locale)[name]

    depends_on = _DEPENDS_ON.get(char)
    if depends_on is None:
        return ask
    known: dict[Any, str] = {}

    def remembered(value: Any) -> str:
        key = depends_on(value)
        text = known.get(key)
        if text is None:
            text = known[key] = ask(value)
        return text

    return remembered


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


class CompiledPattern:
    """Babel date and time patterns turned into one %-format and the values it takes.

    Babel writes numeric fields with ``'%0*d' % (width, value)``; here each such
    field becomes ``%0<width>d`` in one template, filled from the value's
    attributes in one `attrgetter` call when the pattern has only those. Other
    fields are computed per value (named ones through Babel, remembered).
    """

    def __init__(self) -> None:
        self._template: list[str] = []
        self._sources: list[str | Callable[[Any], Any]] = []

    def add(self, pattern: str, locale: Locale, *, as_time: bool = False) -> None:
        """Append a Babel date (or, with `as_time`, time) pattern."""
        for kind, token in tokenize_pattern(pattern):
            if kind == "chars":
                assert isinstance(token, str)
                self.add_text(token)
            else:
                assert isinstance(token, tuple)
                char, width = token
                assert isinstance(char, str) and isinstance(width, int)
                self._add_field(char, width, locale, as_time)

    def add_text(self, text: str) -> None:
        """Append literal text."""
        self._template.append(text.replace("%", "%%"))

    def _add_field(self, char: str, width: int, locale: Locale, as_time: bool) -> None:
        attribute = _ATTRIBUTES.get(char)
        if char == "y" and width == 2:
            self._add(lambda value: value.year % 100, "%02d")
        elif attribute is not None and not (char in "ML" and width > 2):
            self._add(attribute, f"%0{width}d")
        elif char in _COMPUTED:
            self._add(_COMPUTED[char], f"%0{width}d")
        else:
            self._add(_named(char, width, locale, as_time), "%s")

    def _add(self, source: str | Callable[[Any], Any], conversion: str) -> None:
        self._sources.append(source)
        self._template.append(conversion)

    def freeze(self) -> Callable[[Any], str]:
        """A function writing values with the patterns added so far."""
        template = "".join(self._template)
        if not self._sources:
            return lambda _value: template % ()
        if all(isinstance(source, str) for source in self._sources):
            read = attrgetter(*self._sources)  # type: ignore[arg-type]
            if len(self._sources) == 1:
                return lambda value: template % (read(value),)
            return lambda value: template % read(value)
        sources = tuple(
            attrgetter(source) if isinstance(source, str) else source for source in self._sources
        )
        return lambda value: template % tuple(source(value) for source in sources)


class DateFormatter:
    """A locale's medium date format, as `babel.dates.format_date(value, "medium")` writes it."""

    def __init__(self, locale: Locale):
        pattern = CompiledPattern()
        pattern.add(get_date_format("medium", locale=locale).pattern, locale)
        self._write = pattern.freeze()

    def __call__(self, value: date | datetime) -> str:
        """The date (of a date-time, its own date: no time zone is applied)."""
        return self._write(_as_date(value))


class DateTimeFormatter:
    """A locale's medium date-time format in one time zone, as `format_datetime` writes it."""

    def __init__(self, locale: Locale, timezone: str):
        # The zone as zoneinfo: Babel hands out pytz zones when pytz is installed, whose
        # conversions give the same wall time at eight times the cost.
        self._zone: tzinfo = ZoneInfo(timezone)
        combined = str(get_datetime_format("medium", locale=locale)).replace("'", "")
        pattern = CompiledPattern()
        # Babel substitutes the time for {0} and the date for {1} in the combining pattern.
        for piece in re.split(r"(\{[01]\})", combined):
            if piece == "{0}":
                pattern.add(get_time_format("medium", locale=locale).pattern, locale, as_time=True)
            elif piece == "{1}":
                pattern.add(get_date_format("medium", locale=locale).pattern, locale)
            elif piece:
                pattern.add_text(piece)
        self._write = pattern.freeze()

    def __call__(self, value: datetime) -> str:
        """The moment in this formatter's zone; a naive value is taken as UTC, as Babel does."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return self._write(value.astimezone(self._zone))


@lru_cache(maxsize=64)
def date_formatter(locale: Locale) -> DateFormatter:
    """The medium date formatter of a locale, built once per process."""
    return DateFormatter(locale)


@lru_cache(maxsize=64)
def datetime_formatter(locale: Locale, timezone: str) -> DateTimeFormatter:
    """The medium date-time formatter of a locale in a time zone, built once per process."""
    return DateTimeFormatter(locale, timezone)
