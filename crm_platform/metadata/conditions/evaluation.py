"""Evaluating a bound condition over one record held in memory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from crm_platform.metadata.conditions.binding import (
    BoundComparison,
    BoundGroup,
    BoundNode,
    BoundNot,
    ConditionContext,
    FieldRef,
    utc,
)
from crm_platform.metadata.conditions.operators import MULTI_CHOICE, NUMERIC_TYPES, EvalEnv


def record_value(field_type: str, raw: Any) -> Any:
    """A record's value as the operators compare it (what the SQL column would hold).

    Money may come as ``{"amount": ..., "currency": ...}``: conditions compare the
    amount. Floats become decimals, date-times UTC, multi_choice lists tuples.
    """
    if raw is None:
        return None
    if field_type in NUMERIC_TYPES:
        if isinstance(raw, Mapping):
            raw = raw.get("amount")
        if isinstance(raw, float):
            return Decimal(str(raw))
        return raw
    if field_type == "datetime" and isinstance(raw, datetime):
        return utc(raw)
    if field_type == MULTI_CHOICE:
        return tuple(raw)
    return raw


def evaluate_bound(
    node: BoundNode,
    record: Mapping[str, Any],
    field_types: Mapping[str, str],
    context: ConditionContext,
) -> bool:
    """True when `record` satisfies the bound condition `node`."""
    if isinstance(node, BoundGroup):
        results = (evaluate_bound(child, record, field_types, context) for child in node.children)
        return all(results) if node.conjunction else any(results)
    if isinstance(node, BoundNot):
        return not evaluate_bound(node.child, record, field_types, context)
    return _test(node, record, field_types, context)


def _test(
    node: BoundComparison,
    record: Mapping[str, Any],
    field_types: Mapping[str, str],
    context: ConditionContext,
) -> bool:
    value = record_value(node.field_type, record.get(node.field))
    operands = tuple(
        record_value(field_types[operand.field], record.get(operand.field))
        if isinstance(operand, FieldRef)
        else operand
        for operand in node.operands
    )
    env = EvalEnv(node.pointer, context.subtree)
    return node.operator.test(node.field_type, value, operands, env)
