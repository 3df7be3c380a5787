"""Field types on screens: how each type is shown, which input it gets, and how input is read back.

Three registries keyed by field type, each of small functions with one
signature, so templates and views never branch on type names. Reading input
only turns form strings into the Python values the record service expects;
validating them (required, ranges, check digits...) is the core's job, so a
value that does not parse is passed on as typed for the core to report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from blueprints.i18n import (
    format_date_for,
    format_datetime_for,
    format_money_for,
    format_number_for,
)
from crm_platform.metadata.model import FieldDef, localize
from crm_platform.runtime import regions


@dataclass
class Lookups:
    """Names of what records point at, filled by the view for one page: titles, users, units."""

    titles: dict[tuple[str, int], str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    units: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Show:
    """What a display function needs besides the value: language, time zone, names."""

    language: str
    timezone: str
    lookups: Lookups


Display = Callable[[Any, FieldDef, Show], str]


def _text(value: Any, _field: FieldDef, _show: Show) -> str:
    return str(value)


def _number(value: Any, field_def: FieldDef, show: Show) -> str:
    return format_number_for(value, show.language, field_def.scale)


def _percent(value: Any, field_def: FieldDef, show: Show) -> str:
    return format_number_for(value, show.language, field_def.scale) + "%"


def _money(value: Any, field_def: FieldDef, show: Show) -> str:
    if isinstance(value, Mapping):
        return format_money_for(value.get("amount"), value.get("currency"), show.language)
    return format_money_for(value, field_def.currency, show.language)


def _boolean(value: Any, _field: FieldDef, _show: Show) -> str:
    text: str = _("Yes") if value else _("No")
    return text


def _date(value: Any, _field: FieldDef, show: Show) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_date_for(value, show.language)


def _datetime(value: Any, _field: FieldDef, show: Show) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime_for(value, show.language, show.timezone)


def _choice(value: Any, field_def: FieldDef, show: Show) -> str:
    option = field_def.option(str(value))
    return localize(option.label, show.language) if option else str(value)


def _multi_choice(value: Any, field_def: FieldDef, show: Show) -> str:
    return ", ".join(_choice(item, field_def, show) for item in value or ())


def _reference(value: Any, field_def: FieldDef, show: Show) -> str:
    return show.lookups.titles.get((field_def.target or "", int(value)), f"#{value}")


def _user(value: Any, _field: FieldDef, show: Show) -> str:
    return show.lookups.users.get(int(value), f"#{value}")


def _unit(value: Any, _field: FieldDef, show: Show) -> str:
    return show.lookups.units.get(int(value), f"#{value}")


def _region(value: Any, _field: FieldDef, show: Show) -> str:
    chain = regions.path(str(value))
    return " / ".join(item.label(show.language) for item in chain) if chain else str(value)


DISPLAY: Mapping[str, Display] = {
    "text": _text,
    "long_text": _text,
    "email": _text,
    "phone": _text,
    "url": _text,
    "uscc": _text,
    "integer": _number,
    "decimal": _number,
    "percent": _percent,
    "money": _money,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "choice": _choice,
    "multi_choice": _multi_choice,
    "reference": _reference,
    "user": _user,
    "org_unit": _unit,
    "region": _region,
}


def display(value: Any, field_def: FieldDef, show: Show, level: str = "edit") -> str:
    """A stored value as text for a page; masked values are shown as the core masked them."""
    if value is None or value in ("", []):
        return ""
    if level == "masked":
        if isinstance(value, Mapping):
            return str(value.get("amount") or "****")
        return str(value)
    return DISPLAY[field_def.type](value, field_def, show)


# -- input -------------------------------------------------------------------------------------

WIDGETS: Mapping[str, str] = {
    "text": "text",
    "long_text": "textarea",
    "email": "email",
    "phone": "tel",
    "url": "url",
    "uscc": "uscc",
    "integer": "integer",
    "decimal": "decimal",
    "percent": "decimal",
    "money": "money",
    "boolean": "checkbox",
    "date": "date",
    "datetime": "datetime",
    "choice": "select",
    "multi_choice": "checkboxes",
    "reference": "reference",
    "user": "user",
    "org_unit": "org_unit",
    "region": "region",
}
"""The input each field type gets; `templates/records/_widgets.html` has one macro per name."""

PICKED: frozenset[str] = frozenset({"reference", "user", "org_unit"})
"""Field types whose input is an id chosen in a picker, shown by the name of what it points at."""

Reader = Callable[[MultiDict[str, str], FieldDef, str], Any]

_INTEGER = re.compile(r"^[+-]?\d+$")


def _read_text(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    raw = form.get(field_def.key, "")
    text = raw if field_def.type == "long_text" else raw.strip()
    return text or None


def _read_integer(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    raw = form.get(field_def.key, "").strip()
    if not raw:
        return None
    return int(raw) if _INTEGER.match(raw) else raw


def _decimal_or_raw(raw: str) -> Any:
    cleaned = raw.strip().replace(",", "").replace("，", "")
    if not cleaned:
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return raw.strip()


def _read_decimal(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    return _decimal_or_raw(form.get(field_def.key, ""))


def _read_money(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    amount = _decimal_or_raw(form.get(field_def.key, ""))
    if amount is None:
        return None
    currency = form.get(field_def.key + "_currency", "").strip().upper()
    return {"amount": amount, "currency": currency or field_def.currency or "CNY"}


def _read_boolean(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    return form.get(field_def.key) in ("on", "true", "1", "yes")


def _read_date(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    raw = form.get(field_def.key, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return raw


def _read_datetime(form: MultiDict[str, str], field_def: FieldDef, timezone: str) -> Any:
    raw = form.get(field_def.key, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    # The browser's datetime-local input has no offset: it is the user's wall clock.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def _read_choice(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    return form.get(field_def.key, "").strip() or None


def _read_multi_choice(form: MultiDict[str, str], field_def: FieldDef, _tz: str) -> Any:
    return [item for item in form.getlist(field_def.key) if item]


READERS: Mapping[str, Reader] = {
    "text": _read_text,
    "long_text": _read_text,
    "email": _read_text,
    "phone": _read_text,
    "url": _read_text,
    "uscc": lambda form, f, tz: (_read_text(form, f, tz) or "").upper() or None,
    "region": _read_text,
    "integer": _read_integer,
    "decimal": _read_decimal,
    "percent": _read_decimal,
    "money": _read_money,
    "boolean": _read_boolean,
    "date": _read_date,
    "datetime": _read_datetime,
    "choice": _read_choice,
    "multi_choice": _read_multi_choice,
    "reference": _read_integer,
    "user": _read_integer,
    "org_unit": _read_integer,
}


def read(form: MultiDict[str, str], field_def: FieldDef, timezone: str) -> Any:
    """The value of one field from a submitted form, for the record service to validate."""
    return READERS[field_def.type](form, field_def, timezone)


def input_value(value: Any, field_def: FieldDef, timezone: str) -> Any:
    """A stored value as an input's `value` attribute expects it (ISO dates, plain numbers)."""
    if value is None:
        return ""
    if field_def.type == "money" and isinstance(value, Mapping):
        return "" if value.get("amount") is None else str(value.get("amount"))
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value
