"""Configurations and table helpers shared by the migration tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, inspect, select

from crm_platform.metadata.layers import LayerDocuments, physical_configuration
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import build_tables, table_location
from crm_platform.runtime.migrations import apply_migration, plan_for_publish


def en(text: str) -> dict[str, str]:
    """A label in English only."""
    return {"en": text}


def field(key: str, type_: str, **extra: Any) -> dict[str, Any]:
    """A field document."""
    return {"key": key, "label": en(key.title()), "type": type_, **extra}


def options(*keys: str) -> list[dict[str, Any]]:
    """Choice options with these keys."""
    return [{"key": key, "label": en(key.upper())} for key in keys]


BASE_FIELDS: list[dict[str, Any]] = [
    field("name", "text", max_length=20),
    field("code", "text"),
    field("level", "choice", options=options("a", "b", "c")),
    field("note", "long_text"),
]


def customer(fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The customer entity with `fields` (default: `BASE_FIELDS`)."""
    return {
        "kind": "entity",
        "key": "customer",
        "label": en("Customer"),
        "plural_label": en("Customers"),
        "ownership": "user_owned",
        "title_field": "name",
        "fields": copy.deepcopy(BASE_FIELDS if fields is None else fields),
    }


def replace_field(fields: list[dict[str, Any]], key: str, **changes: Any) -> list[dict[str, Any]]:
    """A copy of `fields` with field `key` changed (None values delete a member)."""
    result = copy.deepcopy(fields)
    for item in result:
        if item["key"] == key:
            for name, value in changes.items():
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = value
    return result


def config(*documents: dict[str, Any]) -> Configuration:
    """The physical configuration of an HQ layer holding `documents`."""
    return physical_configuration([LayerDocuments(None, tuple(documents))])


def publish(
    connection: Connection, tenant: Tenant, before: Configuration | None, after: Configuration
) -> None:
    """Plan and apply as the publish hook does."""
    apply_migration(connection, tenant, plan_for_publish(connection, tenant, before, after))


def table(engine: Engine | Connection, tenant: Tenant, cfg: Configuration, entity: str) -> Table:
    """The generated table of an entity under configuration `cfg`."""
    return build_tables(tenant, cfg, engine.dialect.name)[entity]


def insert_rows(connection: Connection, target: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert records with their system columns filled; returns their ids in order."""
    now = datetime.now(UTC)
    ids = []
    for row in rows:
        values = {"created_at": now, "updated_at": now, "version": 1, **row}
        ids.append(connection.execute(target.insert().values(values)).inserted_primary_key[0])
    return ids


def column_values(connection: Connection, target: Table, column: str) -> list[Any]:
    """The values of one column ordered by id, read as the driver returns them."""
    return list(connection.execute(select(target.c[column]).order_by(target.c.id)).scalars())


def physical_columns(connection: Connection, tenant: Tenant, entity: str) -> dict[str, str]:
    """The columns the database has for an entity table (none if it has no table), by type."""
    where = table_location(tenant.namespace, entity, connection.dialect.name)
    inspector = inspect(connection)
    if not inspector.has_table(where.name, schema=where.schema):
        return {}
    columns = inspector.get_columns(where.name, schema=where.schema)
    return {c["name"]: str(c["type"]) for c in columns}


def index_names(connection: Connection, tenant: Tenant, entity: str) -> set[str]:
    """The names of the indexes the database has on an entity table."""
    where = table_location(tenant.namespace, entity, connection.dialect.name)
    return {i["name"] for i in inspect(connection).get_indexes(where.name, schema=where.schema)}


def row_count(connection: Connection, target: Table) -> int:
    """How many rows the table has."""
    return connection.execute(select(func.count()).select_from(target)).scalar_one()
