"""The condition language: tree walking, operator registry, evaluator, context references."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import crm_platform.metadata as metadata_package
from crm_platform.metadata.conditions import (
    OPERATORS,
    ConditionContext,
    ConditionError,
    evaluate,
    iter_comparisons,
    iter_problems,
    referenced_fields,
)
from crm_platform.metadata.errors import MetadataError

FIELDS = {
    "name": "text",
    "notes": "long_text",
    "employees": "integer",
    "revenue": "money",
    "budget": "money",
    "discount": "percent",
    "active": "boolean",
    "founded": "date",
    "signed_on": "date",
    "last_contact": "datetime",
    "level": "choice",
    "product_lines": "multi_choice",
    "parent": "reference",
    "owner": "user",
    "unit": "org_unit",
    "email": "email",
    "region": "region",
}

TREE = {1: frozenset({1, 2, 3, 4}), 2: frozenset({2, 3}), 3: frozenset({3}), 4: frozenset({4})}
CONTEXT = ConditionContext(
    user_id=7, unit_id=2, unit_ids=(2, 4), today=date(2026, 3, 15), subtree=TREE.__getitem__
)


def check(condition: dict, record: dict, context: ConditionContext = CONTEXT) -> bool:
    return evaluate(condition, record, FIELDS, context)


# The tree ----------------------------------------------------------------------------------------


def test_iter_comparisons_yields_pointers_under_the_given_prefix():
    condition = {
        "all": [
            {"field": "name", "op": "eq", "value": "x"},
            {"any": [{"not": {"field": "level", "op": "is_empty"}}]},
        ]
    }
    assert list(iter_comparisons(condition, "/condition")) == [
        ("/condition/all/0", {"field": "name", "op": "eq", "value": "x"}),
        ("/condition/all/1/any/0/not", {"field": "level", "op": "is_empty"}),
    ]


def test_iter_comparisons_rejects_a_malformed_group_with_its_pointer():
    with pytest.raises(ConditionError) as caught:
        list(iter_comparisons({"all": [{"either": []}]}, "/filter"))
    assert caught.value.pointer == "/filter/all/0/either"


def test_referenced_fields_include_record_references():
    condition = {
        "any": [
            {"field": "revenue", "op": "gt", "value": "$record.budget"},
            {"field": "owner", "op": "eq", "value": "$user.id"},
            {"field": "signed_on", "op": "between", "value": ["$record.founded", "$today"]},
        ]
    }
    assert referenced_fields(condition) == {"revenue", "budget", "owner", "signed_on", "founded"}


# The registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "field_type", "accepted"),
    [
        ("gt", "integer", True),
        ("gt", "date", True),
        ("gt", "text", False),
        ("between", "money", True),
        ("between", "choice", False),
        ("contains", "text", True),
        ("contains", "multi_choice", True),
        ("contains", "integer", False),
        ("starts_with", "email", True),
        ("starts_with", "multi_choice", False),
        ("in_unit_subtree", "org_unit", True),
        ("in_unit_subtree", "user", False),
        ("is_empty", "boolean", True),
        ("in", "boolean", False),
        ("eq", "multi_choice", True),
    ],
)
def test_operator_accepts_only_fitting_field_types(op, field_type, accepted):
    assert OPERATORS[op].accepts(field_type) is accepted


def test_every_schema_operator_is_registered():
    schema_path = Path(metadata_package.__file__).parent / "schemas" / "common.schema.json"
    schema = json.loads(schema_path.read_text())
    assert set(OPERATORS) == set(schema["$defs"]["comparison"]["properties"]["op"]["enum"])


# The evaluator, operator by operator ------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "record", "expected"),
    [
        ({"field": "level", "op": "eq", "value": "gold"}, {"level": "gold"}, True),
        ({"field": "level", "op": "eq", "value": "gold"}, {"level": "silver"}, False),
        ({"field": "level", "op": "eq", "value": "gold"}, {"level": None}, False),
        ({"field": "level", "op": "ne", "value": "gold"}, {"level": "silver"}, True),
        ({"field": "level", "op": "ne", "value": "gold"}, {"level": None}, True),
        ({"field": "level", "op": "ne", "value": "gold"}, {"level": "gold"}, False),
        ({"field": "level", "op": "eq", "value": None}, {"level": ""}, True),
        ({"field": "level", "op": "ne", "value": None}, {"level": ""}, False),
        ({"field": "level", "op": "in", "value": ["gold", "vip"]}, {"level": "vip"}, True),
        ({"field": "level", "op": "in", "value": ["gold", "vip"]}, {"level": None}, False),
        ({"field": "level", "op": "not_in", "value": ["gold", "vip"]}, {"level": None}, True),
        ({"field": "level", "op": "not_in", "value": ["gold"]}, {"level": "gold"}, False),
        ({"field": "employees", "op": "gt", "value": 10}, {"employees": 11}, True),
        ({"field": "employees", "op": "gt", "value": 10}, {"employees": 10}, False),
        ({"field": "employees", "op": "gt", "value": 10}, {"employees": None}, False),
        ({"field": "employees", "op": "gte", "value": 10}, {"employees": 10}, True),
        ({"field": "employees", "op": "lt", "value": 10}, {"employees": 9}, True),
        ({"field": "employees", "op": "lte", "value": 10}, {"employees": 11}, False),
        ({"field": "employees", "op": "eq", "value": "12"}, {"employees": 12}, True),
        ({"field": "revenue", "op": "between", "value": [10, 20.5]}, {"revenue": 20.5}, True),
        ({"field": "revenue", "op": "between", "value": [10, 20]}, {"revenue": 9.99}, False),
        (
            {"field": "revenue", "op": "gt", "value": "100.10"},
            {"revenue": {"amount": Decimal("100.11"), "currency": "CNY"}},
            True,
        ),
        (
            {"field": "founded", "op": "lt", "value": "2000-01-01"},
            {"founded": date(1999, 5, 1)},
            True,
        ),
        ({"field": "active", "op": "eq", "value": True}, {"active": True}, True),
        ({"field": "active", "op": "eq", "value": False}, {"active": None}, False),
        ({"field": "active", "op": "ne", "value": True}, {"active": None}, True),
        ({"field": "name", "op": "contains", "value": "ACME"}, {"name": "Big acme Ltd"}, True),
        ({"field": "name", "op": "contains", "value": "é"}, {"name": "CAFÉ"}, False),
        ({"field": "name", "op": "contains", "value": "华"}, {"name": "中华制造"}, True),
        ({"field": "name", "op": "contains", "value": "50%"}, {"name": "5000"}, False),
        ({"field": "name", "op": "starts_with", "value": "big"}, {"name": "Big acme"}, True),
        ({"field": "name", "op": "starts_with", "value": "acme"}, {"name": "Big acme"}, False),
        ({"field": "email", "op": "starts_with", "value": "a"}, {"email": None}, False),
        ({"field": "name", "op": "is_empty"}, {"name": ""}, True),
        ({"field": "name", "op": "is_empty"}, {}, True),
        ({"field": "name", "op": "is_not_empty"}, {"name": " "}, True),
        ({"field": "employees", "op": "is_empty"}, {"employees": 0}, False),
        ({"field": "active", "op": "is_empty"}, {"active": False}, False),
        ({"field": "product_lines", "op": "is_empty"}, {"product_lines": []}, True),
        ({"field": "product_lines", "op": "is_not_empty"}, {"product_lines": ["pumps"]}, True),
        (
            {"field": "product_lines", "op": "contains", "value": "pumps"},
            {"product_lines": ["valves", "pumps"]},
            True,
        ),
        (
            {"field": "product_lines", "op": "eq", "value": "pumps"},
            {"product_lines": ["valves"]},
            False,
        ),
        (
            {"field": "product_lines", "op": "in", "value": ["pumps", "cranes"]},
            {"product_lines": ["cranes"]},
            True,
        ),
        (
            {"field": "product_lines", "op": "not_in", "value": ["pumps", "cranes"]},
            {"product_lines": None},
            True,
        ),
        ({"field": "unit", "op": "in_unit_subtree", "value": 2}, {"unit": 3}, True),
        ({"field": "unit", "op": "in_unit_subtree", "value": 2}, {"unit": 4}, False),
        ({"field": "unit", "op": "in_unit_subtree", "value": 1}, {"unit": None}, False),
        ({"field": "parent", "op": "eq", "value": 5}, {"parent": 5}, True),
        ({"field": "region", "op": "starts_with", "value": "44"}, {"region": "440300"}, True),
    ],
)
def test_operator_evaluates_record(comparison, record, expected):
    assert check(comparison, record) is expected


def test_datetime_values_compare_in_utc():
    condition = {"field": "last_contact", "op": "gte", "value": "2026-03-15T08:00:00+08:00"}
    assert check(condition, {"last_contact": datetime(2026, 3, 15, 0, 0, tzinfo=UTC)})
    assert check(condition, {"last_contact": datetime(2026, 3, 15, 0, 0)})  # noqa: DTZ001 - naive is UTC
    assert not check(condition, {"last_contact": datetime(2026, 3, 14, 23, 59, tzinfo=UTC)})


def test_groups_combine_and_negate():
    condition = {
        "all": [
            {"field": "active", "op": "eq", "value": True},
            {
                "any": [
                    {"field": "level", "op": "eq", "value": "gold"},
                    {"not": {"field": "employees", "op": "lt", "value": 100}},
                ]
            },
        ]
    }
    assert check(condition, {"active": True, "level": "gold", "employees": 5})
    assert check(condition, {"active": True, "level": None, "employees": 100})
    assert check(condition, {"active": True, "level": None, "employees": None})
    assert not check(condition, {"active": True, "level": "silver", "employees": 99})
    assert not check(condition, {"active": False, "level": "gold"})


# Context references ------------------------------------------------------------------------------


def test_user_id_reference_matches_the_owner():
    condition = {"field": "owner", "op": "eq", "value": "$user.id"}
    assert check(condition, {"owner": 7})
    assert not check(condition, {"owner": 8})


def test_user_unit_reference_matches_the_unit():
    assert check({"field": "unit", "op": "eq", "value": "$user.unit"}, {"unit": 2})


def test_user_units_reference_expands_inside_a_list():
    condition = {"field": "unit", "op": "in", "value": ["$user.units", 9]}
    assert [check(condition, {"unit": unit}) for unit in (2, 4, 9, 3)] == [True, True, True, False]


def test_in_unit_subtree_of_user_units_covers_every_subtree():
    condition = {"field": "unit", "op": "in_unit_subtree", "value": "$user.units"}
    assert [check(condition, {"unit": unit}) for unit in (2, 3, 4, 1)] == [True, True, True, False]


def test_record_reference_compares_two_fields():
    condition = {"field": "revenue", "op": "gt", "value": "$record.budget"}
    assert check(condition, {"revenue": Decimal("10"), "budget": Decimal("9.5")})
    assert not check(condition, {"revenue": Decimal("10"), "budget": None})
    assert check({"not": condition}, {"revenue": Decimal("10"), "budget": None})


def test_record_reference_inside_between():
    condition = {"field": "signed_on", "op": "between", "value": ["$record.founded", "$today"]}
    assert check(condition, {"signed_on": date(2020, 1, 1), "founded": date(2019, 1, 1)})
    assert not check(condition, {"signed_on": date(2026, 3, 16), "founded": date(2019, 1, 1)})


def test_today_reference_uses_the_context_date():
    condition = {"field": "founded", "op": "eq", "value": "$today"}
    assert check(condition, {"founded": date(2026, 3, 15)})


def test_today_reference_defaults_to_the_current_date():
    condition = {"field": "founded", "op": "eq", "value": "$today"}
    assert evaluate(condition, {"founded": date.today()}, FIELDS, ConditionContext())  # noqa: DTZ011


def test_today_against_a_datetime_means_midnight_utc():
    condition = {"field": "last_contact", "op": "gte", "value": "$today"}
    assert check(condition, {"last_contact": datetime(2026, 3, 15, 0, 0, tzinfo=UTC)})
    assert not check(condition, {"last_contact": datetime(2026, 3, 14, 23, 0, tzinfo=UTC)})


# Errors ------------------------------------------------------------------------------------------


def test_unknown_field_raises_with_pointer():
    condition = {"all": [{"field": "level", "op": "is_empty"}, {"field": "tier", "op": "is_empty"}]}
    with pytest.raises(ConditionError) as caught:
        check(condition, {})
    assert caught.value.pointer == "/all/1/field"
    assert caught.value.reason == "condition.unknown_field"
    assert "tier" in str(caught.value)
    assert isinstance(caught.value, MetadataError)


def test_unknown_record_reference_raises_with_pointer():
    condition = {"field": "revenue", "op": "gt", "value": "$record.cost"}
    with pytest.raises(ConditionError) as caught:
        check(condition, {})
    assert caught.value.pointer == "/value"
    assert caught.value.reason == "condition.unknown_field"


def test_missing_user_raises_context_unavailable():
    condition = {"not": {"field": "owner", "op": "eq", "value": "$user.id"}}
    with pytest.raises(ConditionError) as caught:
        evaluate(condition, {"owner": 1}, FIELDS, ConditionContext())
    assert caught.value.pointer == "/not/value"
    assert caught.value.reason == "condition.context_unavailable"


def test_missing_subtree_function_raises_context_unavailable():
    condition = {"field": "unit", "op": "in_unit_subtree", "value": 1}
    with pytest.raises(ConditionError) as caught:
        evaluate(condition, {"unit": 1}, FIELDS, ConditionContext())
    assert caught.value.reason == "condition.context_unavailable"


def test_user_units_in_a_single_value_operator_is_refused():
    with pytest.raises(ConditionError, match="use in or not_in"):
        check({"field": "unit", "op": "eq", "value": "$user.units"}, {})


def test_operator_on_wrong_type_is_refused():
    with pytest.raises(ConditionError) as caught:
        check({"field": "name", "op": "gt", "value": "a"}, {})
    assert caught.value.pointer == "/op"
    assert caught.value.reason == "condition.operator_mismatch"


def test_value_of_wrong_type_is_refused():
    with pytest.raises(ConditionError) as caught:
        check({"field": "founded", "op": "in", "value": ["2020-01-01", "soon"]}, {})
    assert caught.value.pointer == "/value/1"
    assert caught.value.reason == "condition.bad_value"


def test_record_reference_to_another_kind_of_field_is_refused():
    with pytest.raises(ConditionError) as caught:
        check({"field": "founded", "op": "lt", "value": "$record.employees"}, {})
    assert caught.value.reason == "condition.incompatible_fields"


def test_iter_problems_lists_every_problem_without_a_context():
    condition = {
        "any": [
            {"field": "owner", "op": "eq", "value": "$user.id"},
            {"field": "tier", "op": "eq", "value": "x"},
            {"field": "name", "op": "between", "value": ["a", "b"]},
            {"field": "active", "op": "eq", "value": "yes"},
        ]
    }
    problems = list(iter_problems(condition, FIELDS, "/condition"))
    assert [(p.pointer, p.reason) for p in problems] == [
        ("/condition/any/1/field", "condition.unknown_field"),
        ("/condition/any/2/op", "condition.operator_mismatch"),
        ("/condition/any/3/value", "condition.bad_value"),
    ]
