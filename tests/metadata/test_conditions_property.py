"""Property: for random conditions and records, the SQL compiler and the evaluator agree exactly."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_platform.metadata.conditions import OPERATORS, ConditionContext, OperandShape
from tests.metadata.condition_tables import (
    create_condition_fixture,
    evaluated_ids,
    replace_records,
    selected_ids,
    subtree,
)

# The typed columns the property ranges over (a subset of the fixture table's fields).
PROPERTY_FIELDS = {
    "name": "text",
    "employees": "integer",
    "amount": "decimal",
    "budget": "money",
    "active": "boolean",
    "founded": "date",
    "signed_on": "date",
    "level": "choice",
    "tags": "multi_choice",
    "unit": "org_unit",
}
# Fields whose values may be compared with each other through $record.<field>.
COMPARABLE = {
    "employees": ["amount", "budget"],
    "amount": ["budget", "employees"],
    "budget": ["amount"],
    "founded": ["signed_on"],
    "signed_on": ["founded"],
    "name": ["level"],
    "level": ["name"],
    "active": [],
    "tags": [],
    "unit": [],
}
TODAY = date(2024, 1, 5)
CONTEXT = ConditionContext(user_id=1, unit_id=2, unit_ids=(2, 6), today=TODAY, subtree=subtree)

# Upper and lower case, accents, CJK and the LIKE metacharacters, so folding and escaping count.
_text = st.text(alphabet="aAbé É中%_/ ", max_size=4)
_dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 1, 9))
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": _text,
    "integer": st.integers(min_value=-3, max_value=3),
    "decimal": st.decimals(min_value=-3, max_value=3, places=2),
    "money": st.decimals(min_value=-3, max_value=3, places=1),
    "boolean": st.booleans(),
    "date": _dates,
    "choice": st.sampled_from(["", "a", "b", "c"]),
    "multi_choice": st.sampled_from(["x", "y", "z"]),
    "org_unit": st.integers(min_value=1, max_value=6),
}
_CONTEXT_VALUES: dict[str, list[str]] = {
    "date": ["$today"],
    "org_unit": ["$user.unit"],
}


def _literal(field_type: str) -> st.SearchStrategy[Any]:
    values = _VALUES[field_type].map(lambda v: v.isoformat() if isinstance(v, date) else v)
    refs = _CONTEXT_VALUES.get(field_type, [])
    return st.one_of(values, st.sampled_from(refs)) if refs else values


# Short needles, so contains / starts_with often hit and case folding and escaping matter.
_needle = st.sampled_from(["a", "A", "b", "aA", "é", "É", "%", "_", "/", "中", "", " ", "a%", "A_"])


def _single(field: str, field_type: str, op_name: str) -> st.SearchStrategy[Any]:
    operator = OPERATORS[op_name]
    text_search = op_name in ("contains", "starts_with") and field_type == "text"
    choices = [_needle if text_search else _literal(field_type)]
    if operator.field_refs and COMPARABLE[field]:
        choices.append(st.sampled_from([f"$record.{other}" for other in COMPARABLE[field]]))
    if operator.multi_valued_refs:
        choices.append(st.just("$user.units"))
    return st.one_of(*choices)


@st.composite
def comparisons(draw: st.DrawFn) -> dict[str, Any]:
    # Operator first, so rarely applicable ones (starts_with, in_unit_subtree) get their share.
    op_name = draw(st.sampled_from(sorted(OPERATORS)))
    fitting = [f for f, t in PROPERTY_FIELDS.items() if OPERATORS[op_name].accepts(t)]
    field = draw(st.sampled_from(fitting))
    field_type = PROPERTY_FIELDS[field]
    shape = OPERATORS[op_name].operand
    comparison: dict[str, Any] = {"field": field, "op": op_name}
    if shape is OperandShape.ONE:
        if op_name in ("eq", "ne") and draw(st.integers(0, 9)) == 0:
            comparison["value"] = None
        else:
            comparison["value"] = draw(_single(field, field_type, op_name))
    elif shape is OperandShape.PAIR:
        item = _single(field, field_type, op_name)
        comparison["value"] = [draw(item), draw(item)]
    elif shape is OperandShape.LIST:
        item = st.one_of(_literal(field_type), st.just("$user.units"))
        if field_type != "org_unit":
            item = _literal(field_type)
        comparison["value"] = draw(st.lists(item, min_size=1, max_size=3))
    return comparison


def conditions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return comparisons()
    child = conditions(depth - 1)
    return st.one_of(
        comparisons(),
        st.lists(child, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(child, min_size=1, max_size=3).map(lambda items: {"any": items}),
        child.map(lambda item: {"not": item}),
    )


_TEXT_ALPHABET = "aAbé É中%_/ "
_RANDOM_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "text": lambda r: "".join(r.choice(_TEXT_ALPHABET) for _ in range(r.randint(0, 4))),
    "integer": lambda r: r.randint(-3, 3),
    "decimal": lambda r: Decimal(r.randint(-300, 300)).scaleb(-2),
    "money": lambda r: Decimal(r.randint(-30, 30)).scaleb(-1),
    "boolean": lambda r: r.random() < 0.5,
    "date": lambda r: date(2024, 1, 1) + timedelta(days=r.randint(0, 8)),
    "choice": lambda r: r.choice(["", "a", "b", "c"]),
    "multi_choice": lambda r: r.sample(["x", "y", "z"], r.randint(0, 3)),
    "org_unit": lambda r: r.randint(1, 6),
}


def random_records(rng: random.Random) -> list[dict[str, Any]]:
    """30 records, about one value in five empty.

    Drawn from one hypothesis-controlled Random rather than value by value:
    hundreds of separate draws per example made data generation the slow part.
    """
    return [
        {"id": record_id}
        | {
            field: None if rng.random() < 0.2 else _RANDOM_VALUES[field_type](rng)
            for field, field_type in PROPERTY_FIELDS.items()
        }
        for record_id in range(1, 31)
    ]


@pytest.fixture
def table(engine):
    return create_condition_fixture(engine)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    condition_list=st.lists(conditions(3), min_size=6, max_size=6),
    rng=st.randoms(use_true_random=False),
    sql_null_tags=st.sets(st.integers(1, 30), max_size=5),
)
def test_compiled_sql_selects_exactly_what_the_evaluator_accepts(
    engine, table, condition_list, rng, sql_null_tags
):
    rows = random_records(rng)
    # Several conditions per set of rows: inserting is the slow part, querying is cheap.
    # Rows whose tags are SQL NULL rather than JSON null must read as empty too.
    null_tags = {i for i in sql_null_tags if rows[i - 1]["tags"] is None}
    with engine.begin() as conn:
        replace_records(conn, table, rows, sql_null_tags=null_tags)
        for condition in condition_list:
            selected = selected_ids(conn, table, condition, CONTEXT)
            assert selected == evaluated_ids(rows, condition, CONTEXT), condition
