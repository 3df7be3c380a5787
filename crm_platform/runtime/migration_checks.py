"""The checks of a migration: which existing rows a step would break, and how values convert.

Every check reads the rows as they are and reports the first `SAMPLE_SIZE`
offending rows (id and value) with their count. A conversion's `accepts` is at
least as strict as the databases' casts, so a value it accepts converts without
loss on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation as DecimalError
from typing import Any

from sqlalchemy import Connection, Table, and_, cast, func, null, or_, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.errors import Problem
from crm_platform.metadata.field_types import FIELD_TYPES
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import build_tables, table_location
from crm_platform.runtime.errors import UnsafeMigration
from crm_platform.runtime.migration_plan import (
    CheckValues,
    ColumnType,
    ConvertType,
    MigrationPlan,
    Step,
    dialect_for,
)

SAMPLE_SIZE = 20
"""How many offending rows a refusal lists per problem (the count covers them all)."""

Found = tuple[int, tuple[tuple[int, Any], ...]]
"""What a check found: the count of offending rows and the first (id, value) pairs."""

# Types stored as strings, where a blank string counts as empty for "required".
_TEXT_TYPES = frozenset(
    key for key, kind in FIELD_TYPES.items() if kind.value_kind in ("text", "choice")
)

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
class MigrationContext:
    """The connection, tenant and plan a migration runs with, and helpers to name its tables."""

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


def migration_context(
    connection: Connection, tenant: Tenant, plan: MigrationPlan
) -> MigrationContext:
    """The context to check or apply `plan` on `connection`."""
    return MigrationContext(
        connection=connection,
        tenant=tenant,
        plan=plan,
        dialect=dialect_for(plan.dialect),
        tables=build_tables(tenant, plan.after, plan.dialect),
    )


def conversion_expression(
    source: ColumnElement[Any], from_type: str, to_type: str, target: Any
) -> ColumnElement[Any]:
    """The SQL that converts `source` from one column type to another (`target`)."""
    old, new = ColumnType.parse(from_type), ColumnType.parse(to_type)
    conversion = CONVERSIONS.get((old.kind, new.kind))
    if conversion is None:
        # Only reached when the checks found no value: the column is empty.
        return cast(null(), target)
    return cast(conversion.source(source), target)


# -- checks ------------------------------------------------------------------------------------


def _rows_where(
    ctx: MigrationContext, entity: str, column: str, condition: Callable[[Any], ColumnElement[bool]]
) -> Found:
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
    ctx: MigrationContext, entity: str, column: str, accepts: Callable[[Any], bool]
) -> Found:
    table = ctx.light_table(entity, column)
    # Per statement: Connection.execution_options would change the publish's connection.
    result = ctx.connection.execute(
        select(table.c.id, table.c[column])
        .where(table.c[column].is_not(None))
        .order_by(table.c.id)
        .execution_options(stream_results=True, yield_per=2000)
    )
    count, sample = 0, list[tuple[int, Any]]()
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


def _check_options(ctx: MigrationContext, step: CheckValues) -> Found:
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


def _check_required(ctx: MigrationContext, step: CheckValues) -> Found:
    def empty(t: Any) -> ColumnElement[bool]:
        value = t.c[step.column]
        missing = value.is_(None)
        if step.field_type in _TEXT_TYPES:
            missing = or_(missing, func.trim(value) == "")
        return and_(t.c.deleted_at.is_(None), missing)

    return _rows_where(ctx, step.entity, step.column, empty)


def _check_unique(ctx: MigrationContext, step: CheckValues) -> Found:
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


def _check_max_length(ctx: MigrationContext, step: CheckValues) -> Found:
    return _rows_where(
        ctx, step.entity, step.column, lambda t: func.length(t.c[step.column]) > step.limit
    )


_RULES: Mapping[str, tuple[Callable[[MigrationContext, CheckValues], Any], str, str]] = {
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


def check_step(ctx: MigrationContext, step: Step) -> OffendingRows | None:
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


def _conversion_failures(ctx: MigrationContext, step: ConvertType) -> Found:
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
    return offending_rows(migration_context(connection, tenant, plan))


def offending_rows(ctx: MigrationContext) -> list[OffendingRows]:
    """Every group of rows that blocks a step of the context's plan."""
    return [rows for step in ctx.plan.steps if (rows := check_step(ctx, step)) is not None]
