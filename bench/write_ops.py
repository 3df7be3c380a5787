"""Creating and updating one customer through the record service, with validation and audit.

``python -m bench.write_ops --db URL`` creates customers one at a time as the
head of a subsidiary (every field validated: name, USCC check digits, region,
choices, money, phone; the USCC's uniqueness checked; an audit entry appended;
the event published after COMMIT), then updates each of them once at the
version it read. Beside it, the floor: the same INSERT (or UPDATE) and its audit
entry written by hand through SQLAlchemy Core in one transaction, no checks.
Target (issue 3): the service's median under 5 ms on SQLite. The created rows
are deleted afterwards, so the tenant keeps its size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, update

from bench.common import (
    ENTITY,
    find_scopes,
    header,
    median_ms,
    open_bench,
    parse_args,
    ratio,
    stopwatch,
    table,
    verdict,
)
from crm_platform.runtime.audit import AUDIT
from crm_platform.runtime.demo_values import DemoValues

TARGET_MS = 5.0


def run(url: str, runs: int, seed: int = 7) -> list[list[Any]]:
    """Measure create and update; print and return the table rows."""
    bench = open_bench(url)
    header("Create and update one customer (validation + audit)", bench)
    scope = find_scopes(bench)["subsidiary"]
    principal = bench.principal(scope.user_id)
    service = bench.service
    tbl = bench.table()
    taken = _taken_codes(bench, tbl)
    values = DemoValues(seed)
    samples: dict[str, list[float]] = {k: [] for k in ("create", "floor_c", "update", "floor_u")}
    created: list[tuple[int, int]] = []
    floor_ids: list[int] = []
    warmup = 3
    for round_ in range(warmup + runs):
        record = _fresh(values, taken)
        with stopwatch() as elapsed:
            result = service.create(principal, ENTITY, record)
        created.append((result["id"], result["version"]))
        floor_row = _columns(_fresh(values, taken), scope.unit_id, principal.user_id)
        with stopwatch() as floor_elapsed:
            floor_ids.append(_floor_create(bench, tbl, floor_row, principal.user_id))
        if round_ >= warmup:
            samples["create"].append(elapsed[0])
            samples["floor_c"].append(floor_elapsed[0])
    for round_, (record_id, version) in enumerate(created):
        changes = {"customer_level": "a", "employee_count": 1000 + round_}
        with stopwatch() as elapsed:
            service.update(principal, ENTITY, record_id, changes, version)
        with stopwatch() as floor_elapsed:
            _floor_update(bench, tbl, floor_ids[round_], changes, principal.user_id)
        if round_ >= warmup:
            samples["update"].append(elapsed[0])
            samples["floor_u"].append(floor_elapsed[0])
    _clean_up(bench, tbl, [i for i, _ in created] + floor_ids)
    rows = []
    for case, key, floor in (("create", "create", "floor_c"), ("update", "update", "floor_u")):
        service_ms, floor_ms = median_ms(samples[key]), median_ms(samples[floor])
        rows.append(
            [
                case,
                service_ms,
                floor_ms,
                ratio(service_ms, floor_ms),
                f"{verdict(service_ms < TARGET_MS)} (< {TARGET_MS:.0f} ms)",
            ]
        )
    table(["case", "service ms", "Core floor ms", "service/floor", "target"], rows)
    return rows


def _taken_codes(bench: Any, tbl: Any) -> set[str]:
    from sqlalchemy import select

    with bench.engine.connect() as connection:
        return set(connection.execute(select(tbl.c.uscc)).scalars())


def _fresh(values: DemoValues, taken: set[str]) -> dict[str, Any]:
    while True:
        record = values.customer()
        if record["uscc"] not in taken:
            taken.add(record["uscc"])
            return record


def _columns(record: dict[str, Any], unit_id: int, user_id: int | None) -> dict[str, Any]:
    row = dict(record)
    row["annual_revenue_currency"] = "CNY"
    row["phone"] = record["phone"]
    row.update(owner_user_id=user_id, owning_unit_id=unit_id)
    return row


def _floor_create(bench: Any, tbl: Any, row: dict[str, Any], actor: int | None) -> int:
    now = datetime.now(UTC)
    with bench.engine.begin() as connection:
        record_id = connection.execute(
            insert(tbl)
            .values(
                **row,
                created_at=now,
                updated_at=now,
                created_by=actor,
                updated_by=actor,
                version=1,
            )
            .returning(tbl.c.id)
        ).scalar_one()
        connection.execute(
            insert(AUDIT).values(
                tenant_id=bench.tenant.id,
                entity=ENTITY,
                record_id=record_id,
                action="create",
                actor_id=actor,
                at=now,
                changes={k: [None, str(v)] for k, v in row.items()},
            )
        )
    return int(record_id)


def _floor_update(
    bench: Any, tbl: Any, record_id: int, changes: dict[str, Any], actor: int | None
) -> None:
    now = datetime.now(UTC)
    with bench.engine.begin() as connection:
        connection.execute(
            update(tbl)
            .where(tbl.c.id == record_id, tbl.c.version == 1)
            .values(**changes, version=tbl.c.version + 1, updated_at=now, updated_by=actor)
        )
        connection.execute(
            insert(AUDIT).values(
                tenant_id=bench.tenant.id,
                entity=ENTITY,
                record_id=record_id,
                action="update",
                actor_id=actor,
                at=now,
                changes={k: [None, v] for k, v in changes.items()},
            )
        )


def _clean_up(bench: Any, tbl: Any, ids: list[int]) -> None:
    with bench.engine.begin() as connection:
        connection.execute(delete(tbl).where(tbl.c.id.in_(ids)))
        connection.execute(
            delete(AUDIT).where(
                AUDIT.c.tenant_id == bench.tenant.id,
                AUDIT.c.entity == ENTITY,
                AUDIT.c.record_id.in_(ids),
            )
        )


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0])
    run(args.db, args.runs)


if __name__ == "__main__":
    main()
