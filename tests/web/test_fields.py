"""Field types on screens: reading form input for the record service, showing stored values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from werkzeug.datastructures import MultiDict

from blueprints.fields import WIDGETS, Lookups, Show, display, input_value, read
from crm_platform.metadata.field_types import FIELD_TYPES
from crm_platform.metadata.model import FieldDef

SHANGHAI = "Asia/Shanghai"


def _field(key: str, type_: str, **extra) -> FieldDef:
    return FieldDef.from_document({"key": key, "label": {"en": key}, "type": type_, **extra})


def _read(field: FieldDef, **form) -> object:
    data = MultiDict()
    for key, value in form.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(key, item)
    return read(data, field, SHANGHAI)


def test_every_field_type_has_a_widget() -> None:
    assert set(WIDGETS) == set(FIELD_TYPES)


def test_numbers_parse_when_they_can_and_pass_through_when_not() -> None:
    count = _field("count", "integer")
    assert _read(count, count=" 42 ") == 42
    assert _read(count, count="forty") == "forty"  # the record service reports it
    assert _read(count, count="") is None
    price = _field("price", "decimal")
    assert _read(price, price="1,234.50") == Decimal("1234.50")


def test_money_reads_amount_and_currency() -> None:
    amount = _field("amount", "money")
    assert _read(amount, amount="88,000", amount_currency="usd") == {
        "amount": Decimal("88000"),
        "currency": "USD",
    }
    assert _read(amount, amount="5") == {"amount": Decimal("5"), "currency": "CNY"}
    assert _read(amount, amount=" ") is None


def test_dates_and_wall_clock_times() -> None:
    assert _read(_field("day", "date"), day="2026-03-09") == date(2026, 3, 9)
    assert _read(_field("day", "date"), day="9/3/2026") == "9/3/2026"
    moment = _read(_field("at", "datetime"), at="2026-03-09T09:30")
    assert moment == datetime(2026, 3, 9, 1, 30, tzinfo=UTC)
    assert input_value(moment, _field("at", "datetime"), SHANGHAI) == "2026-03-09T09:30"


def test_choices_booleans_and_codes() -> None:
    tags = _field("tags", "multi_choice", options=[{"key": "a", "label": {"en": "A"}}])
    assert _read(tags, tags=["a", "b"]) == ["a", "b"]
    assert _read(tags) == []
    assert _read(_field("ok", "boolean"), ok="on") is True
    assert _read(_field("ok", "boolean")) is False
    assert _read(_field("code", "uscc"), code=" 91350100000000007x ") == "91350100000000007X"
    assert _read(_field("ref", "reference", target="x"), ref="17") == 17


def test_display_of_stored_values_and_masked_ones() -> None:
    show = Show("en", SHANGHAI, Lookups(titles={("customer", 3): "Acme"}, users={5: "Li"}))
    stage = _field("stage", "choice", options=[{"key": "won", "label": {"en": "Won"}}])
    assert display("won", stage, show) == "Won"
    assert display(3, _field("c", "reference", target="customer"), show) == "Acme"
    assert display(9, _field("c", "reference", target="customer"), show) == "#9"
    assert display(5, _field("u", "user"), show) == "Li"
    assert display("138****5678", _field("m", "phone"), show, "masked") == "138****5678"
    assert display(None, _field("m", "phone"), show) == ""
    assert display("110101", _field("r", "region"), show) == "Beijing / Dongcheng District"
