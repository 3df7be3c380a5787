"""A published world for the security tests: a unit tree, roles, users and the `RolePolicy`.

Tenant ``acme``::

    root (group)
    ├── parent (business_unit)
    │   ├── mid (subsidiary)          <- where the conformance users hold their roles
    │   │   ├── child (branch)
    │   │   │   └── squad (team)
    │   │   └── crew (team)
    │   └── sibling (subsidiary)
    └── far (business_unit)

Tenant ``beta`` has one unit. Entities: ``account`` (user-owned, a field of the
masking types), ``product`` (master, with a ``channel``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, text

import tests.runtime.records_world  # noqa: F401 - installs the values stand-in until values.py lands
from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime import users as users_module
from crm_platform.runtime.access import RolePolicy
from crm_platform.runtime.entity_tables import EntityTables, create_entity_tables
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import create_tenant

LEVELS = ("none", "own", "unit", "unit_and_below", "tenant")
PRIVILEGES = ("create", "read", "update", "delete", "assign", "share", "export")

TREE: tuple[tuple[str, str, str | None], ...] = (
    ("root", "group", None),
    ("parent", "business_unit", "root"),
    ("mid", "subsidiary", "parent"),
    ("child", "branch", "mid"),
    ("squad", "team", "child"),
    ("crew", "team", "mid"),
    ("sibling", "subsidiary", "parent"),
    ("far", "business_unit", "root"),
)


def label(en: str) -> dict[str, str]:
    """A localized label with the languages the validator wants."""
    return {"en": en, "zh-Hans": en}


def _field(key: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": label(key), "type": type_, **extra}


ACCOUNT = {
    "kind": "entity",
    "key": "account",
    "label": label("Account"),
    "plural_label": label("Accounts"),
    "ownership": "user_owned",
    "title_field": "name",
    "search_fields": ["name", "secret"],
    "fields": [
        _field("name", "text", required=True, sensitive=True),
        _field(
            "tier",
            "choice",
            options=[{"key": "a", "label": label("A")}, {"key": "b", "label": label("B")}],
        ),
        _field("mobile", "phone", sensitive=True),
        _field("email", "email", sensitive=True),
        _field("amount", "money", scale=2, sensitive=True),
        _field("secret", "text", sensitive=True),
        _field("parent_account", "reference", target="account", on_delete="set_null"),
    ],
}

PRODUCT = {
    "kind": "entity",
    "key": "product",
    "label": label("Product"),
    "plural_label": label("Products"),
    "ownership": "master",
    "title_field": "name",
    "fields": [
        _field("name", "text", required=True),
        _field(
            "channel",
            "choice",
            options=[
                {"key": "retail", "label": label("Retail")},
                {"key": "wholesale", "label": label("Wholesale")},
            ],
        ),
        _field("price", "money", scale=2),
    ],
}


def role(key: str, privileges: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """A role document."""
    return {"kind": "role", "key": key, "label": label(key), "privileges": dict(privileges)}


def level_role(level: str) -> dict[str, Any]:
    """``all_<level>``: every privilege on accounts at `level`."""
    return role(f"all_{level}", {"account": dict.fromkeys(PRIVILEGES, level)})


BASE_DOCUMENTS: list[dict[str, Any]] = [
    ACCOUNT,
    PRODUCT,
    *(level_role(level) for level in LEVELS),
    role("reader_own", {"account": {"read": "own", "update": "own", "export": "own"}}),
    role("assigner", {"account": {"read": "own", "update": "own", "assign": "tenant"}}),
    role("product_admin", {"product": dict.fromkeys(PRIVILEGES, "tenant")}),
]


def _create_tables(
    connection: Connection, tenant: Tenant, before: Configuration | None, after: Configuration
) -> None:
    create_entity_tables(connection, tenant, after)


@dataclass
class SecurityWorld:
    """Tenants, units, users and a record service with the real policy."""

    engine: Engine
    store: MetadataStore
    service: RecordService
    policy: RolePolicy
    tenant: Tenant
    other_tenant: Tenant
    units: dict[str, int]
    users: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def principal(self, user: str, unit: str | None = None) -> Principal:
        """The principal of a user (assignments are read by the policy from the database)."""
        with self.engine.connect() as connection:
            return users_module.principal_for(
                connection,
                self.users[user],
                unit_id=None if unit is None else self.units[unit],
                locale="en",
            )

    def system(self, tenant: Tenant | None = None) -> Principal:
        """The audited system principal of a tenant."""
        return Principal.system((tenant or self.tenant).id, "security test fixture")

    def add_user(
        self,
        name: str,
        unit: str,
        roles: Sequence[tuple[str, str]] = (),
        memberships: Sequence[str] = (),
        tenant: Tenant | None = None,
    ) -> int:
        """A user at `unit` holding (role, unit key) assignments, member of more units."""
        tenant = tenant or self.tenant
        with self.engine.begin() as connection:
            user_id = connection.execute(
                insert(User.__table__)
                .values(
                    tenant_id=tenant.id,
                    email=f"{name}@example.com",
                    display_name=name,
                    password_hash="!",
                    primary_unit_id=self.units[unit],
                    locale="en",
                    created_at=datetime.now(UTC),
                )
                .returning(User.__table__.c.id)
            ).scalar_one()
            for role_key, role_unit in roles:
                users_module.assign_role(connection, user_id, role_key, self.units[role_unit])
            for member_of in memberships:
                users_module.add_membership(connection, user_id, self.units[member_of])
        self.users[name] = user_id
        return user_id

    def account(self, unit: str, owner: str | None = None, **values: Any) -> dict[str, Any]:
        """An account created by the system principal, owned by `unit` (and `owner`)."""
        self.serial += 1
        full = {
            "name": f"Account {self.serial}",
            "owning_unit_id": self.units[unit],
            "owner_user_id": None if owner is None else self.users[owner],
            **values,
        }
        return self.service.create(self.system(), "account", full)

    def current(self, entity: str, record_id: int) -> dict[str, Any]:
        """The record as the system sees it (for its version)."""
        return self.service.get(self.system(), entity, record_id)


def build_security_world(
    engine: Engine, documents: Sequence[Mapping[str, Any]] | None = None
) -> SecurityWorld:
    """Publish `documents` (default `BASE_DOCUMENTS`) into acme and beta, with the unit tree."""
    store = MetadataStore(engine, hooks=[_create_tables])
    acme = create_tenant(engine, "acme", {"en": "Acme"})
    beta = create_tenant(engine, "beta", {"en": "Beta"})
    units: dict[str, int] = {}
    kinds = ("group", "business_unit", "subsidiary", "branch", "department", "team")
    with engine.begin() as connection:
        for key, kind, parent in TREE:
            units[key] = create_unit(
                connection,
                acme.id,
                key,
                label(key),
                kind,
                None if parent is None else units[parent],
                kinds=kinds,
            ).id
        units["beta_root"] = create_unit(
            connection, beta.id, "beta_root", label("Beta"), "group", kinds=kinds
        ).id
    docs = [dict(d) for d in (documents if documents is not None else BASE_DOCUMENTS)]
    store.publish(acme.key, None, "test", documents=docs)
    # beta has none of acme's units, so the rules that name them stay in acme
    unit_free = [d for d in docs if d["kind"] not in ("sharing_rule", "restriction_rule")]
    store.publish(beta.key, None, "test", documents=unit_free)
    policy = RolePolicy()
    service = RecordService(engine, store, EntityTables(store), policy, EventBus())
    return SecurityWorld(engine, store, service, policy, acme, beta, units)


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Engine]:
    """An engine on a database of its own (SQLite file or the session's PostgreSQL, wiped)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'security.sqlite3'}"
    else:
        from tests.conftest import _reset_postgres

        url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(url)
    engine = make_engine(url)
    create_platform_tables(engine)
    yield engine
    engine.dispose()


def move_record_id(world: SecurityWorld, tenant: Tenant, entity: str, old: int, new: int) -> None:
    """Give a record a far-away id (an id the other tenant's table has never used)."""
    tables = world.service.tables
    from crm_platform.runtime.policy import TenantState

    state = TenantState(
        id=tenant.id,
        key=tenant.key,
        namespace=tenant.namespace,
        config_version=_config_version(world, tenant),
        security_version=0,
        created_at=tenant.created_at,
    )
    table = tables.for_tenant(state, world.engine.dialect.name, world.store.physical(tenant.key))[
        entity
    ]
    with world.engine.begin() as connection:
        connection.execute(table.update().where(table.c.id == old).values(id=new))


def _config_version(world: SecurityWorld, tenant: Tenant) -> int:
    with world.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT config_version FROM tenants WHERE id = :id"), {"id": tenant.id}
            ).scalar_one()
        )


def ids_with(service: RecordService, principal: Principal, entity: str, privilege: str) -> set[int]:
    """Ids of the live records the principal holds `privilege` on (export has no service call)."""
    with service.engine.connect() as connection:
        ctx = service._context(connection, principal, entity)
        table = ctx.table
        rows = connection.execute(
            table.select()
            .with_only_columns(table.c.id)
            .where(table.c.deleted_at.is_(None), ctx.access.predicate(privilege))
        )
        return set(rows.scalars())
