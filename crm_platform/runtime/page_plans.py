"""The plan of a newest-first list page: which index reads the scope, on each database.

The record service asks `SortWalkChooser` once per access predicate (and page
size) and gets a `WalkPlan`: the predicate as the page's WHERE should state it,
and whether to select the page's ids first. The choice rests on a capped count
of the scope, kept for five minutes; the rows a page returns never depend on it
(tests/runtime/test_records_list.py pages every plan both ways).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Table, any_, func, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect
from sqlalchemy.sql.visitors import replacement_traverse

from crm_platform.runtime.record_queries import SortKey

_SCOPE_COLUMNS = ("owning_unit_id", "owner_user_id")

_LOOKUP_COST = 6
"""A walked index entry (checked against the scope, which the `updated` index covers)
costs about this many times a sorted one (measured on SQLite, 1,000,000 rows: 0.07 us
against 0.014 us). Erring high keeps middling scopes on the unit index, where a wrong
choice costs a millisecond; a narrow scope walked costs tens."""

_BROAD_SHARE = 10
"""On PostgreSQL, a scope holding more than 1/_BROAD_SHARE of the table is left to the
planner, whose own walk of the sort index meets a page within a few hundred entries;
there the ids-first form's array of the subtree's units costs more than the heap
reads it saves (measured on 1,000,000 customers: a business unit of 30% pages in
2.0 ms as planned against 2.35 ms ids-first; a subsidiary of 6% in 2.8 against 1.8)."""

Breadth = Literal["narrow", "middle", "broad"]


@dataclass(frozen=True, slots=True)
class WalkPlan:
    """How a newest-first page reads its scope.

    `predicate` is the scope as the page's WHERE holds it. With `ids_first` the
    page selects its ids from the sort index alone, then its rows by id.
    """

    predicate: ColumnElement[bool]
    ids_first: bool = False


def _unindexable(table: Table, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """`predicate` with the table's scope columns as ``column + 0``: same rows, no index.

    A planner picks the index of a column compared in the WHERE; an expression of it
    takes that choice away, so the planner walks the sort index instead.
    """
    return _scope_rewritten(table, predicate, in_as_array=False)


def _walkable(table: Table, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """`predicate` as PostgreSQL checks it on each walked index entry without the table.

    The scope columns are unindexable (``column + 0``), and ``unit IN (SELECT ...)``
    becomes ``unit + 0 = ANY(ARRAY(SELECT ...))``: the subquery (a subtree's units)
    runs once, instead of a semi-join that probes the closure table for each unit
    the walk meets. Both forms select the same rows, NULLs included (neither
    matches a NULL). Other subqueries (shared record ids, which may be many) stay
    as they are, for the planner to hash.
    """
    return _scope_rewritten(table, predicate, in_as_array=True)


def _scope_rewritten(
    table: Table, predicate: ColumnElement[bool], *, in_as_array: bool
) -> ColumnElement[bool]:
    scope = {id(table.c[name]) for name in _SCOPE_COLUMNS if name in table.c}

    def replace(element: Any, **kw: Any) -> Any:
        if id(element) in scope:
            return element + 0
        if (
            in_as_array
            and isinstance(element, BinaryExpression)
            and element.operator is operators.in_op
            and id(element.left) in scope
            and isinstance(element.right, ScalarSelect)
        ):
            return element.left + 0 == any_(func.array(element.right))
        return None

    return replacement_traverse(predicate, {}, replace)


class SortWalkChooser:
    """How a newest-first page reads its scope: from the unit index, or walking (updated_at, id).

    A unit-scoped page read from (owning_unit_id, updated_at, id) reads and sorts
    the scope's every row: fine for a team, 5-20 ms for a business unit on a
    million-row table. Walking (updated_at, id) and filtering reads about
    page_size * table_rows / scope_rows index entries instead, which wins once the
    scope holds more than sqrt(_LOOKUP_COST * page_size * table_rows) rows (about
    17,000 of 1,000,000 for a page of 50).

    - SQLite keeps to the unit index unless told: a scope past that size walks
      (`_unindexable`).
    - PostgreSQL walks by itself, but reads each walked entry's row from the
      table before checking the scope: about 800 random reads for a subsidiary's
      page. A scope past that size but under 1/_BROAD_SHARE of the table walks
      the index alone for the page's ids (`_walkable`), then reads just those
      rows (``id = ANY(ARRAY(...))``): on 1,000,000 customers a subsidiary's page
      went from 2.8 to 1.95 ms through the service. Narrow and broad scopes are
      left to the planner: a narrow scope's last pages lost 0.2 ms ids-first,
      and a broad scope's walk meets a page within a few hundred rows.

    A capped count of the scope (from the live-row index) decides, remembered per
    predicate for `ttl` seconds.
    """

    def __init__(self, ttl: float = 300.0, keep: int = 1024):
        self._ttl = ttl
        self._keep = keep
        self._lock = threading.Lock()
        self._choices: dict[tuple[int, int, int], tuple[Any, Any, WalkPlan, float]] = {}

    def plan(
        self,
        connection: Connection,
        table: Table,
        predicate: ColumnElement[bool],
        keys: Sequence[SortKey],
        page_size: int,
    ) -> WalkPlan:
        """How a page of `predicate`'s rows in the order of `keys` reads them."""
        dialect = connection.dialect.name
        if dialect not in ("sqlite", "postgresql") or [
            (key.name, key.descending) for key in keys
        ] != [("updated_at", True), ("id", True)]:
            return WalkPlan(predicate)
        key = (id(table), id(predicate), page_size)
        now = time.monotonic()
        cached = self._choices.get(key)
        if cached is not None and cached[0] is table and cached[1] is predicate and cached[3] > now:
            return cached[2]
        breadth = self._breadth(connection, table, predicate, page_size)
        if dialect == "sqlite":
            chosen = WalkPlan(_unindexable(table, predicate) if breadth != "narrow" else predicate)
        elif breadth == "middle":
            chosen = WalkPlan(_walkable(table, predicate), ids_first=True)
        else:
            chosen = WalkPlan(predicate)
        with self._lock:
            if len(self._choices) >= self._keep:
                self._choices.clear()
            self._choices[key] = (table, predicate, chosen, now + self._ttl)
        return chosen

    @staticmethod
    def _breadth(
        connection: Connection, table: Table, predicate: ColumnElement[bool], page_size: int
    ) -> Breadth:
        """Narrow: the unit index wins. Broad: PostgreSQL's own walk wins. Else middle."""
        # max(id) stands in for the table's size: one index seek, near enough for a choice.
        size = connection.execute(select(func.max(table.c.id))).scalar() or 0
        walk_from = math.isqrt(_LOOKUP_COST * (page_size + 1) * size) + 1
        broad_from = max(walk_from + 1, size // _BROAD_SHARE)
        # SQLite walks every scope past walk_from alike: no need to count further.
        cap = broad_from if connection.dialect.name == "postgresql" else walk_from
        live = table.c.deleted_at.is_(None)
        sample = select(table.c.id).where(live, predicate).limit(cap).subquery()
        rows = connection.execute(select(func.count()).select_from(sample)).scalar_one()
        if rows < walk_from:
            return "narrow"
        return "broad" if rows >= broad_from else "middle"
