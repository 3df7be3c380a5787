"""The demo tenant: the seed configuration, a demo user for every seed role, and demo records.

`install_demo(engine)` is what `crm-platform init --demo` (and so `make run`)
does: it creates the tenant from the seed bundle (publishing creates the entity
tables), the users of `DEMO_USERS` with their unit-bound roles, and a few
thousand related records spread over the sales branches. A tenant that already
exists is left as it is, so running it again keeps the data people entered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from crm_platform.metadata.bundles import import_bundle
from crm_platform.metadata.org_tree import UnitRow, units_by_key
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.demo_records import SUBSIDIARY_LINES, Branch, DemoRecords, deal
from crm_platform.runtime.demo_values import (
    DEMO_PASSWORD,
    DEMO_USERS,
    SEED_BUNDLE,
    DemoUser,
    DemoValues,
)
from crm_platform.runtime.migrations import MigrationHook
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tenants import create_tenant, drop_tenant
from crm_platform.runtime.users import assign_role, create_user, find_user_by_email

DEFAULT_TENANT_KEY = "huachen"
DEFAULT_CUSTOMERS = 2000
DEFAULT_SEED = 2026
AUTHOR = "crm-platform init"
"""Recorded as the author of the imported configuration versions."""

EQUIPMENT_BU = "bu_equipment"
"""The business unit whose layer extends customers and cases with installed-base fields."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SignIn:
    """One demo sign-in as printed for the person who ran init."""

    email: str
    display_name: str
    role: str
    unit_key: str
    unit_name: Mapping[str, str]
    locale: str


@dataclass(frozen=True)
class DemoTenant:
    """What `install_demo` found or built."""

    key: str
    created: bool
    sign_ins: tuple[SignIn, ...]
    password: str = DEMO_PASSWORD
    counts: Mapping[str, int] = field(default_factory=dict)
    """Records created per entity key (empty when the tenant already existed)."""
    seconds: float = 0.0


def tenant_exists(connection: Connection, key: str) -> bool:
    """True when a tenant with this key exists."""
    return connection.execute(select(Tenant.id).where(Tenant.key == key)).first() is not None


def install_demo(
    engine: Engine,
    records: RecordService,
    tenant_key: str = DEFAULT_TENANT_KEY,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    bundle: Path = SEED_BUNDLE,
    progress: Progress | None = None,
) -> DemoTenant:
    """Create the demo tenant with users and records, unless a tenant with the key exists.

    `records` is the record service of the platform on `engine` (`build_platform`);
    the platform tables must exist (`upgrade_database`). A failure part-way drops
    the half-built tenant again, so the next run starts clean instead of keeping
    a tenant without users or data.
    """
    say = progress or (lambda _message: None)
    with engine.connect() as connection:
        if tenant_exists(connection, tenant_key):
            return DemoTenant(tenant_key, False, demo_sign_ins(connection, tenant_key))
    started = time.perf_counter()
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    tenant = create_tenant(engine, tenant_key, manifest["tenant"]["name"])
    try:
        import_bundle(engine, tenant_key, bundle, author=AUTHOR, hooks=[MigrationHook(engine)])
        say(f"tenant {tenant_key}: seed configuration imported, entity tables created")
        with engine.begin() as connection:
            units = units_by_key(connection, tenant.id)
            user_ids = create_demo_users(connection, tenant.id, units)
        say(f"{len(user_ids)} demo users created")
        counts = create_demo_records(
            records, tenant.id, units, user_ids, customers=customers, seed=seed, today=today
        )
        with engine.connect() as connection:
            sign_ins = demo_sign_ins(connection, tenant_key)
    except BaseException:
        drop_tenant(engine, tenant_key)
        raise
    return DemoTenant(
        tenant_key, True, sign_ins, counts=counts, seconds=time.perf_counter() - started
    )


def create_demo_users(
    connection: Connection,
    tenant_id: int,
    units: Mapping[str, UnitRow],
    users: Sequence[DemoUser] = DEMO_USERS,
) -> dict[str, int]:
    """Each demo user with their role at their unit; returns user ids by email."""
    ids: dict[str, int] = {}
    for demo in users:
        unit_id = units[demo.unit].id
        user = create_user(
            connection,
            tenant_id,
            demo.email,
            demo.display_name,
            DEMO_PASSWORD,
            unit_id,
            locale=demo.locale,
        )
        assign_role(connection, user.id, demo.role, unit_id)
        ids[user.email] = user.id
    return ids


def demo_branches(
    units: Mapping[str, UnitRow],
    user_ids: Mapping[str, int],
    users: Sequence[DemoUser] = DEMO_USERS,
) -> list[Branch]:
    """The sales branches (units with demo sales reps), ordered by key, with who works there."""
    reps: dict[str, list[int]] = {}
    agents: dict[str, list[int]] = {}
    for demo in users:
        if demo.role == "branch_sales_rep":
            reps.setdefault(demo.unit, []).append(user_ids[demo.email])
        elif demo.role == "service_agent":
            agents.setdefault(demo.unit, []).append(user_ids[demo.email])
    branches = []
    for key in sorted(reps):
        unit = units[key]
        subsidiary = unit.parent_key or ""
        branches.append(
            Branch(
                unit_id=unit.id,
                key=key,
                lines=SUBSIDIARY_LINES[subsidiary],
                reps=tuple(reps[key]),
                agents=tuple(agents.get(key, ())),
                equipment=EQUIPMENT_BU in _ancestors(units, key),
            )
        )
    return branches


def create_demo_records(
    records: RecordService,
    tenant_id: int,
    units: Mapping[str, UnitRow],
    user_ids: Mapping[str, int],
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
) -> dict[str, int]:
    """Master data and `customers` customers (with their business) over the sales branches."""
    builder = DemoRecords(records, tenant_id, DemoValues(seed), today or datetime.now(UTC).date())
    builder.create_master_data()
    branches = demo_branches(units, user_ids)
    for branch, count in zip(branches, deal(customers, len(branches)), strict=True):
        builder.create_branch(branch, count)
    return dict(builder.counts)


def demo_sign_ins(connection: Connection, tenant_key: str) -> tuple[SignIn, ...]:
    """The demo users that exist in the tenant, in the order of `DEMO_USERS`."""
    tenant_id = connection.execute(select(Tenant.id).where(Tenant.key == tenant_key)).scalar_one()
    units = units_by_key(connection, tenant_id)
    sign_ins = []
    for demo in DEMO_USERS:
        user = find_user_by_email(connection, tenant_id, demo.email)
        if user is None or demo.unit not in units:
            continue
        sign_ins.append(
            SignIn(
                email=user.email,
                display_name=user.display_name,
                role=demo.role,
                unit_key=demo.unit,
                unit_name=dict(units[demo.unit].name),
                locale=user.locale,
            )
        )
    return tuple(sign_ins)


def _ancestors(units: Mapping[str, UnitRow], key: str) -> list[str]:
    chain = []
    current: str | None = units[key].parent_key
    while current is not None:
        chain.append(current)
        current = units[current].parent_key
    return chain
