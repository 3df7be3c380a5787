"""Applying a migration plan inside the publish transaction, without ever losing data.

Every check of a plan runs first, against the rows as they are; if any row would
not survive (a value that does not convert, a removed option still in use, an
empty required field, duplicates of a new unique field, a value longer than a
lowered max_length) the publish is refused with `MigrationRefused`, which lists
the first rows and the count per problem. Only then do the DDL steps run, in
plan order. On PostgreSQL everything is transactional DDL. On SQLite a type
change between storage classes rebuilds the table (create, copy, verify row
counts, drop, rename, recreate indexes) in the same transaction; a change within
one storage class (a longer VARCHAR, a lower max_length that every value meets)
needs no rewrite because SQLite does not enforce declared lengths, and the
declared type is corrected by the next rebuild of that table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from decimal import InvalidOperation as DecimalError
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    cast,
    delete,
    func,
    insert,
    inspect,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import (
    column as sql_column,
)
from sqlalchemy import (
    table as sql_table,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateSchema
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.errors import Problem
from crm_platform.metadata.model import Configuration, FieldDef
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import build_tables, column_specs, table_location
from crm_platform.runtime.errors import InvalidOperation, UnsafeMigration
from crm_platform.runtime.migration_plan import (
    AddColumn,
    AddIndex,
    ArchivedField,
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
    compile_type,
    dialect_for,
    plan_migration,
)
from crm_platform.runtime.tables import ArchivedColumn

SAMPLE_SIZE = 20
"""How many offending rows a refusal lists per problem (the count covers them all)."""

_ARCHIVE: Table = ArchivedColumn.__table__  # type: ignore[assignment]
_TEXT_TYPES = frozenset({"text", "long_text", "email", "phone", "url", "region", "uscc", "choice"})


# -- refusals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffendingRows:
    """Rows of one entity that block one step: the first `SAMPLE_SIZE` (id, value) and the count."""

    entity: str
    field: str
    column: str
    code: str
    reason: str
    count: int
    sample: tuple[tuple[int, Any], ...]

    def problem(self) -> Problem:
        """The refusal as a configuration `Problem` pointing at the field."""
        shown = ", ".join(f"#{row_id} {value!r}" for row_id, value in self.sample)
        more = f" (first {len(self.sample)} shown)" if self.count > len(self.sample) else ""
        return Problem(
            pointer=f"/fields/{self.field}",
            code=self.code,
            message=(
                f"{self.count} {self.entity} row(s) {self.reason}: {shown}{more}; fix or map "
                "these values (or keep the old definition), then publish again"
            ),
            document=f"entity/{self.entity}",
        )


class MigrationRefused(UnsafeMigration):
    """The publish would lose or break data; `offending` lists the rows per problem."""

    def __init__(self, offending: Sequence[OffendingRows]):
        self.offending = tuple(offending)
        super().__init__([rows.problem() for rows in self.offending])


class RowCountMismatch(UnsafeMigration):
    """A SQLite table rebuild copied a different number of rows; nothing was changed."""

    def __init__(self, entity: str, before: int, after: int):
        self.entity = entity
        super().__init__(
            [
                Problem(
                    "",
                    "migration.row_count_mismatch",
                    f"rebuilding the table of {entity} copied {after} of {before} rows; the "
                    "publish was rolled back, report this as a bug",
                    f"entity/{entity}",
                )
            ]
        )


# -- value conversions -------------------------------------------------------------------------

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _decimal(value: Any) -> Decimal | None:
    text = str(value).strip()
    if not _DECIMAL.match(text):
        return None
    try:
        return Decimal(text)
    except DecimalError:
        return None


def _fits_integer(number: Decimal, target: ColumnType) -> bool:
    limit = 2 ** ((target.bits or 64) - 1)
    return number == number.to_integral_value() and -limit <= number < limit


def _fits_decimal(number: Decimal, target: ColumnType) -> bool:
    if target.scale is not None and number != round(number, target.scale):
        return False  # the cast would round: data lost
    if target.precision is None or target.scale is None:
        return True
    return abs(number) < Decimal(10) ** (target.precision - target.scale)


def _text_fits(text: str, target: ColumnType) -> bool:
    return target.length is None or len(text) <= target.length


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _text_to_integer(value: Any, target: ColumnType) -> bool:
    if _blank(value):
        return True
    text = str(value).strip()
    return bool(_INTEGER.match(text)) and _fits_integer(Decimal(text), target)


def _text_to_decimal(value: Any, target: ColumnType) -> bool:
    if _blank(value):
        return True
    number = _decimal(value)
    return number is not None and _fits_decimal(number, target)


def _number_to_integer(value: Any, target: ColumnType) -> bool:
    number = _decimal(value)
    return number is not None and _fits_integer(number, target)


def _number_to_decimal(value: Any, target: ColumnType) -> bool:
    number = _decimal(value)
    return number is not None and _fits_decimal(number, target)


def _number_to_text(value: Any, target: ColumnType) -> bool:
    number = _decimal(value)
    return number is not None and _text_fits(str(number), target)


def _text_to_text(value: Any, target: ColumnType) -> bool:
    return _text_fits(str(value), target)


def _trimmed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.nullif(func.trim(column), "")


def _as_is(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return column


@dataclass(frozen=True)
class Conversion:
    """How values of one storage class become another: which survive, and the SQL that converts.

    `accepts(value, target)` must be at least as strict as the database's cast, so
    that a value it accepts converts without loss on SQLite and PostgreSQL alike.
    """

    accepts: Callable[[Any, ColumnType], bool]
    source: Callable[[ColumnElement[Any]], ColumnElement[Any]] = _as_is


CONVERSIONS: Mapping[tuple[str, str], Conversion] = {
    ("text", "text"): Conversion(_text_to_text),
    ("text", "integer"): Conversion(_text_to_integer, _trimmed),
    ("text", "decimal"): Conversion(_text_to_decimal, _trimmed),
    ("integer", "integer"): Conversion(_number_to_integer),
    ("integer", "decimal"): Conversion(_number_to_decimal),
    ("integer", "text"): Conversion(_number_to_text),
    ("decimal", "decimal"): Conversion(_number_to_decimal),
    ("decimal", "integer"): Conversion(_number_to_integer),
    ("decimal", "text"): Conversion(_number_to_text),
}
"""Supported conversions by (from, to) storage class; any other pair converts only empty columns."""


# -- the apply context -------------------------------------------------------------------------


@dataclass
class _Context:
    connection: Connection
    tenant: Tenant
    plan: MigrationPlan
    dialect: Dialect
    tables: Mapping[str, Table]

    def location(self, entity: str) -> tuple[str | None, str]:
        where = table_location(self.plan.namespace, entity, self.plan.dialect)
        return where.schema, where.name

    def qualified(self, entity: str) -> str:
        schema, name = self.location(entity)
        quote = self.dialect.identifier_preparer.quote
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    def quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def light_table(self, entity: str, *columns: str) -> Any:
        """A typeless handle on the table: values come back as the driver returns them."""
        schema, name = self.location(entity)
        names = dict.fromkeys(("id", "deleted_at", *columns))
        return sql_table(name, *(sql_column(c) for c in names), schema=schema)

    def execute(self, ddl: str) -> None:
        self.connection.exec_driver_sql(ddl)


# -- checks ------------------------------------------------------------------------------------


def _rows_where(
    ctx: _Context, entity: str, column: str, condition: Callable[[Any], ColumnElement[bool]]
) -> tuple[int, tuple[tuple[int, Any], ...]]:
    table = ctx.light_table(entity, column)
    where = condition(table)
    count = ctx.connection.execute(select(func.count()).select_from(table).where(where)).scalar()
    if not count:
        return 0, ()
    rows = ctx.connection.execute(
        select(table.c.id, table.c[column]).where(where).order_by(table.c.id).limit(SAMPLE_SIZE)
    )
    return int(count), tuple((row[0], row[1]) for row in rows)


def _rows_failing(
    ctx: _Context, entity: str, column: str, accepts: Callable[[Any], bool]
) -> tuple[int, tuple[tuple[int, Any], ...]]:
    table = ctx.light_table(entity, column)
    # Per statement: Connection.execution_options would change the publish's connection.
    result = ctx.connection.execute(
        select(table.c.id, table.c[column])
        .where(table.c[column].is_not(None))
        .order_by(table.c.id)
        .execution_options(stream_results=True, yield_per=2000)
    )
    count, sample = 0, []
    for row_id, value in result:
        if not accepts(value):
            count += 1
            if len(sample) < SAMPLE_SIZE:
                sample.append((row_id, value))
    return count, tuple(sample)


def _json_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _check_options(ctx: _Context, step: CheckValues) -> tuple[int, tuple[tuple[int, Any], ...]]:
    allowed = set(step.allowed)
    if step.field_type == "multi_choice":

        def fits(value: Any) -> bool:
            items = _json_list(value)
            return items is not None and all(item in allowed for item in items)

        return _rows_failing(ctx, step.entity, step.column, fits)
    return _rows_where(
        ctx,
        step.entity,
        step.column,
        lambda t: and_(t.c[step.column].is_not(None), t.c[step.column].not_in(step.allowed)),
    )


def _check_required(ctx: _Context, step: CheckValues) -> tuple[int, tuple[tuple[int, Any], ...]]:
    def empty(t: Any) -> ColumnElement[bool]:
        value = t.c[step.column]
        missing = value.is_(None)
        if step.field_type in _TEXT_TYPES:
            missing = or_(missing, func.trim(value) == "")
        return and_(t.c.deleted_at.is_(None), missing)

    return _rows_where(ctx, step.entity, step.column, empty)


def _check_unique(ctx: _Context, step: CheckValues) -> tuple[int, tuple[tuple[int, Any], ...]]:
    table = ctx.light_table(step.entity, step.column)
    value = table.c[step.column]
    shared = (
        select(value)
        .where(table.c.deleted_at.is_(None), value.is_not(None))
        .group_by(value)
        .having(func.count() > 1)
    )
    return _rows_where(
        ctx,
        step.entity,
        step.column,
        lambda t: and_(t.c.deleted_at.is_(None), t.c[step.column].in_(shared)),
    )


def _check_max_length(ctx: _Context, step: CheckValues) -> tuple[int, tuple[tuple[int, Any], ...]]:
    return _rows_where(
        ctx, step.entity, step.column, lambda t: func.length(t.c[step.column]) > step.limit
    )


_RULES: Mapping[str, tuple[Callable[[_Context, CheckValues], Any], str, str]] = {
    "options": (
        _check_options,
        "migration.option_in_use",
        "use a value that is no longer an option",
    ),
    "required": (
        _check_required,
        "migration.required_empty",
        "have no value for a now required field",
    ),
    "unique": (_check_unique, "migration.duplicates", "share a value of a now unique field"),
    "max_length": (_check_max_length, "migration.too_long", "hold a value longer than allowed"),
}


def _check_step(ctx: _Context, step: Step) -> OffendingRows | None:
    if isinstance(step, CheckValues):
        check, code, reason = _RULES[step.rule]
        if step.rule == "max_length":
            reason = f"hold a value longer than {step.limit} characters"
        count, sample = check(ctx, step)
        field, column = step.field, step.column
    elif isinstance(step, ConvertType):
        count, sample = _conversion_failures(ctx, step)
        code, reason = (
            "migration.unconvertible",
            f"hold a value that does not convert to {step.to_type}",
        )
        field, column = step.field, step.column
    else:
        return None
    if not count:
        return None
    return OffendingRows(step.entity, field, column, code, reason, count, sample)


def _conversion_failures(
    ctx: _Context, step: ConvertType
) -> tuple[int, tuple[tuple[int, Any], ...]]:
    source, target = ColumnType.parse(step.from_type), ColumnType.parse(step.to_type)
    conversion = CONVERSIONS.get((source.kind, target.kind))
    if conversion is None:
        return _rows_failing(ctx, step.entity, step.column, lambda value: False)
    return _rows_failing(
        ctx, step.entity, step.column, lambda value: conversion.accepts(value, target)
    )


def check_migration(
    connection: Connection, tenant: Tenant, plan: MigrationPlan
) -> list[OffendingRows]:
    """Every group of rows that would block the plan, without changing anything (for previews)."""
    ctx = _context(connection, tenant, plan)
    return [rows for step in plan.steps if (rows := _check_step(ctx, step)) is not None]


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
    ctx = _context(connection, tenant, plan)
    offending = [rows for step in plan.steps if (rows := _check_step(ctx, step)) is not None]
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


def _context(connection: Connection, tenant: Tenant, plan: MigrationPlan) -> _Context:
    return _Context(
        connection=connection,
        tenant=tenant,
        plan=plan,
        dialect=dialect_for(plan.dialect),
        tables=build_tables(tenant, plan.after, plan.dialect),
    )


def _apply_nothing(ctx: _Context, step: Step) -> None:
    """Checks have run before any step; they change nothing."""


def _create_table(ctx: _Context, step: Step) -> None:
    schema, _ = ctx.location(step.entity)
    if schema is not None:
        ctx.connection.execute(CreateSchema(schema, if_not_exists=True))
    ctx.tables[step.entity].create(ctx.connection, checkfirst=True)


def _add_column(ctx: _Context, step: Step) -> None:
    assert isinstance(step, AddColumn)
    ctx.execute(
        f"ALTER TABLE {ctx.qualified(step.entity)} ADD COLUMN {ctx.quote(step.column)} "
        f"{step.type_sql}"
    )


def _drop_index(ctx: _Context, step: Step) -> None:
    assert isinstance(step, DropIndex)
    _drop_index_named(ctx, step.entity, step.name)


def _drop_index_named(ctx: _Context, entity: str, name: str) -> None:
    schema, _ = ctx.location(entity)
    qualified = f"{ctx.quote(schema)}.{ctx.quote(name)}" if schema else ctx.quote(name)
    ctx.execute(f"DROP INDEX IF EXISTS {qualified}")


def _add_index(ctx: _Context, step: Step) -> None:
    assert isinstance(step, AddIndex)
    index = next(i for i in ctx.tables[step.entity].indexes if i.name == step.name)
    index.create(ctx.connection, checkfirst=True)


def _postgres_type_change(ctx: _Context, step: Step) -> None:
    assert isinstance(step, WidenType | ConvertType)
    target = ctx.tables[step.entity].c[step.column].type
    expression = _conversion_expression(
        sql_column(step.column), step.from_type, step.to_type, target
    )
    using = expression.compile(dialect=ctx.dialect, compile_kwargs={"literal_binds": True})
    ctx.execute(
        f"ALTER TABLE {ctx.qualified(step.entity)} ALTER COLUMN {ctx.quote(step.column)} "
        f"TYPE {step.to_type} USING {using}"
    )


def _conversion_expression(
    source: ColumnElement[Any], from_type: str, to_type: str, target: Any
) -> ColumnElement[Any]:
    old, new = ColumnType.parse(from_type), ColumnType.parse(to_type)
    conversion = CONVERSIONS.get((old.kind, new.kind))
    if conversion is None:
        # Only reached when the checks found no value: the column is empty.
        return cast(null(), target)
    return cast(conversion.source(source), target)


def _sqlite_type_changes(ctx: _Context, entity: str) -> None:
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
    selected = []
    for info in existing:
        step = changes.get(info["name"])
        source = old.c[info["name"]]
        if step is None:
            selected.append(source)
        else:
            target_type = rebuilt.c[info["name"]].type
            selected.append(
                _conversion_expression(source, step.from_type, step.to_type, target_type)
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


# -- archive -----------------------------------------------------------------------------------


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
    ctx: _Context, entity: str, field: FieldDef, columns: Sequence[str], whole_entity: bool
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


def _archive_field(ctx: _Context, step: Step) -> None:
    assert isinstance(step, ArchiveField) and step.field is not None
    _archive_columns(ctx, step.entity, step.field, step.columns, whole_entity=False)


def _archive_entity(ctx: _Context, step: Step) -> None:
    assert isinstance(step, ArchiveEntity)
    for field in step.fields:
        names = [c.name for c in column_specs(field)]
        _archive_columns(ctx, step.entity, field, names, whole_entity=True)
    ctx.connection.execute(
        update(_ARCHIVE)
        .where(_ARCHIVE.c.tenant_id == ctx.tenant.id, _ARCHIVE.c.entity == step.entity)
        .values(whole_entity=True)
    )


def _restore_field(ctx: _Context, step: Step) -> None:
    assert isinstance(step, RestoreField)
    ctx.connection.execute(
        delete(_ARCHIVE).where(
            _ARCHIVE.c.tenant_id == ctx.tenant.id,
            _ARCHIVE.c.entity == step.entity,
            _ARCHIVE.c.column_name == step.column,
        )
    )


def _restore_entity(ctx: _Context, step: Step) -> None:
    """The table returns; columns the entity did not take back stay archived as fields."""
    ctx.connection.execute(
        update(_ARCHIVE)
        .where(_ARCHIVE.c.tenant_id == ctx.tenant.id, _ARCHIVE.c.entity == step.entity)
        .values(whole_entity=False)
    )
    table = ctx.tables[step.entity]
    wanted = {index.name: index for index in table.indexes}
    present = inspect(ctx.connection).get_indexes(table.name, schema=table.schema)
    for index in present:
        target = wanted.get(index["name"])
        if target is None or bool(index["unique"]) != bool(target.unique):
            _drop_index_named(ctx, step.entity, str(index["name"]))
    kept = {i["name"] for i in present if i["name"] in wanted}
    for name, index in wanted.items():
        if name not in kept or bool(index.unique) != any(
            bool(i["unique"]) for i in present if i["name"] == name
        ):
            index.create(ctx.connection, checkfirst=True)


_APPLIERS: Mapping[type[Step], Callable[[_Context, Step], None]] = {
    CheckValues: _apply_nothing,
    DropIndex: _drop_index,
    ArchiveEntity: _archive_entity,
    ArchiveField: _archive_field,
    CreateTable: _create_table,
    RestoreField: _restore_field,
    AddColumn: _add_column,
    WidenType: _postgres_type_change,
    ConvertType: _postgres_type_change,
    AddIndex: _add_index,
    RestoreEntity: _restore_entity,
}


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


__all__ = [
    "CONVERSIONS",
    "Conversion",
    "MigrationHook",
    "MigrationRefused",
    "OffendingRows",
    "RowCountMismatch",
    "apply_migration",
    "check_migration",
    "field_document",
    "load_archived",
    "plan_for_publish",
    "purge_archived_entity",
    "purge_archived_field",
    "rebuild_sqlite_table",
]
