"""Reading many records: sort resolution, keyset pagination with opaque cursors, search, counts.

Keyset pagination never uses OFFSET: the cursor carries the sort key values and
the id of the row at a page edge, and the next page is "rows after that one in
the sort order", which an index on the sort columns answers in constant time at
page 1 and page 200 alike. Empty values sort as the largest (last ascending,
first descending), which is PostgreSQL's default order, so its indexes serve the
sort as declared; SQLite is told the same with NULLS FIRST/LAST.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    and_,
    bindparam,
    false,
    or_,
    true,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.runtime.errors import InvalidOperation

DEFAULT_SORT: tuple[tuple[str, str], ...] = (("updated_at", "desc"),)
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    """One page of a list; the cursors are opaque strings (None: no such page)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True)
class Count:
    """How many records match; `exact` is False when counting stopped at the cap."""

    value: int
    exact: bool


@dataclass(frozen=True)
class SortKey:
    """One resolved key of a sort: a column of the table and its direction."""

    name: str
    column: Column[Any]
    descending: bool

    @property
    def nullable(self) -> bool:
        """True when the column may hold NULL (keyset then needs explicit null handling)."""
        return bool(self.column.nullable) and not self.column.primary_key


def sortable_columns(table: Table) -> frozenset[str]:
    """Columns a list may sort by: the id and every column that leads an index."""
    leading = {"id"}
    for index in table.indexes:
        if not index.expressions:
            continue
        first = index.expressions[0]
        # An index element may be `column.desc()`; its column still leads the index.
        name = getattr(first, "name", None) or getattr(
            getattr(first, "element", None), "name", None
        )
        if isinstance(name, str):
            leading.add(name)
    return frozenset(leading)


def resolve_sort(
    entity_key: str,
    table: Table,
    sort: Sequence[tuple[str, str]] | None,
    allowed: frozenset[str],
) -> tuple[SortKey, ...]:
    """The sort keys of a list request, with the id appended as the final tie-breaker.

    `allowed` is the set of sortable names the principal may use (hidden fields are
    not in it, so sorting by one fails exactly like sorting by an unknown field).
    """
    keys: list[SortKey] = []
    for name, direction in sort or DEFAULT_SORT:
        if direction not in ("asc", "desc"):
            raise InvalidOperation(
                f"sort direction {direction!r} for {name!r} is invalid; use 'asc' or 'desc'"
            )
        if name not in allowed:
            raise InvalidOperation(
                f"{entity_key} cannot be sorted by {name!r}: only indexed fields can be sorted "
                f"({', '.join(sorted(allowed))}); ask an analyst to add a list view sorted by it"
            )
        if any(key.name == name for key in keys):
            continue
        keys.append(SortKey(name, table.c[name], direction == "desc"))
    if not any(key.name == "id" for key in keys):
        keys.append(SortKey("id", table.c.id, keys[0].descending if keys else True))
    return tuple(keys)


def order_by(keys: Sequence[SortKey], backwards: bool) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for the keys (reversed when paging backwards)."""
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        descending = key.descending != backwards
        clause = key.column.desc() if descending else key.column.asc()
        if key.nullable:
            clause = clause.nulls_first() if descending else clause.nulls_last()
        clauses.append(clause)
    return clauses


def _after(key: SortKey, value: Any, param: Any, descending: bool) -> ColumnElement[bool]:
    """Rows whose `key` comes strictly after `value` in the (possibly reversed) order."""
    column = key.column
    if descending:
        return column.is_not(None) if value is None else column < param
    if value is None:
        return false()
    return or_(column > param, column.is_(None)) if key.nullable else column > param


def _equal(key: SortKey, value: Any, param: Any) -> ColumnElement[bool]:
    return key.column.is_(None) if value is None else key.column == param


def cursor_params(values: Sequence[Any]) -> dict[str, Any]:
    """The bound parameters `keyset_predicate` expects for a cursor's sort values."""
    return {f"cursor_{i}": value for i, value in enumerate(values) if value is not None}


def keyset_predicate(
    keys: Sequence[SortKey], values: Sequence[Any], backwards: bool
) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """Rows strictly after the row whose sort values are `values`, and the parameters to bind.

    The values are bound parameters (``cursor_0``, ``cursor_1``...), not literals,
    so the statement's shape depends only on the sort, the direction and which
    values are empty, and can be built once and reused for every page.
    When every key is NOT NULL and shares one direction this is a row-value
    comparison ``(a, b) < (:a, :b)``, which both databases turn into an index
    range; otherwise the equivalent OR-of-ANDs expansion with NULL handling.
    """
    params = cursor_params(values)
    binds = [bindparam(f"cursor_{i}", type_=key.column.type) for i, key in enumerate(keys)]
    directions = {key.descending != backwards for key in keys}
    if len(directions) == 1 and not any(key.nullable for key in keys):
        descending = directions.pop()
        left = tuple_(*(key.column for key in keys))
        right = tuple_(*binds)
        return (left < right if descending else left > right), params
    branches = []
    for position, key in enumerate(keys):
        prefix = [
            _equal(k, v, b)
            for k, v, b in zip(keys[:position], values[:position], binds[:position], strict=True)
        ]
        after = _after(key, values[position], binds[position], key.descending != backwards)
        branches.append(and_(*prefix, after))
    return (or_(*branches) if branches else true()), params


# -- cursors -----------------------------------------------------------------------------------


def _signature(keys: Sequence[SortKey]) -> str:
    return ",".join(f"{key.name}:{'d' if key.descending else 'a'}" for key in keys)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return {"t": aware.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return date.fromisoformat(value["d"])
        if "n" in value:
            return Decimal(value["n"])
        raise ValueError("unknown value tag")
    return value


def encode_cursor(keys: Sequence[SortKey], row: Mapping[str, Any], backwards: bool) -> str:
    """The opaque cursor pointing at `row`'s position; `backwards` marks a "previous" cursor."""
    payload = {
        "s": _signature(keys),
        "v": [_encode_value(row[key.name]) for key in keys],
        "b": backwards,
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(entity_key: str, keys: Sequence[SortKey], cursor: str) -> tuple[list[Any], bool]:
    """(sort values, backwards) of a cursor made by `encode_cursor` for the same sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values = [_decode_value(v) for v in payload["v"]]
        signature, backwards = payload["s"], bool(payload["b"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidOperation(
            f"the page cursor for {entity_key} is not valid; start again from the first page"
        ) from None
    if signature != _signature(keys) or len(values) != len(keys):
        raise InvalidOperation(
            f"the page cursor for {entity_key} belongs to another sort order; "
            "start again from the first page"
        )
    return values, backwards
