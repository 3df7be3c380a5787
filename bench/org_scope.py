"""How to represent "this unit and everything below it": the alternatives, measured.

``python -m bench.org_scope --db URL`` times, on the raw DB-API cursor (median of
``--runs``), the newest-first page of 50 and the count of live customers at each
scope under four representations:

- ``closure IN``: ``owning_unit_id IN (SELECT descendant_id FROM org_unit_closure
  WHERE ancestor_id = :u)`` (what the platform uses);
- ``id list``: ``owning_unit_id IN (:id1, :id2, ...)`` with the subtree's ids read
  beforehand (that read is timed separately);
- ``closure JOIN``: the records joined to the closure rows of the unit;
- ``path``: a materialized path copied onto every record (``owning_unit_path``),
  ``LIKE '/1/4/%'`` over a ``text_pattern_ops`` index on PostgreSQL and the
  equivalent range (``>= '/1/4/' AND < '/1/40'``) on SQLite, whose LIKE is
  case-insensitive and cannot use an index.

The path variant needs the column, so it runs on a scratch copy of the customer
table (dropped at the end) with indexes (path, updated_at, id) and (updated_at,
id). It also times what a subsidiary move costs each representation: the paths of
every record below it rewritten vs the closure rows that cross the move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bench.common import (
    CLOSURE,
    UNITS,
    Bench,
    find_scopes,
    header,
    interleaved,
    open_bench,
    parse_args,
    table,
)

SCRATCH = "bench_scope_path"
# The tenant scope is left out: its exact count under five representations takes minutes
# on SQLite, and list_scopes already measures it.
MEASURED_SCOPES = ("team", "subsidiary", "business_unit")
ORDER = "ORDER BY updated_at DESC, id DESC"


class Raw:
    """A raw DB-API connection running ``:name``-style SQL in the driver's parameter style."""

    def __init__(self, bench: Bench):
        self.connection = bench.engine.raw_connection()
        self.postgres = bench.dialect == "postgresql"
        if self.postgres:
            self.connection.driver_connection.autocommit = True

    def sql(self, statement: str) -> str:
        import re

        return re.sub(r":(\w+)", r"%(\1)s", statement) if self.postgres else statement

    def all(self, statement: str, **params: Any) -> list[Any]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql(statement), params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def script(self, *statements: str) -> None:
        cursor = self.connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        if not self.postgres:
            self.connection.commit()


def build_scratch(bench: Bench, raw: Raw) -> float:
    """Copy the customers with their owning unit's path onto a scratch table; seconds taken."""
    tbl = bench.table()
    source = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    started = time.perf_counter()
    opclass = " text_pattern_ops" if raw.postgres else ""
    raw.script(
        f"DROP TABLE IF EXISTS {SCRATCH}",
        f"CREATE TABLE {SCRATCH} AS SELECT t.*, u.path AS owning_unit_path "
        # In id order, so that rows lie on disk as in the real table: a copy grouped by
        # unit would make every scoped read look cheaper than it is.
        f"FROM {source} t JOIN org_units u ON u.id = t.owning_unit_id ORDER BY t.id",
        f"CREATE INDEX ix_{SCRATCH}_path ON {SCRATCH} (owning_unit_path{opclass}, updated_at, id)",
        f"CREATE INDEX ix_{SCRATCH}_updated ON {SCRATCH} (updated_at, id)",
        f"ANALYZE {SCRATCH}",
    )
    if raw.postgres:
        raw.script(f"VACUUM {SCRATCH}")
    return time.perf_counter() - started


def variants(
    bench: Bench, raw: Raw, unit_id: int, path: str, ids: list[int]
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """name -> (page SQL, count SQL, parameters) for one scope."""
    tbl = bench.table()
    name = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    live = "deleted_at IS NULL"
    closure_in = (
        f"{live} AND owning_unit_id IN "
        "(SELECT descendant_id FROM org_unit_closure WHERE ancestor_id = :unit)"
    )
    id_params = {f"u{i}": unit for i, unit in enumerate(ids)}
    id_list = f"{live} AND owning_unit_id IN ({', '.join(':' + k for k in id_params)})"
    join = f"{name} t JOIN org_unit_closure c ON c.descendant_id = t.owning_unit_id"
    join_where = "t.deleted_at IS NULL AND c.ancestor_id = :unit"
    if raw.postgres:
        path_where = f"{live} AND owning_unit_path LIKE :prefix"
        path_params: dict[str, Any] = {"prefix": path + "%"}
    else:
        path_where = f"{live} AND owning_unit_path >= :low AND owning_unit_path < :high"
        path_params = {"low": path, "high": path[:-1] + "0"}  # '0' sorts right after '/'
    cases = {
        "closure IN": (
            f"SELECT * FROM {name} WHERE {closure_in} {ORDER} LIMIT 51",
            f"SELECT count(*) FROM {name} WHERE {closure_in}",
            {"unit": unit_id},
        ),
        "id list": (
            f"SELECT * FROM {name} WHERE {id_list} {ORDER} LIMIT 51",
            f"SELECT count(*) FROM {name} WHERE {id_list}",
            id_params,
        ),
        "closure JOIN": (
            f"SELECT t.* FROM {join} WHERE {join_where} "
            "ORDER BY t.updated_at DESC, t.id DESC LIMIT 51",
            f"SELECT count(*) FROM {join} WHERE {join_where}",
            {"unit": unit_id},
        ),
        "path": (
            f"SELECT * FROM {SCRATCH} WHERE {path_where} {ORDER} LIMIT 51",
            f"SELECT count(*) FROM {SCRATCH} WHERE {path_where}",
            path_params,
        ),
    }
    if not raw.postgres:
        # `+owning_unit_id` keeps SQLite off the unit index, so it walks (updated_at, id)
        # newest first and stops after 51 rows in scope: the plan for broad scopes.
        walk = closure_in.replace("owning_unit_id IN", "+owning_unit_id IN")
        cases["closure IN, walking (updated_at, id)"] = (
            f"SELECT * FROM {name} WHERE {walk} {ORDER} LIMIT 51",
            f"SELECT count(*) FROM {name} WHERE {walk}",
            {"unit": unit_id},
        )
    return cases


def move_costs(bench: Bench, raw: Raw, unit_id: int, new_parent_path: str) -> list[list[Any]]:
    """Seconds to rewrite the moved subtree's record paths vs its crossing closure rows.

    Both run in a transaction that is rolled back: only the cost is of interest.
    """
    with bench.engine.connect() as connection:
        old_path = connection.execute(
            select(UNITS.c.path).where(UNITS.c.id == unit_id)
        ).scalar_one()
        subtree = connection.execute(
            select(CLOSURE.c.descendant_id).where(CLOSURE.c.ancestor_id == unit_id)
        ).scalars()
        subtree_size = len(list(subtree))
        above = connection.execute(
            select(CLOSURE.c.ancestor_id).where(
                CLOSURE.c.descendant_id == unit_id, CLOSURE.c.depth > 0
            )
        ).scalars()
        depth_above = len(list(above))
    new_path = f"{new_parent_path}{unit_id}/"
    connection = bench.engine.raw_connection()
    marker = "%s" if raw.postgres else "?"
    try:
        cursor = connection.cursor()
        if not raw.postgres:
            cursor.execute("BEGIN")
        started = time.perf_counter()
        cursor.execute(
            f"UPDATE {SCRATCH} SET owning_unit_path = {marker} || "
            f"substr(owning_unit_path, {len(old_path) + 1}) "
            f"WHERE owning_unit_path >= {marker} AND owning_unit_path < {marker}",
            (new_path, old_path, old_path[:-1] + "0"),
        )
        rewritten = cursor.rowcount
        path_seconds = time.perf_counter() - started
        connection.rollback()
        cursor.close()
    finally:
        connection.close()
    closure_rows = 2 * subtree_size * depth_above
    return [
        ["path on every record", f"{rewritten:,} record paths rewritten", path_seconds],
        [
            "closure table",
            f"{closure_rows:,} closure rows ({subtree_size} units x {depth_above} ancestors, "
            "deleted and inserted)",
            "see bench.move_subsidiary (whole move)",
        ],
    ]


def run(url: str, runs: int) -> None:
    """Measure every representation at every scope; print the tables."""
    bench = open_bench(url)
    header("Org scope representations (raw DB-API cursor)", bench)
    raw = Raw(bench)
    print(f"scratch copy with paths built in {build_scratch(bench, raw):.1f} s")
    rows: list[list[Any]] = []
    try:
        scopes = find_scopes(bench)
        for scope in [scopes[name] for name in MEASURED_SCOPES]:
            with bench.engine.connect() as connection:
                path = connection.execute(
                    select(UNITS.c.path).where(UNITS.c.id == scope.unit_id)
                ).scalar_one()
                ids_query = select(CLOSURE.c.descendant_id).where(
                    CLOSURE.c.ancestor_id == scope.unit_id
                )
                ids = list(connection.execute(ids_query).scalars())
            fetch = interleaved(
                {
                    "ids": lambda u=scope.unit_id: raw.all(
                        "SELECT descendant_id FROM org_unit_closure WHERE ancestor_id = :unit",
                        unit=u,
                    )
                },
                runs,
            )["ids"]
            cases = variants(bench, raw, scope.unit_id, path, ids)
            expected = None
            for name, (page, _count, params) in cases.items():
                got = [row[0] for row in raw.all(page, **params)]
                expected = got if expected is None else expected
                if got != expected:
                    raise SystemExit(f"{name} returns another page than closure IN at {scope}")
            label = f"{scope.name} ({scope.rows:,}, {len(ids)} units)"
            for query, position in (("page", 0), ("count", 1)):
                contenders: dict[str, Callable[[], Any]] = {
                    name: lambda s=case[position], p=case[2]: raw.all(s, **p)
                    for name, case in cases.items()
                }
                times = interleaved(contenders, runs)
                runs_note = "" if times["runs"] >= runs else f" [{times['runs']:.0f} runs]"
                rows.append([label, query + runs_note, *[times[n] for n in cases], fetch])
        columns = ["scope (customers, units)", "query", *[f"{n} ms" for n in cases]]
        table([*columns, "reading the id list ms"], rows)
        subsidiary = scopes["subsidiary"]
        with bench.engine.connect() as connection:
            parent = connection.execute(
                select(UNITS.c.parent_id).where(UNITS.c.id == subsidiary.unit_id)
            ).scalar_one()
            other_bu_path = connection.execute(
                select(UNITS.c.path)
                .where(
                    UNITS.c.tenant_id == bench.tenant.id,
                    UNITS.c.kind == "business_unit",
                    UNITS.c.key.startswith("g_"),
                    UNITS.c.id != parent,
                )
                .order_by(UNITS.c.id)
            ).first()
        print(f"\nMoving {subsidiary.unit_key} ({subsidiary.rows:,} customers):")
        table(
            ["representation", "what a move rewrites", "seconds"],
            move_costs(bench, raw, subsidiary.unit_id, other_bu_path[0]),
        )
    finally:
        raw.script(f"DROP TABLE IF EXISTS {SCRATCH}")
        raw.connection.close()


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0])
    run(args.db, args.runs)


if __name__ == "__main__":
    main()
