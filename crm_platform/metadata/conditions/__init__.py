"""The condition language: one JSON tree, evaluated in Python or compiled to SQL, alike.

A condition is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a
comparison ``{"field": ..., "op": ..., "value": ...}`` (shape in
``common.schema.json#/$defs/condition``). Values may be context references:
``$user.id``, ``$user.unit``, ``$user.units`` (every unit of the user; inside
in / not_in lists and as the unit of in_unit_subtree), ``$record.<field>``
(another field of the same record; with eq, ne, gt, gte, lt, lte, between) and
``$today`` (midnight UTC when compared with a date-time).

Empty values, decided once for both the evaluator and the SQL compiler:

- A field is *empty* when it is NULL/None; for string-stored types (text,
  long_text, email, phone, url, region, uscc, choice) also when it is ``""``; for
  multi_choice also when the array is empty (or JSON ``null``).
- Every positive comparison (eq, in, gt, gte, lt, lte, between, contains,
  starts_with, in_unit_subtree) is false when the field, or a ``$record``
  operand, is NULL. The SQL adds ``IS NOT NULL`` guards, so no comparison is ever
  SQL NULL and three-valued logic never reaches ``not`` / ``all`` / ``any``.
- ne, not_in and is_not_empty are exactly the negation of eq, in and is_empty:
  "status ne closed" matches records whose status is empty, as a user filtering
  a list expects. ``eq null`` means is_empty and ``ne null`` is_not_empty.

Other decisions:

- contains and starts_with fold ASCII letters only (A-Z to a-z); everything
  else, including Chinese and accented letters, matches exactly, identically on
  SQLite, PostgreSQL and in Python.
- On multi_choice, eq and contains mean "has this option", in "has any of these
  options", ne / not_in their negations.
- Operands are coerced to the field's type (ISO strings to dates and
  date-times, numbers to Decimal for decimal, money and percent); date-times
  compare in UTC, a naive one being taken as UTC.

A condition that names an unknown field, uses an operator on a type it does not
fit, has a value of the wrong type, or needs a context value that is not there
raises `ConditionError` with the JSON pointer of the offending part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.conditions.binding import ConditionContext as ConditionContext
from crm_platform.metadata.conditions.binding import bind
from crm_platform.metadata.conditions.binding import iter_problems as iter_problems
from crm_platform.metadata.conditions.compiler import compile_bound
from crm_platform.metadata.conditions.evaluation import evaluate_bound
from crm_platform.metadata.conditions.operators import FIELD_TYPES as FIELD_TYPES
from crm_platform.metadata.conditions.operators import OPERATORS as OPERATORS
from crm_platform.metadata.conditions.operators import ORDERED_TYPES as ORDERED_TYPES
from crm_platform.metadata.conditions.operators import TEXT_TYPES as TEXT_TYPES
from crm_platform.metadata.conditions.operators import OperandShape as OperandShape
from crm_platform.metadata.conditions.operators import Operator as Operator
from crm_platform.metadata.conditions.tree import ConditionError as ConditionError
from crm_platform.metadata.conditions.tree import ContextRef as ContextRef
from crm_platform.metadata.conditions.tree import context_ref as context_ref
from crm_platform.metadata.conditions.tree import iter_comparisons as iter_comparisons
from crm_platform.metadata.conditions.tree import iter_value_refs as iter_value_refs
from crm_platform.metadata.conditions.tree import referenced_fields as referenced_fields


def evaluate(
    condition: Any,
    record: Mapping[str, Any],
    field_types: Mapping[str, str],
    context: ConditionContext,
) -> bool:
    """True when `record` (field key -> Python value, None when empty) satisfies `condition`."""
    return evaluate_bound(bind(condition, field_types, context), record, field_types, context)


def compile_condition(
    condition: Any,
    columns: Mapping[str, ColumnElement[Any]],
    field_types: Mapping[str, str],
    context: ConditionContext,
    closure: Table | None = None,
) -> ColumnElement[bool]:
    """`condition` as a SQLAlchemy boolean expression over `columns` (field key -> column).

    in_unit_subtree reads `closure` (default: the platform's ``org_unit_closure``).
    The expression is never NULL, so it can be negated or combined freely.
    """
    if closure is None:
        from crm_platform.metadata.tables import OrgUnitClosure

        closure = OrgUnitClosure.__table__  # type: ignore[assignment]
    assert closure is not None
    return compile_bound(bind(condition, field_types, context), columns, closure)
