"""Bulk create of 100,000 customers into the full table: the record service vs a raw executemany.

``python -m bench.bulk_create --db URL [--rows 100000]`` imports new customers
as the head of a subsidiary through `RecordService.bulk_create` (every field of
every row validated, USCC uniqueness checked against the table and within the
import, owning unit checked, audit entries appended, all in one transaction),
and, in the same run, inserts the same rows (already normalised, as the service
would store them) with a raw DB-API ``executemany`` into the same table in one
transaction. Target (issue 3): the service at least half the raw rows per
second. Both imports are deleted again afterwards, so the table keeps its size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from bench.common import (
    ENTITY,
    find_scopes,
    header,
    open_bench,
    parse_args,
    stopwatch,
    table,
    verdict,
)
from bench.generate import Unit, customer_rows
from crm_platform.runtime.audit import AUDIT
from crm_platform.runtime.demo_values import DemoValues

TARGET_SHARE = 0.5


def _extra(parser: Any) -> None:
    parser.add_argument("--rows", type=int, default=100_000, help="rows per import")
    parser.add_argument("--seed", type=int, default=11)


def import_rows(count: int, seed: int, taken: set[str]) -> list[dict[str, Any]]:
    """`count` new customers as a user would import them: field values, no system columns."""
    values = DemoValues(seed)
    rows = []
    while len(rows) < count:
        record = values.customer()
        if record["uscc"] in taken:
            continue
        taken.add(record["uscc"])
        rows.append(record)
    return rows


def raw_insert(bench: Any, tbl: Any, rows: list[dict[str, Any]]) -> None:
    """One executemany of every row on the raw DB-API connection, in one transaction.

    Values are converted to the driver's types by the columns' own bind processors
    (what SQLAlchemy would do), as part of the timed work.
    """
    dialect = bench.engine.dialect
    names = list(rows[0])
    processors = [tbl.c[name].type._cached_bind_processor(dialect) for name in names]
    marker = "%s" if dialect.name == "postgresql" else "?"
    qualified = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    sql = (
        f"INSERT INTO {qualified} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)})"
    )
    params = [
        tuple(
            process(row[name]) if process is not None else row[name]
            for name, process in zip(names, processors, strict=True)
        )
        for row in rows
    ]
    connection = bench.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if dialect.name == "sqlite":
            cursor.execute("BEGIN")
        cursor.executemany(sql, params)
        connection.commit()
        cursor.close()
    finally:
        connection.close()


def run(url: str, count: int, seed: int) -> list[list[Any]]:
    """Import `count` rows both ways; print and return the table rows."""
    bench = open_bench(url)
    header(f"Bulk create of {count:,} customers (validation + audit) vs raw executemany", bench)
    scope = find_scopes(bench)["subsidiary"]
    principal = bench.principal(scope.user_id)
    tbl = bench.table()
    with bench.engine.connect() as connection:
        taken = set(connection.execute(select(tbl.c.uscc)).scalars())
        before = connection.execute(select(func.count()).select_from(tbl)).scalar_one()
        top = connection.execute(select(func.max(tbl.c.id))).scalar_one()
        audit_top = connection.execute(select(func.max(AUDIT.c.id))).scalar() or 0
    service_rows = import_rows(count, seed, taken)
    fields = list(bench.store.physical(bench.tenant.key).entity(ENTITY).fields)
    unit = Unit(scope.unit_id, scope.unit_key, "subsidiary", None, 1.0)
    users = {scope.unit_id: [principal.user_id]}
    raw_rows = list(
        customer_rows(fields, [unit], users, count, seed + 1, datetime.now(UTC), taken=taken)
    )
    try:
        with stopwatch() as service_time:
            result = bench.service.bulk_create(principal, ENTITY, service_rows)
        assert result.count == count
        _delete_since(bench, tbl, top, audit_top)
        with stopwatch() as raw_time:
            raw_insert(bench, tbl, raw_rows)
    finally:
        _delete_since(bench, tbl, top, audit_top)
        _vacuum(bench, tbl)
    service_rate = count / service_time[0]
    raw_rate = count / raw_time[0]
    share = service_rate / raw_rate
    rows = [
        [
            f"{before:,}",
            f"{count:,}",
            service_time[0],
            service_rate,
            raw_time[0],
            raw_rate,
            share,
            f"{verdict(share >= TARGET_SHARE)} (>= {TARGET_SHARE}x)",
        ]
    ]
    table(
        [
            "rows in table",
            "rows imported",
            "service s",
            "service rows/s",
            "raw executemany s",
            "raw rows/s",
            "service/raw",
            "target",
        ],
        rows,
    )
    return rows


def _delete_since(bench: Any, tbl: Any, top: int, audit_top: int) -> None:
    with bench.engine.begin() as connection:
        connection.execute(delete(tbl).where(tbl.c.id > top))
        connection.execute(
            delete(AUDIT).where(AUDIT.c.id > audit_top, AUDIT.c.tenant_id == bench.tenant.id)
        )


def _vacuum(bench: Any, tbl: Any) -> None:
    """Leave the table as the other benchmarks expect it: on PostgreSQL without dead rows.

    The imports were the newest rows; until VACUUM their dead index entries sit at
    the head of the newest-first index and slow every first page that walks it.
    """
    with bench.engine.connect() as connection:
        if bench.dialect == "postgresql":
            qualified = f'"{tbl.schema}"."{tbl.name}"'
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f"VACUUM (ANALYZE) {qualified}"
            )
        else:
            connection.exec_driver_sql(f'ANALYZE "{tbl.name}"')
            connection.commit()


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0], _extra)
    run(args.db, args.rows, args.seed)


if __name__ == "__main__":
    main()
