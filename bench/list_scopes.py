"""List pages and counts at each org scope: the record service beside its floors.

``python -m bench.list_scopes --db URL`` lists customers 50 at a time, newest
first (ORDER BY updated_at DESC, id DESC), as the head of a team, a subsidiary,
a business unit and the group (the interim `UnitSubtreePolicy`: the unit's
subtree), at keyset page 1 and page 200, and counts them (exact, and capped at
10,000 as the list screens ask). Beside each service figure: the same
hand-written statement through SQLAlchemy Core (``text()``) and through the raw
DB-API cursor, timed in the same rounds. Targets (issue 3): the service within
1.5x of the Core statement and under 2 ms for a page; a count within 1.5x of
its floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.common import (
    ENTITY,
    RUNS,
    Bench,
    Scope,
    find_scopes,
    header,
    interleaved,
    open_bench,
    parse_args,
    ratio,
    table,
    verdict,
)
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService

PAGE = 50
DEEP_PAGE = 200
COUNT_CAP = 10_000
PAGE_TARGET_MS = 2.0
RATIO_TARGET = 1.5


@dataclass(frozen=True)
class Statements:
    """The hand-written floor statements for one table, in both parameter styles."""

    page: str
    deep_page: str
    count: str
    capped_count: str


def statements(bench: Bench, columns: Sequence[str]) -> Statements:
    """The floor SQL: what a careful hand-written query for the same result looks like.

    Same columns, same WHERE (live rows in the closure subtree), same ORDER BY and
    the same LIMIT of page + 1 (the extra row says whether a next page exists).
    """
    tbl = bench.table()
    name = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    closure = "org_unit_closure"
    select_list = ", ".join(f'"{c}"' for c in columns)
    scope = (
        f"deleted_at IS NULL AND owning_unit_id IN "
        f"(SELECT descendant_id FROM {closure} WHERE ancestor_id = :unit)"
    )
    order = "ORDER BY updated_at DESC, id DESC"
    return Statements(
        page=f"SELECT {select_list} FROM {name} WHERE {scope} {order} LIMIT {PAGE + 1}",
        deep_page=(
            f"SELECT {select_list} FROM {name} WHERE {scope} "
            f"AND (updated_at, id) < (:updated_at, :id) {order} LIMIT {PAGE + 1}"
        ),
        count=f"SELECT count(*) FROM {name} WHERE {scope}",
        capped_count=(
            f"SELECT count(*) FROM (SELECT id FROM {name} WHERE {scope} LIMIT {COUNT_CAP + 1}) c"
        ),
    )


def raw_sql(sql: str, dialect: str) -> str:
    """`sql` with ``:name`` parameters in the driver's style (qmark or pyformat)."""
    import re

    if dialect == "postgresql":
        return re.sub(r":(\w+)", r"%(\1)s", sql)
    return sql


class Floors:
    """Runs the floor statements through Core (a pooled connection per call) and a raw cursor."""

    def __init__(self, bench: Bench, sql: Statements, columns: Sequence[str]):
        self.bench = bench
        self.sql = sql
        # The page statements declare their result columns, so Core converts values
        # (datetimes, decimals, JSON) exactly as it does for the service's rows.
        typed = [bench.table().c[name] for name in columns]
        self.core = {
            "page": text(sql.page).columns(*typed),
            "deep_page": text(sql.deep_page).columns(*typed),
            "count": text(sql.count),
            "capped_count": text(sql.capped_count),
        }
        self.raw_connection = bench.engine.raw_connection()
        self.dialect = bench.dialect
        if self.dialect == "postgresql":
            # A read is one statement: no transaction around it, as the service does.
            self.raw_connection.driver_connection.autocommit = True
        self.raw = {name: raw_sql(getattr(sql, name), self.dialect) for name in self.core}

    def via_core(self, name: str, **params: Any) -> list[Any]:
        with self.bench.engine.connect() as opened:
            connection = opened
            if self.dialect == "postgresql":
                connection = opened.execution_options(isolation_level="AUTOCOMMIT")
            return connection.execute(self.core[name], params).all()

    def via_raw(self, name: str, **params: Any) -> list[Any]:
        cursor = self.raw_connection.cursor()
        try:
            cursor.execute(self.raw[name], params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self.raw_connection.close()


def walk_to_page(
    service: RecordService, principal: Principal, page_number: int
) -> tuple[str | None, int]:
    """The cursor of page `page_number` (or of the last page, if fewer), and which page it is."""
    cursor = None
    reached = 1
    while reached < page_number:
        page = service.list(principal, ENTITY, page_size=PAGE, cursor=cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        reached += 1
    return cursor, reached


def measure_scope(
    bench: Bench,
    service: RecordService,
    floors: Floors,
    scope: Scope,
    runs: int,
    principal: Principal | None = None,
) -> list[list[Any]]:
    """The rows of the results table for one scope (page 1, deep page, count, capped count)."""
    principal = principal or bench.principal(scope.user_id)
    unit = scope.unit_id
    cursor, deep = walk_to_page(service, principal, DEEP_PAGE)
    offset = (deep - 1) * PAGE
    boundary = None
    if offset:
        with bench.engine.connect() as connection:
            boundary = connection.execute(
                text(floors.sql.page.replace(f"LIMIT {PAGE + 1}", f"LIMIT 1 OFFSET {offset - 1}")),
                {"unit": unit},
            ).one()
    _check_same_page(bench, service, principal, floors, unit, cursor, boundary)

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any], bool]] = []
    cases.append(
        (
            "page 1",
            lambda: service.list(principal, ENTITY, page_size=PAGE),
            lambda: floors.via_core("page", unit=unit),
            lambda: floors.via_raw("page", unit=unit),
            True,
        )
    )
    if boundary is not None:
        params = {"unit": unit, "updated_at": boundary.updated_at, "id": boundary.id}
        cases.append(
            (
                f"page {deep}",
                lambda: service.list(principal, ENTITY, page_size=PAGE, cursor=cursor),
                lambda: floors.via_core("deep_page", **params),
                lambda: floors.via_raw("deep_page", **params),
                True,
            )
        )
    cases.append(
        (
            "count (exact)",
            lambda: service.count(principal, ENTITY, cap=None),
            lambda: floors.via_core("count", unit=unit),
            lambda: floors.via_raw("count", unit=unit),
            False,
        )
    )
    cases.append(
        (
            f"count (cap {COUNT_CAP:,})",
            lambda: service.count(principal, ENTITY, cap=COUNT_CAP),
            lambda: floors.via_core("capped_count", unit=unit),
            lambda: floors.via_raw("capped_count", unit=unit),
            False,
        )
    )
    rows = []
    for case, run_service, run_core, run_raw, is_page in cases:
        times = interleaved({"service": run_service, "core": run_core, "raw": run_raw}, runs)
        within = ratio(times["service"], times["core"])
        ok = within <= RATIO_TARGET and (not is_page or times["service"] < PAGE_TARGET_MS)
        rows.append(
            [
                f"{scope.name} `{scope.unit_key}` ({scope.rows:,})",
                case if times["runs"] >= RUNS else f"{case} [{times['runs']:.0f} runs]",
                times["service"],
                times["core"],
                times["raw"],
                within,
                verdict(ok),
            ]
        )
    return rows


def _check_same_page(
    bench: Bench,
    service: RecordService,
    principal: Principal,
    floors: Floors,
    unit: int,
    cursor: str | None,
    boundary: Any,
) -> None:
    """The service and the floor statement return the same ids (else the comparison is moot)."""
    first = [row["id"] for row in service.list(principal, ENTITY, page_size=PAGE).rows]
    floor = [row.id for row in floors.via_core("page", unit=unit)][:PAGE]
    if first != floor:
        raise SystemExit(f"page 1 differs between the service and the floor at unit {unit}")
    if boundary is not None:
        deep = [
            row["id"] for row in service.list(principal, ENTITY, page_size=PAGE, cursor=cursor).rows
        ]
        params = {"unit": unit, "updated_at": boundary.updated_at, "id": boundary.id}
        floor = [row.id for row in floors.via_core("deep_page", **params)][:PAGE]
        if deep != floor:
            raise SystemExit(f"the deep page differs between the service and the floor at {unit}")


COLUMNS = ["scope (customers)", "case", "service ms", "Core ms", "raw ms", "service/Core", "target"]


def run(url: str, runs: int) -> list[list[Any]]:
    """Measure every scope; print and return the table rows."""
    bench = open_bench(url)
    header("List pages and counts by org scope (UnitSubtreePolicy)", bench)
    columns = [c.name for c in bench.table().columns if not c.name.startswith("_")]
    floors = Floors(bench, statements(bench, columns), columns)
    rows: list[list[Any]] = []
    try:
        for scope in find_scopes(bench).values():
            rows.extend(measure_scope(bench, bench.service, floors, scope, runs))
    finally:
        floors.close()
        bench.engine.dispose()
    table(COLUMNS, rows)
    return rows


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0])
    run(args.db, args.runs)


if __name__ == "__main__":
    main()
