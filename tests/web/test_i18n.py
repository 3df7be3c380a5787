"""Choosing the UI language and formatting dates, numbers and amounts per locale."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from blueprints.i18n import (
    format_date_for,
    format_datetime_for,
    format_money_for,
    format_number_for,
    language_of_header,
    normalise_language,
)


@pytest.mark.parametrize(
    ("accepted", "language"),
    [
        (["zh-CN", "en"], "zh-Hans"),
        (["zh"], "zh-Hans"),
        (["zh-TW"], "zh-Hant"),
        (["zh-HK", "zh-CN"], "zh-Hant"),
        (["zh-Hant-CN"], "zh-Hant"),
        (["zh-Hans-HK"], "zh-Hans"),
        (["en-GB", "zh-CN"], "en"),
        (["fr-FR", "de"], None),
        (["fr-FR", "zh-TW"], "zh-Hant"),
    ],
)
def test_browser_languages_map_to_ui_languages(accepted: list[str], language: str | None) -> None:
    assert language_of_header(accepted) == language


def test_only_the_three_ui_languages_are_accepted() -> None:
    assert normalise_language("ZH-hans") == "zh-Hans"
    assert normalise_language("zh_Hant") == "zh-Hant"
    assert normalise_language("fr") is None
    assert normalise_language(None) is None


def test_dates_and_numbers_follow_the_locale() -> None:
    day = date(2026, 3, 9)
    assert format_date_for(day, "en") == "Mar 9, 2026"
    assert format_date_for(day, "zh-Hans") == "2026年3月9日"
    moment = datetime(2026, 3, 9, 1, 30, tzinfo=UTC)
    assert "09:30" in format_datetime_for(moment, "zh-Hans", "Asia/Shanghai")
    assert format_number_for("1234567.891", "en", 2) == "1,234,567.89"
    assert format_number_for(None, "en") == ""


def test_amounts_use_wan_and_yi_in_chinese_when_compact() -> None:
    assert format_money_for("123456789", "CNY", "zh-Hans", compact=True) == "¥1.23亿"
    assert format_money_for("45600", "CNY", "zh-Hans", compact=True) == "¥4.56万"
    assert format_money_for("45600", "CNY", "zh-Hant", compact=True).endswith("4.56萬")
    assert format_money_for("9999", "CNY", "zh-Hans", compact=True) == "¥9,999.00"
    assert format_money_for("45600", "CNY", "zh-Hans") == "¥45,600.00"
    assert format_money_for("45600", "USD", "en", compact=True) == "$45,600.00"
