"""Compiling a bound condition to one SQLAlchemy Core boolean expression."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.conditions.binding import (
    BoundComparison,
    BoundGroup,
    BoundNode,
    BoundNot,
    FieldRef,
)
from crm_platform.metadata.conditions.operators import SqlEnv
from crm_platform.metadata.conditions.tree import ConditionError


def compile_bound(
    node: BoundNode, columns: Mapping[str, ColumnElement[Any]], closure: Table
) -> ColumnElement[bool]:
    """The SQL expression of the bound condition `node`; it is TRUE or FALSE, never NULL."""
    if isinstance(node, BoundGroup):
        parts = [compile_bound(child, columns, closure) for child in node.children]
        return and_(*parts) if node.conjunction else or_(*parts)
    if isinstance(node, BoundNot):
        return not_(compile_bound(node.child, columns, closure))
    return _clause(node, columns, closure)


def _column(columns: Mapping[str, ColumnElement[Any]], field: str, pointer: str) -> Any:
    column = columns.get(field)
    if column is None:
        raise ConditionError(
            pointer,
            f"field {field!r} has no column in this query; pass its column to compile_condition",
            "condition.unknown_field",
        )
    return column


def _clause(
    node: BoundComparison, columns: Mapping[str, ColumnElement[Any]], closure: Table
) -> ColumnElement[bool]:
    column = _column(columns, node.field, f"{node.pointer}/field")
    operands = tuple(
        _column(columns, operand.field, f"{node.pointer}/value")
        if isinstance(operand, FieldRef)
        else operand
        for operand in node.operands
    )
    return node.operator.clause(node.field_type, column, operands, SqlEnv(node.pointer, closure))
