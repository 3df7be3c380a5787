"""The list page's compiled formatters write exactly what Babel writes, only faster."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from blueprints.compiled_formats import DateFormatter, DateTimeFormatter
from blueprints.i18n import (
    LANGUAGES,
    babel_locale,
    format_date_for,
    format_datetime_for,
    format_money_for,
    format_number_for,
)

ZONES = ("Asia/Shanghai", "America/New_York", "UTC")


def _moments() -> list[datetime]:
    """Every 7 minutes of a day (every day period), the 1st of every month, and edge years."""
    start = datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC)
    moments = [start + timedelta(minutes=7 * n) for n in range(24 * 60 // 7 + 1)]
    moments += [datetime(2025, month, 1, 23, 59, 59, tzinfo=UTC) for month in range(1, 13)]
    naive = datetime(1999, 12, 31, 16, 0)  # noqa: DTZ001 - Babel takes naive values as UTC
    moments += [datetime(2000, 2, 29, 12, 0, tzinfo=UTC), naive]
    return moments


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("zone", ZONES)
def test_compiled_datetime_format_is_babels_medium_format(language: str, zone: str) -> None:
    locale = babel_locale(language)
    compiled = DateTimeFormatter(locale, zone)
    for moment in _moments():
        assert compiled(moment) == format_datetime(moment, "medium", tzinfo=zone, locale=locale)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_compiled_date_format_is_babels_medium_format(language: str) -> None:
    locale = babel_locale(language)
    compiled = DateFormatter(locale)
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 366, 3)]
    for day in [*days, datetime(2026, 3, 9, 23, 30, tzinfo=UTC)]:
        assert compiled(day) == format_date(day, "medium", locale=locale)


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("scale", [None, 0, 2, 4])
def test_numbers_are_formatted_as_babel_formats_them(language: str, scale: int | None) -> None:
    locale = babel_locale(language)
    pattern = None if scale is None else "#,##0" + ("." + "0" * scale if scale else "")
    for raw in ("0", "-1234567.891", "1234.5", "0.000049", "98765432109876.54321"):
        expected = format_decimal(Decimal(raw), pattern, locale=locale)
        assert format_number_for(raw, language, scale) == expected


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_amounts_are_formatted_as_babel_formats_them(language: str) -> None:
    locale = babel_locale(language)
    for amount in ("0", "1234.5", "-9876543.21"):
        assert format_money_for(amount, "CNY", language) == format_currency(
            Decimal(amount), "CNY", locale=locale
        )
        assert format_money_for(amount, None, language) == format_decimal(
            Decimal(amount), "#,##0.00", locale=locale
        )


def test_missing_values_format_as_empty_text() -> None:
    assert format_date_for(None, "en") == ""
    assert format_datetime_for(None, "en", "UTC") == ""
    assert format_number_for("", "en") == ""
    assert format_money_for(None, "CNY", "en") == ""
