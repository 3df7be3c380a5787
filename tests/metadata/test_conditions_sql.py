"""Compiled conditions select, on SQLite and PostgreSQL, exactly what the evaluator accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_platform.metadata.conditions import ConditionContext, ConditionError, compile_condition
from tests.metadata.condition_tables import (
    FIELD_TYPES,
    create_condition_fixture,
    evaluated_ids,
    replace_records,
    selected_ids,
    subtree,
)

CONTEXT = ConditionContext(
    user_id=7, unit_id=2, unit_ids=(2, 6), today=date(2026, 3, 15), subtree=subtree
)

RECORDS = [
    {
        "id": 1,
        "name": "Acme Pumps",
        "notes": "50% off",
        "employees": 10,
        "amount": Decimal("100.50"),
        "budget": Decimal("90.00"),
        "active": True,
        "founded": date(2001, 1, 1),
        "signed_on": date(2020, 6, 1),
        "last_contact": datetime(2026, 3, 15, 1, 0, tzinfo=UTC),
        "level": "gold",
        "tags": ["pumps", "valves"],
        "unit": 3,
    },
    {
        "id": 2,
        "name": "CAFÉ 中华",
        "notes": "a_b",
        "employees": 0,
        "amount": Decimal("-2.25"),
        "budget": Decimal("5.00"),
        "active": False,
        "founded": date(2010, 5, 5),
        "signed_on": date(2010, 5, 5),
        "last_contact": datetime(2026, 3, 14, 23, 0, tzinfo=UTC),
        "level": "",
        "tags": [],
        "unit": 6,
    },
    {
        "id": 3,
        "name": "",
        "notes": None,
        "employees": None,
        "amount": None,
        "budget": None,
        "active": None,
        "founded": None,
        "signed_on": None,
        "last_contact": None,
        "level": None,
        "tags": None,  # JSON null
        "unit": None,
    },
    {
        "id": 4,
        "name": None,
        "notes": "",
        "employees": 250,
        "amount": Decimal("100.50"),
        "budget": None,
        "active": True,
        "founded": date(2026, 3, 15),
        "signed_on": None,
        "last_contact": None,
        "level": "silver",
        "tags": None,  # SQL NULL, see below
        "unit": 1,
    },
]


@pytest.fixture
def table(engine):
    table = create_condition_fixture(engine)
    with engine.begin() as conn:
        replace_records(conn, table, RECORDS, sql_null_tags=[4])
    return table


CASES = [
    ({"field": "level", "op": "eq", "value": "gold"}, {1}),
    ({"field": "level", "op": "ne", "value": "gold"}, {2, 3, 4}),
    ({"field": "level", "op": "in", "value": ["gold", "silver"]}, {1, 4}),
    ({"field": "level", "op": "not_in", "value": ["gold", "silver"]}, {2, 3}),
    ({"field": "level", "op": "is_empty"}, {2, 3}),
    ({"field": "level", "op": "eq", "value": None}, {2, 3}),
    ({"field": "name", "op": "is_empty"}, {3, 4}),
    ({"field": "notes", "op": "is_not_empty"}, {1, 2}),
    ({"field": "name", "op": "contains", "value": "acme"}, {1}),
    ({"field": "name", "op": "contains", "value": "é"}, set()),
    ({"field": "name", "op": "contains", "value": "É 中"}, {2}),
    ({"field": "name", "op": "starts_with", "value": "caf"}, {2}),
    ({"field": "notes", "op": "contains", "value": "%"}, {1}),
    ({"field": "notes", "op": "contains", "value": "_"}, {2}),
    ({"field": "notes", "op": "starts_with", "value": "5"}, {1}),
    ({"field": "employees", "op": "gt", "value": 0}, {1, 4}),
    ({"field": "employees", "op": "lte", "value": 10}, {1, 2}),
    ({"field": "employees", "op": "ne", "value": 10}, {2, 3, 4}),
    ({"field": "amount", "op": "eq", "value": "100.5"}, {1, 4}),
    ({"field": "amount", "op": "between", "value": [-3, 0]}, {2}),
    ({"field": "amount", "op": "gt", "value": "$record.budget"}, {1}),
    ({"field": "amount", "op": "lt", "value": "$record.employees"}, {2, 4}),
    ({"not": {"field": "amount", "op": "gt", "value": "$record.budget"}}, {2, 3, 4}),
    ({"field": "active", "op": "eq", "value": True}, {1, 4}),
    ({"field": "active", "op": "ne", "value": True}, {2, 3}),
    ({"field": "active", "op": "is_empty"}, {3}),
    ({"field": "founded", "op": "gte", "value": "2010-05-05"}, {2, 4}),
    ({"field": "founded", "op": "eq", "value": "$today"}, {4}),
    ({"field": "signed_on", "op": "eq", "value": "$record.founded"}, {2}),
    ({"field": "signed_on", "op": "between", "value": ["$record.founded", "$today"]}, {1, 2}),
    ({"field": "last_contact", "op": "gte", "value": "$today"}, {1}),
    ({"field": "last_contact", "op": "lt", "value": "2026-03-15T07:30:00+08:00"}, {2}),
    ({"field": "tags", "op": "contains", "value": "pumps"}, {1}),
    ({"field": "tags", "op": "eq", "value": "valves"}, {1}),
    ({"field": "tags", "op": "in", "value": ["x", "valves"]}, {1}),
    ({"field": "tags", "op": "not_in", "value": ["pumps"]}, {2, 3, 4}),
    ({"field": "tags", "op": "ne", "value": "pumps"}, {2, 3, 4}),
    ({"field": "tags", "op": "is_empty"}, {2, 3, 4}),
    ({"field": "tags", "op": "is_not_empty"}, {1}),
    ({"field": "unit", "op": "in_unit_subtree", "value": 2}, {1}),
    ({"field": "unit", "op": "in_unit_subtree", "value": 1}, {1, 2, 4}),
    ({"field": "unit", "op": "in_unit_subtree", "value": "$user.unit"}, {1}),
    ({"field": "unit", "op": "in_unit_subtree", "value": "$user.units"}, {1, 2}),
    ({"not": {"field": "unit", "op": "in_unit_subtree", "value": 5}}, {1, 3, 4}),
    ({"field": "unit", "op": "in", "value": ["$user.units", 1]}, {2, 4}),
    ({"field": "unit", "op": "eq", "value": "$user.unit"}, set()),
    (
        {
            "any": [
                {
                    "all": [
                        {"field": "active", "op": "eq", "value": True},
                        {"field": "level", "op": "ne", "value": "gold"},
                    ]
                },
                {"not": {"field": "employees", "op": "is_not_empty"}},
            ]
        },
        {3, 4},
    ),
]


def test_compiled_condition_selects_what_the_evaluator_accepts(engine, table):
    # One test per database over every case keeps the suite fast; the failure
    # message lists each case that disagrees.
    wrong = []
    with engine.connect() as conn:
        for condition, expected in CASES:
            selected = selected_ids(conn, table, condition, CONTEXT)
            evaluated = evaluated_ids(RECORDS, condition, CONTEXT)
            if not selected == evaluated == expected:
                wrong.append(f"{condition}: sql {selected}, python {evaluated}, want {expected}")
    assert not wrong, "\n".join(wrong)


def test_compile_refuses_a_field_without_a_column(engine, table):
    with pytest.raises(ConditionError) as caught:
        compile_condition({"all": [{"field": "name", "op": "is_empty"}]}, {}, FIELD_TYPES, CONTEXT)
    assert caught.value.pointer == "/all/0/field"


def test_compile_refuses_a_missing_user(engine, table):
    with pytest.raises(ConditionError) as caught:
        compile_condition(
            {"field": "unit", "op": "eq", "value": "$user.unit"},
            {"unit": table.c.unit},
            FIELD_TYPES,
            ConditionContext(),
        )
    assert caught.value.reason == "condition.context_unavailable"


def test_compiled_multi_choice_statement_is_cached_per_dialect(engine, table):
    # Both dialect branches belong to the cache key: the same shape with another
    # value reuses the compiled form and still binds the new value.
    with engine.connect() as conn:
        for option, expected in (("pumps", {1}), ("valves", {1}), ("none", set())):
            clause = compile_condition(
                {"field": "tags", "op": "contains", "value": option},
                {"tags": table.c.tags},
                FIELD_TYPES,
                CONTEXT,
            )
            assert set(conn.execute(select(table.c.id).where(clause)).scalars()) == expected
