"""Tenants and their namespaces: a PostgreSQL schema per tenant, a table-name prefix on SQLite.

Every entity table of a tenant lives in its namespace, so one tenant's migration
never locks another tenant's tables and a tenant can be dropped (or exported) whole.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, inspect, select, text

from crm_platform.db import platform_metadata
from crm_platform.metadata.errors import UnknownTenant
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.errors import InvalidOperation

TENANT_KEY = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
NAMESPACE_PREFIX = "t_"
TABLE_SEPARATOR = "__"
"""On SQLite an entity table is ``<namespace>__<entity>`` (PostgreSQL: ``<namespace>.<entity>``)."""

_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]


def check_tenant_key(key: str) -> None:
    """Refuse a key that cannot name a namespace unambiguously.

    A double or trailing underscore is refused too: on SQLite the namespace is a
    table-name prefix, and ``t_ab__`` must never be the prefix of another
    tenant's tables (``t_ab___x`` of tenant ``ab_``).
    """
    if not TENANT_KEY.match(key) or TABLE_SEPARATOR in key or key.endswith("_"):
        raise InvalidOperation(
            f"tenant key {key!r} is invalid: use 2 to 31 lower-case letters, digits and single "
            "underscores, starting with a letter and not ending with an underscore"
        )


def namespace_for(key: str) -> str:
    """The namespace of the tenant with this key: its schema name or table prefix."""
    return f"{NAMESPACE_PREFIX}{key}"


def tenant_from_row(row: Any) -> Tenant:
    """A detached `Tenant` value built from a Core row of the tenants table."""
    return Tenant(**dict(row._mapping))


def create_tenant(engine: Engine, key: str, name: dict[str, str]) -> Tenant:
    """Create the tenant row and its namespace in one transaction."""
    check_tenant_key(key)
    if not name.get("en"):
        raise InvalidOperation(f"tenant {key!r} needs an English name (name['en'])")
    namespace = namespace_for(key)
    with engine.begin() as connection:
        exists = connection.execute(select(_TENANTS.c.id).where(_TENANTS.c.key == key)).first()
        if exists is not None:
            raise InvalidOperation(f"tenant {key!r} already exists; choose another key")
        row = connection.execute(
            insert(_TENANTS)
            .values(
                key=key,
                name=dict(name),
                namespace=namespace,
                created_at=datetime.now(UTC),
                config_version=0,
                security_version=0,
            )
            .returning(*_TENANTS.c)
        ).one()
        if connection.dialect.name == "postgresql":
            connection.execute(text(f'CREATE SCHEMA "{namespace}"'))
        return tenant_from_row(row)


def get_tenant(connection: Connection, key: str) -> Tenant:
    """The tenant with this key; raises `UnknownTenant`."""
    row = connection.execute(select(_TENANTS).where(_TENANTS.c.key == key)).first()
    if row is None:
        raise UnknownTenant(key)
    return tenant_from_row(row)


def get_tenant_by_id(connection: Connection, tenant_id: int) -> Tenant:
    """The tenant with this id; raises `UnknownTenant` (named by the id)."""
    row = connection.execute(select(_TENANTS).where(_TENANTS.c.id == tenant_id)).first()
    if row is None:
        raise UnknownTenant(f"#{tenant_id}")
    return tenant_from_row(row)


def list_tenants(connection: Connection) -> list[Tenant]:
    """Every tenant, ordered by key."""
    rows = connection.execute(select(_TENANTS).order_by(_TENANTS.c.key))
    return [tenant_from_row(row) for row in rows]


def bump_security_version(connection: Connection, tenant_id: int) -> None:
    """Invalidate every cached compiled access of the tenant (role, membership, tree changes)."""
    connection.execute(
        _TENANTS.update()
        .where(_TENANTS.c.id == tenant_id)
        .values(security_version=_TENANTS.c.security_version + 1)
    )


def namespace_tables(connection: Connection, namespace: str) -> list[str]:
    """The names of the tables in a namespace (without the schema on PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        return sorted(inspect(connection).get_table_names(schema=namespace))
    prefix = re.compile(rf"^{re.escape(namespace + TABLE_SEPARATOR)}[a-z]")
    names = inspect(connection).get_table_names()
    return sorted(name for name in names if prefix.match(name))


def drop_tenant(engine: Engine, key: str) -> None:
    """Drop the tenant's namespace and every platform row of it, in one transaction."""
    with engine.begin() as connection:
        tenant = get_tenant(connection, key)
        if connection.dialect.name == "postgresql":
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{tenant.namespace}" CASCADE'))
        else:
            for name in namespace_tables(connection, tenant.namespace):
                connection.execute(text(f'DROP TABLE "{name}"'))
        _delete_platform_rows(connection, tenant)


def _delete_platform_rows(connection: Connection, tenant: Tenant) -> None:
    # Children before parents; a table without a tenant column is reached through
    # its parent's ON DELETE CASCADE (config versions through their layer).
    for table in reversed(platform_metadata().sorted_tables):
        if table.name == _TENANTS.name:
            continue
        if "tenant_id" in table.c:
            connection.execute(delete(table).where(table.c.tenant_id == tenant.id))
        elif "tenant_key" in table.c:
            connection.execute(delete(table).where(table.c.tenant_key == tenant.key))
    connection.execute(delete(_TENANTS).where(_TENANTS.c.id == tenant.id))
