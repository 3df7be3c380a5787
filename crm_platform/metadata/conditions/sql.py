"""Dialect-aware SQL building blocks of the condition compiler.

Conditions compile to one expression that runs on SQLite and on PostgreSQL, so
the few operations the two spell differently (searching a JSON array, folding
ASCII case) are `_DialectSwitch` elements that pick their rendering when the
statement is compiled. Both branches take part in the statement cache key.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

_UPPER = string.ascii_uppercase
_LOWER = string.ascii_lowercase


class _DialectSwitch(ColumnElement[Any]):
    """An expression rendered as `postgresql` on PostgreSQL and as `default` elsewhere."""

    inherit_cache = True
    _traverse_internals = [
        ("default", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, default: ColumnElement[Any], postgresql: ColumnElement[Any]):
        self.default = default
        self.postgresql = postgresql
        self.type = default.type


@compiles(_DialectSwitch)
def _compile_switch(element: _DialectSwitch, compiler: SQLCompiler, **kw: Any) -> str:
    chosen = element.postgresql if compiler.dialect.name == "postgresql" else element.default
    # Parenthesised because the switch cannot know the precedence of its context
    # (``NOT a AND b`` would negate only `a`).
    return f"({compiler.process(chosen, **kw)})"


def ascii_lower(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column` with A-Z folded to a-z and every other character untouched.

    SQLite's built-in lower() folds ASCII only while PostgreSQL's folds all of
    Unicode by locale; translate() makes PostgreSQL fold exactly what SQLite and
    the Python evaluator fold.
    """
    return _DialectSwitch(
        func.lower(column, type_=String()),
        func.translate(column, _UPPER, _LOWER, type_=String()),
    )


def json_array_has_any(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    """True when the JSON array in `column` holds any of `values`; false for NULL and ``null``."""
    if not values:
        return false()
    elements = func.json_each(column).table_valued("value")
    sqlite_form = exists(
        select(literal(1)).select_from(elements).where(elements.c.value.in_(list(values)))
    )
    as_jsonb = cast(column, JSONB)
    postgresql_form = and_(
        column.is_not(None), or_(*(as_jsonb.contains([value]) for value in values))
    )
    return _DialectSwitch(sqlite_form, postgresql_form)


def json_array_is_not_empty(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """True when `column` holds a JSON array with at least one element; never NULL."""
    sqlite_form = func.coalesce(func.json_array_length(column), 0) > 0
    as_jsonb = cast(column, JSONB)
    postgresql_form = and_(
        column.is_not(None),
        func.jsonb_typeof(as_jsonb) == "array",
        as_jsonb != cast(literal("[]"), JSONB),
    )
    return _DialectSwitch(sqlite_form, postgresql_form)
