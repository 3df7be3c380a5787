"""A list column's formatter writes each value exactly as `fields.display` writes it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel

from blueprints.fields import DISPLAY, Lookups, Show, display
from blueprints.i18n import LANGUAGES
from blueprints.presenting import column_formatter
from crm_platform.metadata.field_types import FIELD_TYPES
from crm_platform.metadata.model import FieldDef

OPTIONS = [
    {"key": "won", "label": {"en": "Won", "zh-Hans": "赢单", "zh-Hant": "贏單"}},
    {"key": "lost", "label": {"en": "Lost"}},
]

SAMPLES: dict[str, list[Any]] = {
    "text": ["Acme <b>Ltd</b>", 42],
    "long_text": ["line one\nline two"],
    "email": ["li@acme.cn"],
    "phone": ["+8613800138000"],
    "url": ["https://acme.cn/a?b=1"],
    "uscc": ["91350100M000100Y43"],
    "integer": [0, 1234567, -5],
    "decimal": [Decimal("1234.5678"), "0.5"],
    "percent": [Decimal("12.5")],
    "money": [Decimal("88000"), {"amount": Decimal("12.3"), "currency": "USD"}],
    "boolean": [True, False],
    "date": [date(2026, 3, 9), "2026-12-31", datetime(2026, 1, 2, 23, 0, tzinfo=UTC)],
    "datetime": [
        datetime(2026, 3, 9, 1, 30, tzinfo=UTC),
        datetime(2026, 7, 1, 16, 5, 7),  # noqa: DTZ001 - naive values are shown as UTC
        "2026-03-09T23:59:59+00:00",
    ],
    "choice": ["won", "lost", "unknown"],
    "multi_choice": [["won", "lost"], ["won", "gone"]],
    "reference": [3, 9],
    "user": [5, 6],
    "org_unit": [7, 8],
    "region": ["110101", "440305", "999999"],
}
"""Stored values of every field type, including ones no lookup or option names."""

EMPTY: list[Any] = [None, "", []]


def _field(type_: str) -> FieldDef:
    extra: dict[str, Any] = {}
    if type_ in ("choice", "multi_choice"):
        extra["options"] = OPTIONS
    if type_ == "reference":
        extra["target"] = "customer"
    if type_ in ("decimal", "percent"):
        extra["scale"] = 2
    return FieldDef.from_document({"key": "f", "label": {"en": "F"}, "type": type_, **extra})


def _show(language: str) -> Show:
    return Show(
        language,
        "Asia/Shanghai",
        Lookups(titles={("customer", 3): "Acme"}, users={5: "Li Lei"}, units={7: "Branch A"}),
    )


def test_every_field_type_has_samples() -> None:
    assert set(SAMPLES) == set(FIELD_TYPES) == set(DISPLAY)


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("level", ["edit", "read", "masked"])
def test_column_formatter_writes_what_display_writes(language: str, level: str) -> None:
    app = Flask(__name__)
    Babel(app)  # booleans are shown as translated words
    with app.test_request_context():
        for type_, samples in SAMPLES.items():
            field_def, show = _field(type_), _show(language)
            write = column_formatter(show, field_def, level)
            for value in [*samples, *EMPTY]:
                assert write(value) == display(value, field_def, show, level), (type_, value)


def test_names_looked_up_after_the_formatter_was_built_are_used() -> None:
    # The page builds its formatters before or after resolving names; both must work.
    show = Show("en", "UTC", Lookups())
    write = column_formatter(show, _field("user"), "read")
    show.lookups.users[5] = "Li Lei"
    assert write(5) == "Li Lei"
