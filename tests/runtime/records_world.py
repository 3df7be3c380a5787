"""A small published world for the record service tests: two tenants, a unit tree, users.

Tenant ``acme``: hq > bu > team, and a sibling business unit ``sib``; users
alice (at bu), tom (at team) and sam (at sib). Tenant ``beta`` has one unit and
one user. Both publish the same configuration: ``account`` (user-owned, with one
field of most types), ``contact`` (references an account) and ``product`` (master).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import EntityTables, create_entity_tables
from crm_platform.runtime.events import EventBus, RecordEvent
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.policy import AccessPolicy, UnitSubtreePolicy
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_queries import Page
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import create_tenant
from crm_platform.runtime.users import principal_for


def _label(en: str) -> dict[str, str]:
    return {"en": en, "zh-Hans": en + "（简）"}


def _field(key: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": _label(key.title()), "type": type_, **extra}


ACCOUNT = {
    "kind": "entity",
    "key": "account",
    "label": _label("Account"),
    "plural_label": _label("Accounts"),
    "ownership": "user_owned",
    "title_field": "name",
    "search_fields": ["name", "city", "secret"],
    "fields": [
        _field("name", "text", required=True, max_length=40),
        _field("city", "text"),
        _field("uscc", "uscc", unique=True),
        _field("revenue", "money", scale=2, min=0),
        _field(
            "level",
            "choice",
            options=[{"key": "a", "label": _label("A")}, {"key": "b", "label": _label("B")}],
        ),
        _field("employees", "integer", min=0, max=1000000),
        _field("email", "email"),
        _field("secret", "text", sensitive=True),
        _field("parent", "reference", target="account", on_delete="set_null"),
    ],
}

CONTACT = {
    "kind": "entity",
    "key": "contact",
    "label": _label("Contact"),
    "plural_label": _label("Contacts"),
    "ownership": "user_owned",
    "title_field": "name",
    "fields": [
        _field("name", "text", required=True),
        _field("account", "reference", target="account"),
        _field("mobile", "phone"),
    ],
}

PRODUCT = {
    "kind": "entity",
    "key": "product",
    "label": _label("Product"),
    "plural_label": _label("Products"),
    "ownership": "master",
    "title_field": "name",
    "fields": [_field("name", "text", required=True), _field("code", "text", unique=True)],
}

NOTE = {
    "kind": "entity",
    "key": "note",
    "label": _label("Note"),
    "plural_label": _label("Notes"),
    "ownership": "user_owned",
    "title_field": "text",
    "fields": [
        _field("text", "text", required=True),
        _field("contact", "reference", target="contact", on_delete="cascade"),
    ],
}

ACCOUNT_VIEW = {
    "kind": "list_view",
    "key": "accounts_by_name",
    "entity": "account",
    "label": _label("Accounts by name"),
    "columns": ["name", "city"],
    "default_sort": [{"field": "city", "direction": "asc"}],
}

DOCUMENTS = [ACCOUNT, CONTACT, NOTE, PRODUCT, ACCOUNT_VIEW]


def _create_tables(
    connection: Connection, tenant: Tenant, before: Configuration | None, after: Configuration
) -> None:
    create_entity_tables(connection, tenant, after)


@dataclass
class World:
    """The tenants, units, principals and the service under test."""

    engine: Engine
    store: MetadataStore
    service: RecordService
    bus: EventBus
    tenant: Tenant
    other_tenant: Tenant
    units: dict[str, int]
    users: dict[str, int]
    events: list[RecordEvent] = field(default_factory=list)

    def principal(self, user: str, locale: str = "en") -> Principal:
        with self.engine.connect() as connection:
            return principal_for(connection, self.users[user], locale=locale)

    def system(self, tenant: Tenant | None = None) -> Principal:
        return Principal.system((tenant or self.tenant).id, "test fixture")

    def with_policy(self, policy: AccessPolicy) -> RecordService:
        return RecordService(self.engine, self.store, self.service.tables, policy, self.bus)


def build_world(engine: Engine, documents: list[dict[str, Any]] | None = None) -> World:
    """Publish `documents` (default `DOCUMENTS`) into two tenants and build the service."""
    store = MetadataStore(engine, hooks=[_create_tables])
    acme = create_tenant(engine, "acme", {"en": "Acme"})
    beta = create_tenant(engine, "beta", {"en": "Beta"})
    units: dict[str, int] = {}
    users: dict[str, int] = {}
    with engine.begin() as connection:
        units["hq"] = create_unit(connection, acme.id, "hq", _label("HQ"), "group").id
        units["bu"] = create_unit(
            connection, acme.id, "bu", _label("BU"), "business_unit", units["hq"]
        ).id
        units["team"] = create_unit(
            connection, acme.id, "team", _label("Team"), "team", units["bu"]
        ).id
        units["sib"] = create_unit(
            connection, acme.id, "sib", _label("Sib"), "business_unit", units["hq"]
        ).id
        units["beta_hq"] = create_unit(connection, beta.id, "beta_hq", _label("Beta"), "group").id
        for name, unit, tenant in (
            ("alice", "bu", acme),
            ("tom", "team", acme),
            ("sam", "sib", acme),
            ("carol", "beta_hq", beta),
        ):
            # Straight into the table: hashing a real password per test would dominate the run.
            users[name] = connection.execute(
                insert(User.__table__)
                .values(
                    tenant_id=tenant.id,
                    email=f"{name}@example.com",
                    display_name=name.title(),
                    password_hash="!",
                    primary_unit_id=units[unit],
                    locale="en",
                    created_at=datetime.now(UTC),
                )
                .returning(User.__table__.c.id)
            ).scalar_one()
    for tenant in (acme, beta):
        store.publish(tenant.key, None, "test", documents=documents or DOCUMENTS)
    bus = EventBus()
    service = RecordService(engine, store, EntityTables(store), UnitSubtreePolicy(), bus)
    world = World(engine, store, service, bus, acme, beta, units, users)
    bus.subscribe(None, world.events.append)
    return world


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(serial: int) -> str:
    """A valid unified social credit code (GB 32100 check character) for a serial number."""
    body = "91350100" + f"{serial:09d}"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


_serials = iter(range(1, 10**9))


def tag() -> str:
    """A value unique within the test session (to keep tests apart in a shared world)."""
    return f"t{next(_serials)}"


def next_uscc() -> str:
    """A valid USCC no other test of the session uses."""
    return uscc(next(_serials))


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def open_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A world on its own database, shared by the tests of one module (building one is slow)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.sqlite3'}"
    else:
        from tests.conftest import _reset_postgres

        url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(url)
    engine = make_engine(url)
    create_platform_tables(engine)
    yield build_world(engine)
    engine.dispose()


def all_pages(world: World, principal: Principal, **kwargs: Any) -> list[Page]:
    """Every page of the principal's accounts, following `next_cursor` from the first."""
    pages = [world.service.list(principal, "account", **kwargs)]
    while pages[-1].next_cursor:
        pages.append(
            world.service.list(principal, "account", cursor=pages[-1].next_cursor, **kwargs)
        )
    return pages
