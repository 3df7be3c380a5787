"""Applying a migration plan inside the publish transaction, without ever losing data.

Every check of a plan runs first, against the rows as they are
(`migration_checks`); if any row would not survive, the publish is refused with
`MigrationRefused`, which lists the first rows and the count per problem. Only
then do the DDL steps run, in plan order. On PostgreSQL everything is
transactional DDL. On SQLite a type change between storage classes rebuilds the
table (create, copy, verify row counts, drop, rename, recreate indexes) in the
same transaction; a change within one storage class (a longer VARCHAR, a lower
max_length every value meets) needs no rewrite because SQLite does not enforce
declared lengths, and the declared type is corrected by the next rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, Connection, Engine, MetaData, Table, func, insert, inspect, select
from sqlalchemy import column as sql_column
from sqlalchemy.schema import CreateSchema
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.model import Configuration
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import refresh_indexes
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.migration_archive import (
    archive_entity,
    archive_field,
    drop_index_named,
    load_archived,
    restore_entity,
    restore_field,
)
from crm_platform.runtime.migration_checks import (
    MigrationContext,
    MigrationRefused,
    RowCountMismatch,
    conversion_expression,
    migration_context,
    offending_rows,
)
from crm_platform.runtime.migration_plan import (
    AddColumn,
    AddIndex,
    ArchiveEntity,
    ArchiveField,
    CheckValues,
    ColumnType,
    ConvertType,
    CreateTable,
    DropIndex,
    MigrationPlan,
    RestoreEntity,
    RestoreField,
    Step,
    WidenType,
    plan_migration,
)

# -- applying ----------------------------------------------------------------------------------


def apply_migration(connection: Connection, tenant: Tenant, plan: MigrationPlan) -> None:
    """Run the plan in the caller's transaction; refuse (changing nothing) if rows would break."""
    if plan.tenant_id != tenant.id:
        raise InvalidOperation(
            f"the migration plan was made for tenant #{plan.tenant_id}, not {tenant.key!r}"
        )
    if connection.dialect.name != plan.dialect:
        raise InvalidOperation(
            f"the migration plan was made for {plan.dialect}, but the connection is "
            f"{connection.dialect.name}; plan again for this database"
        )
    ctx = migration_context(connection, tenant, plan)
    offending = offending_rows(ctx)
    if offending:
        raise MigrationRefused(offending)
    rebuilt: set[str] = set()
    for step in plan.steps:
        if isinstance(step, WidenType | ConvertType) and plan.dialect == "sqlite":
            if step.entity not in rebuilt:
                rebuilt.add(step.entity)
                _sqlite_type_changes(ctx, step.entity)
            continue
        _APPLIERS[type(step)](ctx, step)
    # Both sides of a plan are built with today's index definitions, so an index an
    # earlier release defined differently (full where it is now partial) never shows
    # up as a step; bring such indexes in line on every publish.
    refresh_indexes(connection, ctx.tables.values())


def _apply_nothing(ctx: MigrationContext, step: Step) -> None:
    """Checks have run before any step; they change nothing."""


def _create_table(ctx: MigrationContext, step: Step) -> None:
    schema, _ = ctx.location(step.entity)
    if schema is not None:
        ctx.connection.execute(CreateSchema(schema, if_not_exists=True))
    ctx.tables[step.entity].create(ctx.connection, checkfirst=True)


def _add_column(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, AddColumn)
    ctx.execute(
        f"ALTER TABLE {ctx.qualified(step.entity)} ADD COLUMN {ctx.quote(step.column)} "
        f"{step.type_sql}"
    )


def _drop_index(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, DropIndex)
    drop_index_named(ctx, step.entity, step.name)


def _add_index(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, AddIndex)
    index = next(i for i in ctx.tables[step.entity].indexes if i.name == step.name)
    index.create(ctx.connection, checkfirst=True)


def _postgres_type_change(ctx: MigrationContext, step: Step) -> None:
    assert isinstance(step, WidenType | ConvertType)
    target = ctx.tables[step.entity].c[step.column].type
    expression = conversion_expression(
        sql_column(step.column), step.from_type, step.to_type, target
    )
    using = expression.compile(dialect=ctx.dialect, compile_kwargs={"literal_binds": True})
    ctx.execute(
        f"ALTER TABLE {ctx.qualified(step.entity)} ALTER COLUMN {ctx.quote(step.column)} "
        f"TYPE {step.to_type} USING {using}"
    )


def _sqlite_type_changes(ctx: MigrationContext, entity: str) -> None:
    """Apply an entity's type steps on SQLite; rebuild the table if a storage class changes."""
    changes = {
        step.column: step
        for step in ctx.plan.steps_for(entity)
        if isinstance(step, WidenType | ConvertType)
        and ColumnType.parse(step.from_type).kind != ColumnType.parse(step.to_type).kind
    }
    if changes:
        rebuild_sqlite_table(ctx.connection, ctx.tables[entity], changes)


def rebuild_sqlite_table(
    connection: Connection, target: Table, changes: Mapping[str, WidenType | ConvertType]
) -> None:
    """Rebuild a SQLite table with `target`'s column types, converting the changed columns.

    Columns the target does not know (archived ones) are copied as they are. Row
    counts are compared before the old table is dropped; indexes are recreated
    from their original DDL.
    """
    name = target.name
    indexes = (
        connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (name,),
        )
        .scalars()
        .all()
    )
    existing = inspect(connection).get_columns(name)
    old = Table(name, MetaData(), *(Column(c["name"], c["type"]) for c in existing))
    temporary = f"_rebuild_{name}"
    columns = []
    for info in existing:
        known = target.c.get(info["name"])
        if known is not None:
            columns.append(
                Column(
                    known.name,
                    known.type,
                    primary_key=known.primary_key,
                    nullable=known.nullable,
                    autoincrement=known.autoincrement,
                )
            )
        else:
            columns.append(Column(info["name"], info["type"], nullable=True))
    rebuilt = Table(temporary, MetaData(), *columns)
    rebuilt.create(connection)
    selected: list[ColumnElement[Any]] = []
    for info in existing:
        step = changes.get(info["name"])
        source = old.c[info["name"]]
        if step is None:
            selected.append(source)
        else:
            target_type = rebuilt.c[info["name"]].type
            selected.append(
                conversion_expression(source, step.from_type, step.to_type, target_type)
            )
    connection.execute(
        insert(rebuilt).from_select([c["name"] for c in existing], select(*selected))
    )
    before = connection.execute(select(func.count()).select_from(old)).scalar_one()
    after = connection.execute(select(func.count()).select_from(rebuilt)).scalar_one()
    if before != after:
        raise RowCountMismatch(name, before, after)
    quote = connection.dialect.identifier_preparer.quote
    connection.exec_driver_sql(f"DROP TABLE {quote(name)}")
    connection.exec_driver_sql(f"ALTER TABLE {quote(temporary)} RENAME TO {quote(name)}")
    for ddl in indexes:
        connection.exec_driver_sql(ddl)


_APPLIERS: Mapping[type[Step], Callable[[MigrationContext, Step], None]] = {
    CheckValues: _apply_nothing,
    DropIndex: _drop_index,
    ArchiveEntity: archive_entity,
    ArchiveField: archive_field,
    CreateTable: _create_table,
    RestoreField: restore_field,
    AddColumn: _add_column,
    WidenType: _postgres_type_change,
    ConvertType: _postgres_type_change,
    AddIndex: _add_index,
    RestoreEntity: restore_entity,
}


# -- publishing --------------------------------------------------------------------------------


def plan_for_publish(
    connection: Connection, tenant: Tenant, before: Configuration | None, after: Configuration
) -> MigrationPlan:
    """The plan for this database: the dialect of `connection`, the tenant's archived columns."""
    return plan_migration(
        tenant, before, after, connection.dialect.name, load_archived(connection, tenant.id)
    )


class MigrationHook:
    """The store's publish hook: plan and apply the tenant's table changes in the publish.

    A refusal (`MigrationRefused`) propagates, so the store rolls the publish back.
    """

    def __init__(self, engine: Engine | None = None):
        """`engine` is the store's engine; the hook works on the connection it is given."""
        self.engine = engine

    def __call__(
        self,
        connection: Connection,
        tenant: Tenant,
        before: Configuration | None,
        after: Configuration,
    ) -> None:
        plan = plan_for_publish(connection, tenant, before, after)
        if not plan.is_empty:
            apply_migration(connection, tenant, plan)
