"""Shared helpers of the benchmarks: engines, the bench tenant's scopes, timing and reporting.

Every benchmark times the record service beside a floor measured in the same run
(a hand-written statement through SQLAlchemy Core, and the raw DB-API cursor),
interleaving the contenders run by run so that caches and the machine's state
treat them alike, and reports medians. Benchmarks report; they are not tests:
a missed target prints MISS, it does not fail the process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import OrgUnit, OrgUnitClosure, Tenant
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.migrations import MigrationHook
from crm_platform.runtime.policy import AccessPolicy, TenantState, UnitSubtreePolicy
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_reads import read_tenant
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tables import User
from crm_platform.runtime.users import principal_for

TENANT_KEY = "bench"
ENTITY = "customer"
RUNS = 30
WARMUP = 3
MIN_RUNS = 3
BUDGET_S = 30.0
DEFAULT_SQLITE_URL = "sqlite:////tmp/crm_bench.sqlite3"

UNITS = OrgUnit.__table__
CLOSURE = OrgUnitClosure.__table__
USERS = User.__table__
TENANTS = Tenant.__table__

# Sizes the table names for each scope: the benchmark picks the unit whose
# subtree holds the number of customers closest to these (scaled to the tenant's size).
SCOPE_SHARES = {"team": 338 / 1_000_000, "subsidiary": 57_000 / 1_000_000, "business_unit": 0.297}
SCOPE_ORDER = ("team", "subsidiary", "business_unit", "tenant")


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The common command line: ``--db URL`` and ``--runs N`` (plus a benchmark's own options)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", default=DEFAULT_SQLITE_URL, help="database URL of the bench tenant")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per case (median)")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist (SQLite: nothing)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    name = parsed.database
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def open_engine(url: str) -> Engine:
    """The platform's engine on the bench database, with the platform tables in place."""
    ensure_database(url)
    engine = make_engine(url)
    create_platform_tables(engine)
    return engine


@dataclass
class Bench:
    """The bench tenant and a record service on it, as every benchmark needs them."""

    engine: Engine
    store: MetadataStore
    tables: EntityTables
    service: RecordService
    tenant: TenantState

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def table(self) -> Any:
        """The customer `Table` of the bench tenant."""
        physical = self.store.physical(self.tenant.key)
        return self.tables.for_tenant(self.tenant, self.dialect, physical)[ENTITY]

    def with_policy(self, policy: AccessPolicy) -> RecordService:
        """Another record service on the same store and tables, under `policy`."""
        return RecordService(self.engine, self.store, self.tables, policy, EventBus())

    def principal(self, user_id: int, unit_id: int | None = None) -> Principal:
        with self.engine.connect() as connection:
            return principal_for(connection, user_id, unit_id=unit_id, locale="en")


def open_bench(url: str, policy: AccessPolicy | None = None) -> Bench:
    """The bench tenant built by `bench.generate`, with a record service under `policy`."""
    engine = open_engine(url)
    store = MetadataStore(engine, hooks=[MigrationHook(engine)])
    tables = EntityTables(store)
    service = RecordService(engine, store, tables, policy or UnitSubtreePolicy(), EventBus())
    with engine.connect() as connection:
        tenant_id = connection.execute(
            select(TENANTS.c.id).where(TENANTS.c.key == TENANT_KEY)
        ).scalar()
        if tenant_id is None:
            raise SystemExit(f"no bench tenant in {url}; run `python -m bench.generate --db {url}`")
        tenant, _unit = read_tenant(connection, tenant_id, None)
    return Bench(engine, store, tables, service, tenant)


@dataclass(frozen=True)
class Scope:
    """A unit the benchmarks list at, the customers in its subtree and a user working there."""

    name: str
    unit_id: int
    unit_key: str
    rows: int
    user_id: int


def find_scopes(bench: Bench) -> dict[str, Scope]:
    """A team, a subsidiary, a business unit and the tenant, sized like the issue's table.

    Each is the generated unit of that kind whose subtree holds the number of
    customers closest to the issue's figure scaled to this tenant's size; its
    user is the unit's head (a user whose primary unit it is).
    """
    table = bench.table()
    with bench.engine.connect() as connection:
        per_unit = dict(
            connection.execute(
                select(table.c.owning_unit_id, func.count())
                .where(table.c.deleted_at.is_(None))
                .group_by(table.c.owning_unit_id)
            ).all()
        )
        closure = connection.execute(
            select(CLOSURE.c.ancestor_id, CLOSURE.c.descendant_id).where(
                CLOSURE.c.tenant_id == bench.tenant.id
            )
        ).all()
        units = connection.execute(
            select(UNITS.c.id, UNITS.c.key, UNITS.c.kind, UNITS.c.parent_id, UNITS.c.head_user_id)
            .where(UNITS.c.tenant_id == bench.tenant.id)
            .order_by(UNITS.c.id)
        ).all()
        heads = dict(
            connection.execute(
                select(USERS.c.primary_unit_id, func.min(USERS.c.id))
                .where(USERS.c.tenant_id == bench.tenant.id)
                .group_by(USERS.c.primary_unit_id)
            ).all()
        )
    subtree_rows: dict[int, int] = {}
    for ancestor, descendant in closure:
        subtree_rows[ancestor] = subtree_rows.get(ancestor, 0) + per_unit.get(descendant, 0)
    total = sum(per_unit.values())
    scopes: dict[str, Scope] = {}
    for name, share in SCOPE_SHARES.items():
        candidates = [u for u in units if u.kind == name and u.key.startswith("g_")]
        best = min(candidates, key=lambda u: (abs(subtree_rows.get(u.id, 0) - share * total), u.id))
        scopes[name] = Scope(
            name,
            best.id,
            best.key,
            subtree_rows.get(best.id, 0),
            best.head_user_id or heads[best.id],
        )
    root = next(u for u in units if u.parent_id is None)
    scopes["tenant"] = Scope(
        "tenant",
        root.id,
        root.key,
        subtree_rows.get(root.id, 0),
        root.head_user_id or heads[root.id],
    )
    return {name: scopes[name] for name in SCOPE_ORDER}


# -- timing ------------------------------------------------------------------------------------


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000.0


def interleaved(
    contenders: Mapping[str, Callable[[], Any]],
    runs: int = RUNS,
    warmup: int = WARMUP,
    budget_s: float = BUDGET_S,
) -> dict[str, float]:
    """Median milliseconds of each contender, run in turn `runs` times after `warmup` rounds.

    A case whose round takes long (a count over a million rows without a covering
    index) gets fewer runs, at least `MIN_RUNS`, so one slow case cannot stall the
    whole benchmark; the key ``"runs"`` says how many rounds were timed.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    planned = runs
    round_ = 0
    while round_ < warmup + planned:
        started_round = time.perf_counter()
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            if round_ >= warmup:
                samples[name].append(elapsed)
        if round_ == 0:
            per_round = time.perf_counter() - started_round
            affordable = int(budget_s / per_round) if per_round > 0 else runs
            planned = max(MIN_RUNS, min(runs, affordable))
            if planned < runs:
                warmup = min(warmup, 1)
        round_ += 1
    result = {name: median_ms(values) for name, values in samples.items()}
    result["runs"] = float(planned)
    return result


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...``; afterwards ``t[0]`` is the elapsed seconds."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


# -- reporting ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio(value: float, floor: float) -> float:
    return value / floor if floor > 0 else float("inf")


def header(title: str, bench: Bench | None = None, url: str | None = None) -> None:
    """Print what, where and when, so a pasted table says how it was produced."""
    print(f"\n## {title}")
    where = bench.dialect if bench is not None else (url or "")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"database: {where}; machine: {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average {load} (other work on the machine skews the medians)"
    )


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (numbers to two decimals)."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(value) for value in row) + " |")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value < 1:
            return f"{value:.3f}"
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
