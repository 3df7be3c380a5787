"""Archived columns: a removed field's column stays in the table, hidden, until purged.

The planner reads them (`load_archived`) so that re-adding a field restores its
column and data; the executor records and releases them as steps run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, insert, inspect, select, update

from crm_platform.metadata.model import FieldDef
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import column_specs, table_location
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.migration_checks import MigrationContext
from crm_platform.runtime.migration_plan import (
    ArchivedField,
    ArchiveEntity,
    ArchiveField,
    RestoreField,
    Step,
    compile_type,
)
from crm_platform.runtime.tables import ArchivedColumn

_ARCHIVE: Table = ArchivedColumn.__table__  # type: ignore[assignment]


def drop_index_named(ctx: MigrationContext, entity: str, name: str) -> None:
    """Drop an index of an entity table if it exists."""
    schema, _ = ctx.location(entity)
    qualified = f"{ctx.quote(schema)}.{ctx.quote(name)}" if schema else ctx.quote(name)
    ctx.execute(f"DROP INDEX IF EXISTS {qualified}")


def field_document(field: FieldDef) -> dict[str, Any]:
    """A field as a schema-valid field document, so an archived field can be parsed back."""
    document: dict[str, Any] = {"key": field.key, "label": dict(field.label), "type": field.type}
    for name in ("min", "max", "max_length", "pattern", "target", "currency", "scale"):
        value = getattr(field, name)
        if value is not None:
            document[name] = value
    for name in ("required", "unique", "sensitive"):
        if getattr(field, name):
            document[name] = True
    if field.options:
        document["options"] = [
            {"key": option.key, "label": dict(option.label)} for option in field.options
        ]
    return document


def load_archived(connection: Connection, tenant_id: int) -> tuple[ArchivedField, ...]:
    """The tenant's archived columns, for the planner."""
    rows = connection.execute(
        select(_ARCHIVE).where(_ARCHIVE.c.tenant_id == tenant_id).order_by(_ARCHIVE.c.id)
    )
    return tuple(
        ArchivedField(
            entity=row.entity,
            column=row.column_name,
            field=FieldDef.from_document(row.field),
            column_type=row.column_type,
            whole_entity=row.whole_entity,
        )
        for row in rows
    )


def _archive_columns(
    ctx: MigrationContext, entity: str, field: FieldDef, columns: Sequence[str], whole_entity: bool
) -> None:
    types = {c.name: compile_type(c, ctx.dialect) for c in column_specs(field)}
    now = datetime.now(UTC)
    for name in columns:
        where = and_(
            _ARCHIVE.c.tenant_id == ctx.tenant.id,
            _ARCHIVE.c.entity == entity,
            _ARCHIVE.c.column_name == name,
        )
        if ctx.connection.execute(select(_ARCHIVE.c.id).where(where)).first() is not None:
            ctx.connection.execute(update(_ARCHIVE).where(where).values(whole_entity=whole_entity))
            continue
        ctx.connection.execute(
            insert(_ARCHIVE).values(
                tenant_id=ctx.tenant.id,
                entity=entity,
                column_name=name,
                field_key=field.key,
                field=field_document(field),
                column_type=types.get(name, ""),
                whole_entity=whole_entity,
                archived_at=now,
            )
        )


def archive_field(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, ArchiveField) and step.field is not None
    _archive_columns(ctx, step.entity, step.field, step.columns, whole_entity=False)


def archive_entity(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, ArchiveEntity)
    for field in step.fields:
        names = [c.name for c in column_specs(field)]
        _archive_columns(ctx, step.entity, field, names, whole_entity=True)
    ctx.connection.execute(
        update(_ARCHIVE)
        .where(_ARCHIVE.c.tenant_id == ctx.tenant.id, _ARCHIVE.c.entity == step.entity)
        .values(whole_entity=True)
    )


def restore_field(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, RestoreField)
    ctx.connection.execute(
        delete(_ARCHIVE).where(
            _ARCHIVE.c.tenant_id == ctx.tenant.id,
            _ARCHIVE.c.entity == step.entity,
            _ARCHIVE.c.column_name == step.column,
        )
    )


def restore_entity(ctx: MigrationContext, step: Step) -> None:
    """The table returns; columns the entity did not take back stay archived as fields."""
    ctx.connection.execute(
        update(_ARCHIVE)
        .where(_ARCHIVE.c.tenant_id == ctx.tenant.id, _ARCHIVE.c.entity == step.entity)
        .values(whole_entity=False)
    )
    table = ctx.tables[step.entity]
    wanted = {str(index.name): index for index in table.indexes}
    present = {
        str(found["name"]): bool(found["unique"])
        for found in inspect(ctx.connection).get_indexes(table.name, schema=table.schema)
    }
    for name, unique in present.items():
        if name not in wanted or unique != bool(wanted[name].unique):
            drop_index_named(ctx, step.entity, name)
    for name, index in wanted.items():
        if present.get(name) != bool(index.unique):
            index.create(ctx.connection, checkfirst=True)


def purge_archived_field(
    connection: Connection, tenant: Tenant, entity: str, field_key: str
) -> tuple[str, ...]:
    """Drop an archived field's columns and their data for good; returns the columns dropped."""
    rows = connection.execute(
        select(_ARCHIVE.c.column_name).where(
            _ARCHIVE.c.tenant_id == tenant.id,
            _ARCHIVE.c.entity == entity,
            _ARCHIVE.c.field_key == field_key,
        )
    ).scalars()
    columns = tuple(rows)
    if not columns:
        raise InvalidOperation(
            f"{entity}.{field_key} is not an archived field of tenant {tenant.key!r}; only "
            "removed fields can be purged"
        )
    dialect = connection.dialect
    where = table_location(tenant.namespace, entity, dialect.name)
    quote = dialect.identifier_preparer.quote
    qualified = f"{quote(where.schema)}.{quote(where.name)}" if where.schema else quote(where.name)
    for index in inspect(connection).get_indexes(where.name, schema=where.schema):
        if set(index["column_names"]) & set(columns):
            name = quote(str(index["name"]))
            connection.exec_driver_sql(
                f"DROP INDEX {quote(where.schema)}.{name}" if where.schema else f"DROP INDEX {name}"
            )
    for name in columns:
        connection.exec_driver_sql(f"ALTER TABLE {qualified} DROP COLUMN {quote(name)}")
    connection.execute(
        delete(_ARCHIVE).where(
            _ARCHIVE.c.tenant_id == tenant.id,
            _ARCHIVE.c.entity == entity,
            _ARCHIVE.c.column_name.in_(columns),
        )
    )
    return columns


def purge_archived_entity(connection: Connection, tenant: Tenant, entity: str) -> None:
    """Drop the kept table of an entity removed from the configuration, with all its data."""
    archived = connection.execute(
        select(_ARCHIVE.c.id).where(
            _ARCHIVE.c.tenant_id == tenant.id,
            _ARCHIVE.c.entity == entity,
            _ARCHIVE.c.whole_entity.is_(True),
        )
    ).first()
    if archived is None:
        raise InvalidOperation(
            f"entity {entity!r} of tenant {tenant.key!r} is not archived; only entities removed "
            "from the configuration can be purged"
        )
    dialect = connection.dialect
    where = table_location(tenant.namespace, entity, dialect.name)
    quote = dialect.identifier_preparer.quote
    qualified = f"{quote(where.schema)}.{quote(where.name)}" if where.schema else quote(where.name)
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {qualified}")
    connection.execute(
        delete(_ARCHIVE).where(_ARCHIVE.c.tenant_id == tenant.id, _ARCHIVE.c.entity == entity)
    )
