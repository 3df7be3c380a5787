"""Build the bench tenant: the seed configuration at a chosen scale, from a deterministic seed.

``python -m bench.generate --db URL --units 2000 --users 20000 --customers 1000000 --seed 1``
drops and recreates tenant ``bench``, imports the seed bundle into it (its org
units, configuration and entity tables, through the same migration hook as
``crm-platform config import``), grows the org tree to ``--units`` units in five
levels (group -> business units -> subsidiaries -> branches -> teams), adds
``--users`` users with unit-bound role assignments, and loads ``--customers``
customers with demo values (Chinese names, valid USCCs, districts, industries)
spread over the units and over three years of ``updated_at``.

The org units go through `runtime.org.create_unit` (closure and path kept by the
platform); users, role assignments and customers are loaded with Core
``executemany`` (the benchmarks measure the record service, not this loader),
after each customer's values went through the record service's value
validation, so the rows are what the service would have stored. The customer
table's indexes are dropped during the load and rebuilt after it, then the
statistics are refreshed.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, text, update

from bench.common import (
    ENTITY,
    TENANT_KEY,
    TENANTS,
    UNITS,
    USERS,
    open_bench,
    open_engine,
)
from crm_platform.metadata.bundles import import_bundle
from crm_platform.runtime.demo_values import SEED_BUNDLE, DemoValues
from crm_platform.runtime.migrations import MigrationHook
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.tables import RoleAssignment
from crm_platform.runtime.tenants import create_tenant, drop_tenant
from crm_platform.runtime.values import validate_values

ASSIGNMENTS: Table = RoleAssignment.__table__  # type: ignore[assignment]

# Share of the customers owned directly by a unit of each level; the rest of a
# subtree's customers sit in the units below it.
LEVEL_SHARE = {"group": 0.005, "business_unit": 0.025, "subsidiary": 0.12, "branch": 0.25}
LEVEL_SHARE["team"] = 1.0 - sum(LEVEL_SHARE.values())
# Business units differ in size; the largest is the "business unit (297,000)".
BU_WEIGHTS = (0.297, 0.27, 0.233, 0.2)
HISTORY_DAYS = 3 * 365
CHUNK = 10_000
SEED_KIND_OF_LEVEL = ("group", "business_unit", "subsidiary", "branch", "team")
# The role each level's head holds there (seed roles), and what most members of a team do.
HEAD_ROLE = {
    "group": "group_admin",
    "business_unit": "bu_head",
    "subsidiary": "subsidiary_manager",
    "branch": "subsidiary_manager",
    "team": "branch_sales_rep",
}


@dataclass
class Unit:
    """A unit of the bench tree as the generator plans it."""

    id: int
    key: str
    kind: str
    parent: Unit | None
    bu_weight: float
    children: list[Unit] = field(default_factory=list)


def plan_levels(generated: int) -> tuple[int, int, int, int]:
    """(business units, subsidiaries per BU, branches per subsidiary, teams) for `generated` units.

    The full scale (2,000 units) is 4 BUs x 5 subsidiaries x 8 branches and the
    rest teams; a small tenant (the smoke test) keeps every level with 2 of each.
    """
    if generated >= 4 + 20 + 160 + 160:
        return 4, 5, 8, generated - 184
    return 2, 2, 2, max(generated - 14, 8)


def build_tenant(engine: Engine) -> Any:
    """Drop the bench tenant if present, recreate it and import the seed bundle into it."""
    with engine.connect() as connection:
        exists = connection.execute(select(TENANTS.c.id).where(TENANTS.c.key == TENANT_KEY)).first()
    if exists is not None:
        drop_tenant(engine, TENANT_KEY)
    manifest = json.loads((SEED_BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    tenant = create_tenant(engine, TENANT_KEY, manifest["tenant"]["name"])
    hooks = [MigrationHook(engine)]
    import_bundle(engine, TENANT_KEY, SEED_BUNDLE, author="bench.generate", hooks=hooks)
    return tenant


def grow_tree(engine: Engine, tenant_id: int, total_units: int) -> list[Unit]:
    """Add generated units (keys ``g_...``) under the seed's group until there are `total_units`."""
    kinds = frozenset(SEED_KIND_OF_LEVEL)
    with engine.begin() as connection:
        seed_units = connection.execute(
            select(UNITS.c.id, UNITS.c.key, UNITS.c.parent_id).where(UNITS.c.tenant_id == tenant_id)
        ).all()
        root_row = next(row for row in seed_units if row.parent_id is None)
        root = Unit(root_row.id, root_row.key, "group", None, 1.0)
        bus, subs, branches, teams = plan_levels(max(total_units - len(seed_units), 0))
        weights = _bu_weights(bus)
        created: list[Unit] = [root]

        def add(parent: Unit, key: str, kind: str, weight: float) -> Unit:
            name = {"en": key.replace("_", " ").title(), "zh-Hans": key, "zh-Hant": key}
            row = create_unit(
                connection,
                tenant_id,
                key,
                name,
                kind,
                parent.id,
                legal_entity=kind == "subsidiary",
                kinds=kinds,
            )
            unit = Unit(row.id, key, kind, parent, weight)
            parent.children.append(unit)
            created.append(unit)
            return unit

        branch_units: list[Unit] = []
        for b in range(bus):
            bu = add(root, f"g_bu{b + 1}", "business_unit", weights[b])
            for s in range(subs):
                sub = add(bu, f"g_bu{b + 1}_s{s + 1}", "subsidiary", weights[b])
                for r in range(branches):
                    branch_units.append(
                        add(sub, f"g_bu{b + 1}_s{s + 1}_b{r + 1}", "branch", weights[b])
                    )
        # Teams are dealt out in proportion to the BUs' weights, so team sizes stay alike.
        dealt = _deal(teams, [u.bu_weight for u in branch_units])
        for branch, count in zip(branch_units, dealt, strict=True):
            for t in range(count):
                add(branch, f"{branch.key}_t{t + 1}", "team", branch.bu_weight)
    return created


def _bu_weights(count: int) -> list[float]:
    weights = list(BU_WEIGHTS[:count]) + [BU_WEIGHTS[-1]] * max(count - len(BU_WEIGHTS), 0)
    total = sum(weights)
    return [w / total for w in weights]


def _deal(count: int, weights: Sequence[float]) -> list[int]:
    """`count` items over slots in proportion to `weights` (largest remainders)."""
    total = sum(weights)
    exact = [count * w / total for w in weights]
    dealt = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (dealt[i] - exact[i], i))
    for i in order[: count - sum(dealt)]:
        dealt[i] += 1
    return dealt


def unit_weights(units: Sequence[Unit]) -> list[float]:
    """The probability that a customer is owned directly by each unit."""
    by_kind: dict[tuple[str, float], int] = {}
    for unit in units:
        by_kind[(unit.kind, unit.bu_weight)] = by_kind.get((unit.kind, unit.bu_weight), 0) + 1
    weights = []
    for unit in units:
        share = LEVEL_SHARE[unit.kind]
        if unit.kind == "group":
            weights.append(share)
        else:
            weights.append(share * unit.bu_weight / by_kind[(unit.kind, unit.bu_weight)])
    return weights


def add_users(
    engine: Engine, tenant_id: int, units: Sequence[Unit], count: int, seed: int
) -> dict[int, list[int]]:
    """`count` users: a head per unit, the rest in teams; returns user ids by primary unit.

    Grants follow the seed's roles: each head holds the role of their level at
    their unit, team members are branch sales reps at their branch, and a few
    analysts, finance and service people hold roles at several units (the matrix),
    including users with five assignments for the access benchmark.
    """
    rng = random.Random(seed)
    values = DemoValues(seed)
    teams = [u for u in units if u.kind == "team"] or list(units)
    primary: list[Unit] = list(units)
    primary += [teams[i % len(teams)] for i in range(max(count - len(units), 0))]
    now = datetime.now(UTC)
    rows = [
        {
            "tenant_id": tenant_id,
            "email": f"u{n:05d}@bench.example",
            "display_name": values.person_name(),
            "password_hash": "!",  # no password: benchmarks set one for the users they sign in
            "primary_unit_id": unit.id,
            "active": True,
            "locale": "zh-Hans",
            "created_at": now,
        }
        for n, unit in enumerate(primary[:count])
    ]
    with engine.begin() as connection:
        _executemany(connection, USERS, rows)
        ids = connection.execute(
            select(USERS.c.id).where(USERS.c.tenant_id == tenant_id).order_by(USERS.c.id)
        ).scalars()
        user_ids = list(ids)
        by_unit: dict[int, list[int]] = {}
        grants: set[tuple[int, str, int]] = set()
        bus = [u for u in units if u.kind == "business_unit"]
        subsidiaries = [u for u in units if u.kind == "subsidiary"]
        for user_id, unit in zip(user_ids, primary, strict=False):
            by_unit.setdefault(unit.id, []).append(user_id)
            head = len(by_unit[unit.id]) == 1
            if head:
                grants.add((user_id, HEAD_ROLE[unit.kind], unit.id))
                connection.execute(
                    update(UNITS).where(UNITS.c.id == unit.id).values(head_user_id=user_id)
                )
            elif unit.kind == "team" and unit.parent is not None:
                grants.add((user_id, "branch_sales_rep", unit.parent.id))
                # One in fifty works across units: finance or analysis for a few subsidiaries.
                if rng.random() < 0.02 and subsidiaries:
                    role = rng.choice(("finance", "analyst", "service_agent"))
                    for sub in rng.sample(subsidiaries, min(4, len(subsidiaries))):
                        grants.add((user_id, role, sub.id))
            elif bus and rng.random() < 0.01:
                grants.add((user_id, "analyst", rng.choice(bus).id))
        _executemany(
            connection,
            ASSIGNMENTS,
            [
                {"tenant_id": tenant_id, "user_id": u, "role_key": r, "unit_id": unit}
                for u, r, unit in sorted(grants)
            ],
        )
        connection.execute(
            TENANTS.update()
            .where(TENANTS.c.id == tenant_id)
            .values(security_version=TENANTS.c.security_version + 1)
        )
    return by_unit


def customer_rows(
    fields: Sequence[Any],
    units: Sequence[Unit],
    users_by_unit: dict[int, list[int]],
    count: int,
    seed: int,
    now: datetime,
    taken: set[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """`count` customers as table rows, validated and normalised like the record service does.

    USCCs are unique (a code already drawn, or in `taken`, is drawn again).
    """
    rng = random.Random(seed)
    values = DemoValues(seed)
    weights = unit_weights(units)
    cumulative = _cumulative(weights)
    seen: set[str] = taken if taken is not None else set()
    money = {f.key for f in fields if f.type == "money"}
    produced = 0
    while produced < count:
        record = values.customer()
        if record["uscc"] in seen:
            continue
        normalized, problems = validate_values(fields, record, "en", partial=False)
        if problems:
            raise SystemExit(f"demo values failed validation: {problems} for {record}")
        seen.add(record["uscc"])
        unit = units[_pick(cumulative, rng.random())]
        owners = users_by_unit.get(unit.id)
        updated = now - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400))
        created = updated - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400 // 4))
        row: dict[str, Any] = {}
        for key, value in normalized.items():
            if key in money:
                amount = value.get("amount") if isinstance(value, dict) else value
                row[key] = amount
                row[key + "_currency"] = (
                    (value.get("currency") if isinstance(value, dict) else None) or "CNY"
                    if amount is not None
                    else None
                )
            else:
                row[key] = value
        row.update(
            owner_user_id=rng.choice(owners) if owners and rng.random() < 0.95 else None,
            owning_unit_id=unit.id,
            created_by=owners[0] if owners else None,
            created_at=created,
            updated_by=owners[0] if owners else None,
            updated_at=updated,
            version=1,
            deleted_at=None,
        )
        produced += 1
        yield row


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return [value / total for value in out]


def _pick(cumulative: Sequence[float], point: float) -> int:
    import bisect

    return min(bisect.bisect_left(cumulative, point), len(cumulative) - 1)


def load_customers(
    engine: Engine, table: Table, rows: Iterator[dict[str, Any]], total: int
) -> None:
    """Insert the rows in chunks, with the table's indexes dropped during the load."""
    indexes = list(table.indexes)
    with engine.begin() as connection:
        for index in indexes:
            index.drop(connection, checkfirst=True)
    started = time.perf_counter()
    loaded = 0
    batch: list[dict[str, Any]] = []
    statement = insert(table)
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            with engine.begin() as connection:
                connection.execute(statement, batch)
            loaded += len(batch)
            batch = []
            if loaded % 100_000 == 0:
                rate = loaded / (time.perf_counter() - started)
                print(f"  {loaded:,} / {total:,} customers ({rate:,.0f} rows/s)", flush=True)
    if batch:
        with engine.begin() as connection:
            connection.execute(statement, batch)
    print(f"  loaded {total:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with engine.begin() as connection:
        for index in indexes:
            index.create(connection)
    print(f"  rebuilt {len(indexes)} indexes in {time.perf_counter() - started:.1f} s", flush=True)


def refresh_statistics(engine: Engine) -> None:
    """ANALYZE (and on PostgreSQL VACUUM, so index-only scans see an all-visible table)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE)")
            )
        else:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def _executemany(connection: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(table), rows[start : start + CHUNK])


def generate(url: str, units: int, users: int, customers: int, seed: int) -> None:
    """Build the bench tenant at this scale in the database at `url` (replacing an earlier one)."""
    engine = open_engine(url)
    step = time.perf_counter()
    tenant = build_tenant(engine)
    print(f"tenant {TENANT_KEY!r} with the seed configuration ({_since(step)})", flush=True)
    step = time.perf_counter()
    tree = grow_tree(engine, tenant.id, units)
    with engine.connect() as connection:
        unit_count = connection.execute(
            select(func.count()).select_from(UNITS).where(UNITS.c.tenant_id == tenant.id)
        ).scalar_one()
    print(f"{unit_count:,} org units ({_since(step)})", flush=True)
    step = time.perf_counter()
    users_by_unit = add_users(engine, tenant.id, tree, users, seed)
    print(f"{sum(map(len, users_by_unit.values())):,} users ({_since(step)})", flush=True)
    bench = open_bench(url)
    table = bench.table()
    fields = list(bench.store.physical(TENANT_KEY).entity(ENTITY).fields)
    now = datetime.now(UTC)
    rows = customer_rows(fields, tree, users_by_unit, customers, seed, now)
    load_customers(engine, table, rows, customers)
    bench.engine.dispose()
    step = time.perf_counter()
    refresh_statistics(engine)
    print(f"statistics refreshed ({_since(step)})", flush=True)
    engine.dispose()


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def main() -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:////tmp/crm_bench.sqlite3")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    generate(args.db, args.units, args.users, args.customers, args.seed)
    print(f"done in {_since(started)}")


if __name__ == "__main__":
    main()
