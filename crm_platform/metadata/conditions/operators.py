"""The registry of condition operators: the field types each fits, how it tests and compiles.

Every operator is one `Operator` holding two small functions with a fixed
signature: `test` decides one record in Python, `clause` builds the SQL for a
whole table. Keeping both side by side is what keeps them in agreement; the
property test in ``tests/metadata/test_conditions_property.py`` checks that they do.

Both functions receive values already bound: the field's value (or column) and
the operands, coerced to the field's Python type and with context references
resolved. A `test` never sees SQL; a `clause` never returns NULL.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Table, and_, false, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.conditions.sql import (
    ascii_lower,
    json_array_has_any,
    json_array_is_not_empty,
)
from crm_platform.metadata.conditions.tree import ConditionError
from crm_platform.metadata.field_types import FIELD_TYPES as _TYPE_REGISTRY

# Which types are ordered or free text is the field type registry's to say.
FIELD_TYPES: frozenset[str] = frozenset(_TYPE_REGISTRY)
"""Every field type key."""
ORDERED_TYPES: frozenset[str] = frozenset(k for k, t in _TYPE_REGISTRY.items() if t.ordered)
"""Types gt, gte, lt, lte and between apply to."""
TEXT_TYPES: frozenset[str] = frozenset(k for k, t in _TYPE_REGISTRY.items() if t.textual)
"""Free text types: contains and starts_with apply, and an empty string counts as empty."""
STRING_TYPES: frozenset[str] = frozenset(
    k for k, t in _TYPE_REGISTRY.items() if t.value_kind in ("text", "choice")
)
"""Types stored as a string column, where an empty string counts as empty."""
NUMERIC_TYPES: frozenset[str] = frozenset(
    k for k, t in _TYPE_REGISTRY.items() if t.value_kind in ("integer", "decimal")
)
"""Types whose values are numbers (money compares its amount)."""
MULTI_CHOICE = "multi_choice"

_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class OperandShape(Enum):
    """What an operator's `value` looks like in the condition document."""

    NONE = "none"  # is_empty: no value
    ONE = "one"  # eq: one scalar
    LIST = "list"  # in: a non-empty list
    PAIR = "pair"  # between: [low, high]


@dataclass(frozen=True)
class EvalEnv:
    """What a `test` may need beyond the values: the org subtree function, and where it is."""

    pointer: str
    subtree: Callable[[int], frozenset[int]] | None


@dataclass(frozen=True)
class SqlEnv:
    """What a `clause` may need beyond the column: the org closure table."""

    pointer: str
    closure: Table


TestFn = Callable[[str, Any, Sequence[Any], EvalEnv], bool]
ClauseFn = Callable[[str, ColumnElement[Any], Sequence[Any], SqlEnv], ColumnElement[bool]]


@dataclass(frozen=True)
class Operator:
    """One comparison operator.

    `field_refs` says whether ``$record.<field>`` may stand for an operand;
    `multi_valued_refs` whether ``$user.units`` may (it expands to every unit).
    """

    name: str
    applies_to: frozenset[str]
    operand: OperandShape
    test: TestFn
    clause: ClauseFn
    field_refs: bool = False
    multi_valued_refs: bool = False

    def accepts(self, field_type: str) -> bool:
        """True when the operator may be used on a field of `field_type`."""
        return field_type in self.applies_to


def fold_case(text: str) -> str:
    """Fold A-Z to a-z only, exactly as the SQL side does (see `sql.ascii_lower`)."""
    return text.translate(_FOLD)


def _present(column: ColumnElement[Any], operands: Sequence[Any]) -> list[ColumnElement[bool]]:
    # Guards that make a comparison FALSE, never NULL, when a side is empty.
    guards: list[ColumnElement[bool]] = [column.is_not(None)]
    guards.extend(o.is_not(None) for o in operands if isinstance(o, ColumnElement))
    return guards


def _negated_test(test: TestFn) -> TestFn:
    def negated(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
        return not test(field_type, value, operands, env)

    return negated


def _negated_clause(clause: ClauseFn) -> ClauseFn:
    def negated(
        field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
    ) -> ColumnElement[bool]:
        return not_(clause(field_type, column, operands, env))

    return negated


# eq / in --------------------------------------------------------------------------------------


def _eq_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    (operand,) = operands
    if value is None or operand is None:
        return False
    if field_type == MULTI_CHOICE:
        return operand in value
    return bool(value == operand)


def _eq_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    (operand,) = operands
    if field_type == MULTI_CHOICE:
        return json_array_has_any(column, [operand])
    return and_(*_present(column, operands), column == operand)


def _in_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    return any(_eq_test(field_type, value, (operand,), env) for operand in operands)


def _in_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    if not operands:
        return false()
    if field_type == MULTI_CHOICE:
        return json_array_has_any(column, list(operands))
    return and_(column.is_not(None), column.in_(list(operands)))


# ordering ---------------------------------------------------------------------------------------

_Compare = Callable[[Any, Any], bool]


def _ordering(compare: _Compare, sql_compare: Callable[[Any, Any], Any]) -> tuple[TestFn, ClauseFn]:
    def test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
        (operand,) = operands
        return value is not None and operand is not None and compare(value, operand)

    def clause(
        field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
    ) -> ColumnElement[bool]:
        (operand,) = operands
        return and_(*_present(column, operands), sql_compare(column, operand))

    return test, clause


def _between_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    low, high = operands
    if value is None or low is None or high is None:
        return False
    return bool(low <= value <= high)


def _between_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    low, high = operands
    return and_(*_present(column, operands), column >= low, column <= high)


# text -------------------------------------------------------------------------------------------


def _contains_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    (operand,) = operands
    if value is None:
        return False
    if field_type == MULTI_CHOICE:
        return operand in value
    return fold_case(operand) in fold_case(value)


def _contains_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    (operand,) = operands
    if field_type == MULTI_CHOICE:
        return json_array_has_any(column, [operand])
    folded = ascii_lower(column)
    return and_(column.is_not(None), folded.contains(fold_case(operand), autoescape=True))


def _starts_with_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    (operand,) = operands
    return value is not None and fold_case(value).startswith(fold_case(operand))


def _starts_with_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    (operand,) = operands
    folded = ascii_lower(column)
    return and_(column.is_not(None), folded.startswith(fold_case(operand), autoescape=True))


# emptiness --------------------------------------------------------------------------------------


def _is_empty_test(field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv) -> bool:
    if value is None:
        return True
    if field_type in STRING_TYPES or field_type == MULTI_CHOICE:
        return len(value) == 0
    return False


def _is_empty_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    if field_type == MULTI_CHOICE:
        return not_(json_array_is_not_empty(column))
    if field_type in STRING_TYPES:
        return or_(column.is_(None), column == "")
    return column.is_(None)


# org subtree ------------------------------------------------------------------------------------


def _in_unit_subtree_test(
    field_type: str, value: Any, operands: Sequence[Any], env: EvalEnv
) -> bool:
    if value is None:
        return False
    if env.subtree is None:
        raise ConditionError(
            env.pointer,
            "in_unit_subtree needs the org tree; pass ConditionContext(subtree=...) to evaluate it",
            "condition.context_unavailable",
        )
    subtree = env.subtree
    return any(value in subtree(unit) for unit in operands if unit is not None)


def _in_unit_subtree_clause(
    field_type: str, column: ColumnElement[Any], operands: Sequence[Any], env: SqlEnv
) -> ColumnElement[bool]:
    units = [unit for unit in operands if unit is not None]
    if not units:
        return false()
    closure = env.closure
    ancestor = closure.c.ancestor_id
    # One unit is the hot path (subtree scope): keep it the plain `ancestor_id = :unit`.
    descendants = select(closure.c.descendant_id).where(
        ancestor == units[0] if len(units) == 1 else ancestor.in_(units)
    )
    return and_(column.is_not(None), column.in_(descendants.scalar_subquery()))


_gt = _ordering(lambda a, b: a > b, lambda c, v: c > v)
_gte = _ordering(lambda a, b: a >= b, lambda c, v: c >= v)
_lt = _ordering(lambda a, b: a < b, lambda c, v: c < v)
_lte = _ordering(lambda a, b: a <= b, lambda c, v: c <= v)

_ALL_TYPES = FIELD_TYPES
_LISTABLE = FIELD_TYPES - {"boolean"}

_REGISTRY = (
    Operator("eq", _ALL_TYPES, OperandShape.ONE, _eq_test, _eq_clause, field_refs=True),
    Operator(
        "ne",
        _ALL_TYPES,
        OperandShape.ONE,
        _negated_test(_eq_test),
        _negated_clause(_eq_clause),
        field_refs=True,
    ),
    Operator("in", _LISTABLE, OperandShape.LIST, _in_test, _in_clause, multi_valued_refs=True),
    Operator(
        "not_in",
        _LISTABLE,
        OperandShape.LIST,
        _negated_test(_in_test),
        _negated_clause(_in_clause),
        multi_valued_refs=True,
    ),
    Operator("gt", ORDERED_TYPES, OperandShape.ONE, *_gt, field_refs=True),
    Operator("gte", ORDERED_TYPES, OperandShape.ONE, *_gte, field_refs=True),
    Operator("lt", ORDERED_TYPES, OperandShape.ONE, *_lt, field_refs=True),
    Operator("lte", ORDERED_TYPES, OperandShape.ONE, *_lte, field_refs=True),
    Operator(
        "between", ORDERED_TYPES, OperandShape.PAIR, _between_test, _between_clause, field_refs=True
    ),
    Operator(
        "contains",
        TEXT_TYPES | {MULTI_CHOICE},
        OperandShape.ONE,
        _contains_test,
        _contains_clause,
    ),
    Operator("starts_with", TEXT_TYPES, OperandShape.ONE, _starts_with_test, _starts_with_clause),
    Operator("is_empty", _ALL_TYPES, OperandShape.NONE, _is_empty_test, _is_empty_clause),
    Operator(
        "is_not_empty",
        _ALL_TYPES,
        OperandShape.NONE,
        _negated_test(_is_empty_test),
        _negated_clause(_is_empty_clause),
    ),
    Operator(
        "in_unit_subtree",
        frozenset({"org_unit"}),
        OperandShape.ONE,
        _in_unit_subtree_test,
        _in_unit_subtree_clause,
        multi_valued_refs=True,
    ),
)

OPERATORS: Mapping[str, Operator] = {operator.name: operator for operator in _REGISTRY}
"""Every condition operator by name (the `op` of a comparison)."""
