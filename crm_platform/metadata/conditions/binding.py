"""Binding a condition to field types and a context: checked, coerced, references resolved.

The evaluator and the SQL compiler both walk the same bound tree, so every
decision about what a value means (a date string, ``$user.units``, ``null``) is
made once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_platform.metadata.conditions.operators import (
    MULTI_CHOICE,
    NUMERIC_TYPES,
    OPERATORS,
    STRING_TYPES,
    OperandShape,
    Operator,
)
from crm_platform.metadata.conditions.tree import (
    ConditionError,
    ContextRef,
    context_ref,
    is_comparison,
    iter_comparisons,
)


@dataclass(frozen=True)
class ConditionContext:
    """Who evaluates a condition and when: the values context references resolve to.

    `unit_ids` are every unit the user belongs to (``$user.units``); `subtree`
    returns a unit and all its descendants (the evaluator needs it for
    in_unit_subtree; the SQL compiler reads the closure table instead); `today`
    defaults to the current date.
    """

    user_id: int | None = None
    unit_id: int | None = None
    unit_ids: tuple[int, ...] = ()
    today: date | None = None
    subtree: Callable[[int], frozenset[int]] | None = None


@dataclass(frozen=True)
class FieldRef:
    """An operand that is another field of the same record (``$record.<field>``)."""

    field: str


@dataclass(frozen=True)
class BoundComparison:
    """A comparison ready to test or compile: operands coerced, context resolved."""

    pointer: str
    field: str
    field_type: str
    operator: Operator
    operands: tuple[Any, ...]


@dataclass(frozen=True)
class BoundGroup:
    """``all`` (`conjunction` true) or ``any`` over bound children."""

    conjunction: bool
    children: tuple[BoundNode, ...]


@dataclass(frozen=True)
class BoundNot:
    """``not`` over one bound child."""

    child: BoundNode


BoundNode = BoundComparison | BoundGroup | BoundNot

# Placeholders for checking a condition without a real context: right types, any value.
_STATIC_CONTEXT = ConditionContext(user_id=1, unit_id=1, unit_ids=(1,), today=date(2000, 1, 1))


def _family(field_type: str) -> str:
    """Types whose values can be compared with each other (for ``$record.<field>``)."""
    if field_type in NUMERIC_TYPES:
        return "number"
    if field_type in STRING_TYPES:
        return "string"
    return field_type


# Coercion of operands to a field type's Python value --------------------------------------------


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float | Decimal) and raw == int(raw):
        return int(raw)
    if isinstance(raw, str):
        return int(raw.strip())
    raise TypeError("expected a whole number")


def _to_decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(raw, int | float | Decimal | str):
        value = Decimal(str(raw).strip())
        if not value.is_finite():
            raise ValueError("expected a finite number")
        return value
    raise TypeError("expected a number")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise TypeError("expected true or false")


def _to_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        raise TypeError("expected a date without a time")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        return date.fromisoformat(raw)
    raise TypeError("expected a date such as 2024-03-31")


def _to_datetime(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime.combine(raw, time(0, 0))
    elif isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
    else:
        raise TypeError("expected a date-time such as 2024-03-31T08:00:00Z")
    return utc(moment)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive value is taken to be UTC already (as the database stores it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _to_str(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise TypeError("expected a text value")


_COERCERS: Mapping[str, Callable[[Any], Any]] = {
    "integer": _to_int,
    "decimal": _to_decimal,
    "money": _to_decimal,
    "percent": _to_decimal,
    "boolean": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
    "reference": _to_int,
    "user": _to_int,
    "org_unit": _to_int,
    MULTI_CHOICE: _to_str,
    **{field_type: _to_str for field_type in STRING_TYPES},
}


def coerce_operand(field_type: str, raw: Any, pointer: str) -> Any:
    """`raw` as a value of `field_type`; `ConditionError` at `pointer` says what is expected."""
    try:
        return _COERCERS[field_type](raw)
    except (TypeError, ValueError, InvalidOperation) as exc:
        reason = str(exc) if isinstance(exc, TypeError) else "it cannot be read"
        raise ConditionError(
            pointer,
            f"{raw!r} is not a valid {field_type} value ({reason})",
            "condition.bad_value",
        ) from None


# Binding ----------------------------------------------------------------------------------------


def bind(
    condition: Any,
    field_types: Mapping[str, str],
    context: ConditionContext,
    pointer: str = "",
) -> BoundNode:
    """Check `condition` against `field_types` and resolve it in `context`."""
    if not isinstance(condition, Mapping):
        raise ConditionError(
            pointer,
            "expected an object with all, any, not, or field and op",
            "condition.malformed",
        )
    if is_comparison(condition):
        return _bind_comparison(condition, field_types, context, pointer)
    if len(condition) != 1:
        raise ConditionError(
            pointer,
            "a group has exactly one of all, any or not; nest groups to combine them",
            "condition.malformed",
        )
    ((kind, children),) = condition.items()
    if kind == "not":
        return BoundNot(bind(children, field_types, context, f"{pointer}/not"))
    if kind not in ("all", "any") or not isinstance(children, list) or not children:
        raise ConditionError(
            f"{pointer}/{kind}",
            f"{kind!r} is not a condition group; use all or any with a non-empty list, or not",
            "condition.malformed",
        )
    return BoundGroup(
        kind == "all",
        tuple(
            bind(child, field_types, context, f"{pointer}/{kind}/{index}")
            for index, child in enumerate(children)
        ),
    )


def iter_problems(
    condition: Any, field_types: Mapping[str, str], pointer: str = ""
) -> Iterator[ConditionError]:
    """Yield every problem of `condition` against `field_types`, independent of any user.

    For the semantic validator: each yielded error carries a JSON pointer (under
    `pointer`), a stable `reason` code and a message an analyst can act on.
    """
    try:
        comparisons = list(iter_comparisons(condition, pointer))
    except ConditionError as exc:
        yield exc
        return
    for comparison_pointer, comparison in comparisons:
        try:
            _bind_comparison(comparison, field_types, _STATIC_CONTEXT, comparison_pointer)
        except ConditionError as exc:
            yield exc


def _field_type(field: Any, field_types: Mapping[str, str], pointer: str) -> str:
    if not isinstance(field, str) or field not in field_types:
        known = ", ".join(sorted(field_types)) or "none"
        raise ConditionError(
            pointer,
            f"there is no field {field!r} on this entity; use one of: {known}",
            "condition.unknown_field",
        )
    return field_types[field]


def _bind_comparison(
    comparison: Mapping[str, Any],
    field_types: Mapping[str, str],
    context: ConditionContext,
    pointer: str,
) -> BoundNode:
    field = comparison.get("field")
    field_type = _field_type(field, field_types, f"{pointer}/field")
    assert isinstance(field, str)
    op_name = comparison.get("op")
    operator = OPERATORS.get(op_name) if isinstance(op_name, str) else None
    if operator is None:
        raise ConditionError(
            f"{pointer}/op",
            f"{op_name!r} is not an operator; use one of {', '.join(OPERATORS)}",
            "condition.unknown_operator",
        )
    if not operator.accepts(field_type):
        usable = ", ".join(name for name, op in OPERATORS.items() if op.accepts(field_type))
        raise ConditionError(
            f"{pointer}/op",
            f"{operator.name} does not apply to {field!r}, a {field_type} field; "
            f"use one of {usable}",
            "condition.operator_mismatch",
        )
    value = comparison.get("value")
    if value is None and operator.name in ("eq", "ne") and "value" in comparison:
        # `eq null` asks "is it empty?"; say it the explicit way so both sides agree.
        emptiness = OPERATORS["is_empty" if operator.name == "eq" else "is_not_empty"]
        return BoundComparison(pointer, field, field_type, emptiness, ())
    operands = _bind_operands(
        operator, field, field_type, value, comparison, field_types, context, pointer
    )
    return BoundComparison(pointer, field, field_type, operator, operands)


def _bind_operands(
    operator: Operator,
    field: str,
    field_type: str,
    value: Any,
    comparison: Mapping[str, Any],
    field_types: Mapping[str, str],
    context: ConditionContext,
    pointer: str,
) -> tuple[Any, ...]:
    shape = operator.operand
    if shape is OperandShape.NONE:
        if "value" in comparison:
            raise ConditionError(
                f"{pointer}/value",
                f"{operator.name} takes no value; remove it",
                "condition.bad_value",
            )
        return ()
    if shape is OperandShape.ONE:
        if isinstance(value, list) or "value" not in comparison:
            raise ConditionError(
                f"{pointer}/value",
                f"{operator.name} needs exactly one value",
                "condition.bad_value",
            )
        return _bind_item(
            operator, field, field_type, value, field_types, context, f"{pointer}/value"
        )
    if not isinstance(value, list) or not value:
        raise ConditionError(
            f"{pointer}/value",
            f"{operator.name} needs a non-empty list of values",
            "condition.bad_value",
        )
    if shape is OperandShape.PAIR and len(value) != 2:
        raise ConditionError(
            f"{pointer}/value",
            "between needs exactly two values: [low, high] (both included)",
            "condition.bad_value",
        )
    operands: list[Any] = []
    for index, item in enumerate(value):
        operands.extend(
            _bind_item(
                operator, field, field_type, item, field_types, context, f"{pointer}/value/{index}"
            )
        )
    return tuple(operands)


def _bind_item(
    operator: Operator,
    field: str,
    field_type: str,
    raw: Any,
    field_types: Mapping[str, str],
    context: ConditionContext,
    pointer: str,
) -> tuple[Any, ...]:
    """One written value as operands: usually one, several for ``$user.units``."""
    ref = context_ref(raw)
    if ref is None:
        if raw is None:
            raise ConditionError(
                pointer,
                f"null is not a value for {operator.name}; use is_empty or is_not_empty",
                "condition.bad_value",
            )
        return (coerce_operand(field_type, raw, pointer),)
    if ref.field is not None:
        return (_bind_field_ref(operator, field, field_type, ref, field_types, pointer),)
    resolved = _resolve_context(ref, context, pointer)
    if isinstance(resolved, tuple):
        if not operator.multi_valued_refs:
            raise ConditionError(
                pointer,
                f"$user.units is a list of units; {operator.name} compares with one value, "
                'use in or not_in with ["$user.units"] instead',
                "condition.bad_value",
            )
        return tuple(coerce_operand(field_type, item, pointer) for item in resolved)
    if field_type == "datetime" and ref.name == "today":
        # A date-time compared with today compares with today's midnight, UTC.
        resolved = datetime.combine(resolved, time(0, 0), tzinfo=UTC)
    return (coerce_operand(field_type, resolved, pointer),)


def _resolve_context(ref: ContextRef, context: ConditionContext, pointer: str) -> Any:
    resolvers: Mapping[str, Callable[[ConditionContext], Any]] = {
        "user.id": lambda c: c.user_id,
        "user.unit": lambda c: c.unit_id,
        "user.units": lambda c: tuple(c.unit_ids),
        # The server's calendar day unless the caller passes the user's own.
        "today": lambda c: c.today or date.today(),  # noqa: DTZ011
    }
    resolved = resolvers[ref.name](context)
    if resolved is None:
        raise ConditionError(
            pointer,
            f"${ref.name} is not available here (no signed-in user or unit); "
            "evaluate the condition with a user context, or do not reference the user",
            "condition.context_unavailable",
        )
    return resolved


def _bind_field_ref(
    operator: Operator,
    field: str,
    field_type: str,
    ref: ContextRef,
    field_types: Mapping[str, str],
    pointer: str,
) -> FieldRef:
    assert ref.field is not None
    if not operator.field_refs:
        raise ConditionError(
            pointer,
            f"{operator.name} compares with literal values only; $record.{ref.field} "
            "can be used with eq, ne, gt, gte, lt, lte and between",
            "condition.bad_value",
        )
    other_type = _field_type(ref.field, field_types, pointer)
    if MULTI_CHOICE in (field_type, other_type) or _family(other_type) != _family(field_type):
        raise ConditionError(
            pointer,
            f"{field!r} ({field_type}) cannot be compared with {ref.field!r} ({other_type}); "
            "compare fields of the same kind",
            "condition.incompatible_fields",
        )
    return FieldRef(ref.field)
