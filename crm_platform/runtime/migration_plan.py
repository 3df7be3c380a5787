"""Planning the schema migration of a publish: the ordered steps from one configuration to another.

The planner compares two tenant-wide physical configurations through the same
column and table builders that generate the record tables (`entity_tables`), so
the plan and the tables agree by construction. It is pure: it reads no database.
What exists only in the database (archived columns) is passed in as `archived`;
`migrations.plan_for_publish` loads it. Field keys are stable, so a label change
is never a step.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Column, Index, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex

from crm_platform.metadata.model import Configuration, EntityDef, FieldDef
from crm_platform.runtime.entity_tables import TenantLike, build_tables, column_specs
from crm_platform.runtime.errors import InvalidOperation

CHOICE_TYPES = frozenset({"choice", "multi_choice"})

_DIALECTS: Mapping[str, type[Dialect]] = {
    "sqlite": sqlite.dialect,
    "postgresql": postgresql.dialect,
}


def dialect_for(name: str) -> Dialect:
    """A dialect object to compile types and DDL for `name` (``sqlite`` or ``postgresql``)."""
    try:
        return _DIALECTS[name]()
    except KeyError:
        raise InvalidOperation(
            f"database dialect {name!r} is not supported; use sqlite or postgresql"
        ) from None


# -- column types, as the database sees them ---------------------------------------------------

_TYPE = re.compile(r"^(?P<name>[A-Z ]+?)\s*(\((?P<args>[\d, ]+)\))?$")
_CLASSES: Mapping[str, str] = {
    "VARCHAR": "text",
    "CHAR": "text",
    "TEXT": "text",
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "NUMERIC": "decimal",
    "DECIMAL": "decimal",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DATETIME": "datetime",
    "TIMESTAMP": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "JSON": "json",
    "JSONB": "json",
}
_INTEGER_BITS: Mapping[str, int] = {"SMALLINT": 16, "INTEGER": 32, "BIGINT": 64}


@dataclass(frozen=True)
class ColumnType:
    """A compiled column type (``VARCHAR(50)``, ``NUMERIC(18, 2)``) and what it can hold."""

    sql: str
    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    bits: int | None = None

    @classmethod
    def parse(cls, sql: str) -> ColumnType:
        """Classify a compiled type; unknown types get their own kind, convertible to nothing."""
        match = _TYPE.match(sql.strip().upper())
        if match is None:
            return cls(sql, sql)
        name = match["name"].strip()
        args = [int(a) for a in (match["args"] or "").replace(" ", "").split(",") if a]
        kind = _CLASSES.get(name, name)
        if kind == "text":
            return cls(sql, kind, length=args[0] if args and name != "TEXT" else None)
        if kind == "decimal":
            precision = args[0] if args else None
            scale = args[1] if len(args) > 1 else 0 if args else None
            return cls(sql, kind, precision=precision, scale=scale)
        if kind == "integer":
            return cls(sql, kind, bits=_INTEGER_BITS[name])
        return cls(sql, kind)

    def holds_all_of(self, other: ColumnType) -> bool:
        """True when every value `other` can hold fits this type unchanged (a widening)."""
        if self.kind != other.kind:
            return False
        if self.kind == "text":
            return self.length is None or (other.length is not None and self.length >= other.length)
        if self.kind == "integer":
            return (self.bits or 0) >= (other.bits or 0)
        if self.kind == "decimal":
            return self._holds_all_decimals_of(other)
        return self.sql == other.sql

    def _holds_all_decimals_of(self, other: ColumnType) -> bool:
        """As many digits before and after the point as `other` (no precision: any number)."""
        if self.precision is None:
            return True
        if other.precision is None or self.scale is None or other.scale is None:
            return False
        return self.scale >= other.scale and (self.precision - self.scale) >= (
            other.precision - other.scale
        )


def compile_type(column: Column[Any], dialect: Dialect) -> str:
    """The column's type as the dialect's DDL spells it."""
    return str(column.type.compile(dialect=dialect))


# -- the steps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step(ABC):
    """One step of a migration plan; `rank` orders the plan, `description` explains it."""

    rank: ClassVar[int] = 0
    kind: ClassVar[str] = "step"
    entity: str

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for `crm-platform config diff` and the designer's preview."""


@dataclass(frozen=True)
class CheckValues(Step):
    """Existing rows must satisfy a tightened rule before the publish may proceed.

    `rule` is ``options`` (choice values must be one of `allowed`), ``required``
    (live rows need a value), ``unique`` (live rows must not share a value) or
    ``max_length`` (values no longer than `limit` characters).
    """

    rank: ClassVar[int] = 0
    kind: ClassVar[str] = "check values"
    field: str = ""
    column: str = ""
    rule: str = ""
    field_type: str = ""
    allowed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    limit: int | None = None

    @property
    def description(self) -> str:
        where = f"{self.entity}.{self.field}"
        texts = {
            "options": f"check that no {self.entity} row uses a value of {where} that is no "
            f"longer an option ({', '.join(self.removed) or 'values outside the options'})",
            "required": f"check that every live {self.entity} row has a value for {where} "
            "(now required)",
            "unique": f"check that no two live {self.entity} rows share a value of {where} "
            "(now unique)",
            "max_length": f"check that no value of {where} is longer than {self.limit} characters",
        }
        return texts[self.rule]


@dataclass(frozen=True)
class DropIndex(Step):
    """Drop an index the new configuration no longer has (or defines differently)."""

    rank: ClassVar[int] = 1
    kind: ClassVar[str] = "drop index"
    name: str = ""

    @property
    def description(self) -> str:
        return f"drop index {self.name} on {self.entity}"


@dataclass(frozen=True)
class ArchiveEntity(Step):
    """An entity left the configuration: its table is kept with its data, hidden."""

    rank: ClassVar[int] = 2
    kind: ClassVar[str] = "archive entity"
    fields: tuple[FieldDef, ...] = ()

    @property
    def description(self) -> str:
        return (
            f"archive entity {self.entity} (its table is kept with its data, hidden; "
            "restorable until purged)"
        )


@dataclass(frozen=True)
class ArchiveField(Step):
    """A field (or one column of it) left the configuration: its column is kept, hidden."""

    rank: ClassVar[int] = 3
    kind: ClassVar[str] = "archive field"
    field: FieldDef | None = None
    columns: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        assert self.field is not None
        return (
            f"archive field {self.entity}.{self.field.key} (column "
            f"{', '.join(self.columns)} kept with its data, hidden; restorable until purged)"
        )


@dataclass(frozen=True)
class CreateTable(Step):
    """A new entity: create its table with every index."""

    rank: ClassVar[int] = 4
    kind: ClassVar[str] = "create table"

    @property
    def description(self) -> str:
        return f"create the table of entity {self.entity}"


@dataclass(frozen=True)
class RestoreField(Step):
    """A field came back with the key of an archived one: its column (and data) returns."""

    rank: ClassVar[int] = 5
    kind: ClassVar[str] = "restore archived field"
    field: str = ""
    column: str = ""

    @property
    def description(self) -> str:
        return f"restore archived column {self.entity}.{self.column} with its data"


@dataclass(frozen=True)
class AddColumn(Step):
    """A new field's column; nullable, so existing rows need no rewrite."""

    rank: ClassVar[int] = 6
    kind: ClassVar[str] = "add column"
    column: str = ""
    type_sql: str = ""

    @property
    def description(self) -> str:
        return f"add column {self.entity}.{self.column} ({self.type_sql})"


@dataclass(frozen=True)
class WidenType(Step):
    """A column type that holds every old value unchanged (longer text, bigger numbers)."""

    rank: ClassVar[int] = 7
    kind: ClassVar[str] = "widen type"
    column: str = ""
    from_type: str = ""
    to_type: str = ""

    @property
    def description(self) -> str:
        return f"widen {self.entity}.{self.column} from {self.from_type} to {self.to_type}"


@dataclass(frozen=True)
class ConvertType(Step):
    """A column type change that some values may not survive; those rows block the publish."""

    rank: ClassVar[int] = 7
    kind: ClassVar[str] = "convert type"
    field: str = ""
    column: str = ""
    from_type: str = ""
    to_type: str = ""

    @property
    def description(self) -> str:
        return (
            f"convert {self.entity}.{self.column} from {self.from_type} to {self.to_type} "
            "(rows whose value would not convert block the publish)"
        )


@dataclass(frozen=True)
class AddIndex(Step):
    """An index the new configuration has (reference, unique, sort, scope)."""

    rank: ClassVar[int] = 8
    kind: ClassVar[str] = "add index"
    name: str = ""
    columns: tuple[str, ...] = ()
    unique: bool = False

    @property
    def description(self) -> str:
        unique = "unique " if self.unique else ""
        return f"add {unique}index {self.name} on {self.entity} ({', '.join(self.columns)})"


@dataclass(frozen=True)
class RestoreEntity(Step):
    """An entity came back while its table was archived: the table (and data) returns."""

    rank: ClassVar[int] = 9
    kind: ClassVar[str] = "restore archived entity"

    @property
    def description(self) -> str:
        return f"restore the archived table of entity {self.entity} with its data and indexes"


@dataclass(frozen=True)
class ArchivedField:
    """An archived column as stored in `archived_columns`."""

    entity: str
    column: str
    field: FieldDef
    column_type: str
    whole_entity: bool = False


@dataclass(frozen=True)
class MigrationPlan:
    """The ordered steps that bring a tenant's tables from one configuration to another."""

    tenant_id: int
    namespace: str
    dialect: str
    after: Configuration
    steps: tuple[Step, ...]

    @property
    def is_empty(self) -> bool:
        """True when the tables already match the new configuration."""
        return not self.steps

    def steps_for(self, entity: str) -> tuple[Step, ...]:
        """The steps that touch one entity's table, in plan order."""
        return tuple(step for step in self.steps if step.entity == entity)


def describe_plan(plan: MigrationPlan) -> list[str]:
    """One line per step, in the order they run (empty when nothing changes)."""
    return [step.description for step in plan.steps]


# -- planning ----------------------------------------------------------------------------------


def plan_migration(
    tenant: TenantLike,
    before: Configuration | None,
    after: Configuration,
    dialect: str,
    archived: Iterable[ArchivedField] = (),
) -> MigrationPlan:
    """The steps from `before` (None: nothing published yet) to `after`, ordered.

    `archived` lists the tenant's archived columns, so that re-adding a removed
    field (or entity) restores it instead of adding an empty column.
    """
    compiler = dialect_for(dialect)
    archive = {(item.entity, item.column): item for item in archived}
    before_entities: Mapping[str, EntityDef] = before.entities if before is not None else {}
    before_tables = build_tables(tenant, before, dialect) if before is not None else {}
    after_tables = build_tables(tenant, after, dialect)
    steps: list[Step] = []
    for key, entity in after.entities.items():
        if key in before_entities:
            planner = _EntityPlanner(key, compiler, archive)
            steps += planner.fields(before_entities[key].fields, entity.fields)
            steps += _index_changes(key, before_tables[key], after_tables[key], compiler)
        elif any(item.entity == key and item.whole_entity for item in archive.values()):
            steps += _EntityPlanner(key, compiler, archive).fields((), entity.fields)
            steps.append(RestoreEntity(key))
        else:
            steps.append(CreateTable(key))
    for key, entity in before_entities.items():
        if key not in after.entities:
            steps.append(ArchiveEntity(key, fields=entity.fields))
    ordered = sorted(enumerate(steps), key=lambda item: (item[1].rank, item[0]))
    return MigrationPlan(
        tenant_id=tenant.id,
        namespace=tenant.namespace,
        dialect=dialect,
        after=after,
        steps=tuple(step for _, step in ordered),
    )


@dataclass
class _EntityPlanner:
    """The field-level steps of one entity whose table exists (or is archived)."""

    entity: str
    dialect: Dialect
    archive: Mapping[tuple[str, str], ArchivedField]

    def fields(self, before: Sequence[FieldDef], after: Sequence[FieldDef]) -> list[Step]:
        old = {f.key: f for f in before}
        new_keys = {f.key for f in after}
        steps: list[Step] = []
        for field in before:
            if field.key not in new_keys:
                columns = tuple(c.name for c in column_specs(field))
                steps.append(ArchiveField(self.entity, field=field, columns=columns))
        for field in after:
            steps += self._field(old.get(field.key), field)
        return steps

    def _field(self, previous: FieldDef | None, field: FieldDef) -> list[Step]:
        steps: list[Step] = []
        old_columns = {c.name: c for c in column_specs(previous)} if previous else {}
        new_columns = column_specs(field)
        for column in new_columns:
            if previous is not None and column.name in old_columns:
                steps += self._column(previous, field, old_columns[column.name], column)
                continue
            archived = self.archive.get((self.entity, column.name))
            if archived is None:
                steps.append(
                    AddColumn(self.entity, column.name, compile_type(column, self.dialect))
                )
                continue
            steps.append(RestoreField(self.entity, field=field.key, column=column.name))
            old_column = next(
                (c for c in column_specs(archived.field) if c.name == column.name), None
            )
            if old_column is not None:
                steps += self._column(archived.field, field, old_column, column)
        if previous is not None:
            dropped = tuple(
                name for name in old_columns if name not in {c.name for c in new_columns}
            )
            if dropped:
                steps.append(ArchiveField(self.entity, field=previous, columns=dropped))
        return steps

    def _column(
        self, previous: FieldDef, field: FieldDef, old: Column[Any], new: Column[Any]
    ) -> list[Step]:
        """Type steps and tightened-rule checks for a column that holds data already."""
        steps: list[Step] = []
        old_type = compile_type(old, self.dialect)
        new_type = compile_type(new, self.dialect)
        if old_type != new_type:
            step_type = (
                WidenType
                if ColumnType.parse(new_type).holds_all_of(ColumnType.parse(old_type))
                else ConvertType
            )
            if step_type is WidenType:
                steps.append(WidenType(self.entity, new.name, old_type, new_type))
            else:
                steps.append(ConvertType(self.entity, field.key, new.name, old_type, new_type))
        if new.name == field.key:
            steps += _tightened_rules(self.entity, previous, field, old_type == new_type)
        return steps


def _tightened_rules(
    entity: str, previous: FieldDef, field: FieldDef, same_type: bool
) -> list[CheckValues]:
    """Checks for rules the new field definition adds or narrows."""

    def check(rule: str, **extra: Any) -> CheckValues:
        return CheckValues(
            entity, field=field.key, column=field.key, field_type=field.type, rule=rule, **extra
        )

    checks: list[CheckValues] = []
    if field.type in CHOICE_TYPES:
        allowed = field.option_keys
        removed = tuple(k for k in previous.option_keys if k not in allowed)
        if previous.type not in CHOICE_TYPES or removed:
            checks.append(check("options", allowed=allowed, removed=removed))
    if field.required and not previous.required:
        checks.append(check("required"))
    if field.unique and not previous.unique:
        checks.append(check("unique"))
    # A changed column type checks lengths itself (ConvertType); this covers long text,
    # whose column has no declared length.
    if same_type and field.max_length is not None:
        if previous.max_length is None or field.max_length < previous.max_length:
            checks.append(check("max_length", limit=field.max_length))
    return checks


def _index_changes(entity: str, before: Table, after: Table, dialect: Dialect) -> list[Step]:
    old = {index.name: index for index in before.indexes}
    new = {index.name: index for index in after.indexes}
    steps: list[Step] = []
    for name, index in old.items():
        if name not in new or _index_ddl(index, dialect) != _index_ddl(new[name], dialect):
            steps.append(DropIndex(entity, name=str(name)))
    for name, index in new.items():
        if name not in old or _index_ddl(index, dialect) != _index_ddl(old[name], dialect):
            columns = tuple(c.name for c in index.columns)
            steps.append(AddIndex(entity, name=str(name), columns=columns, unique=index.unique))
    return steps


def _index_ddl(index: Index, dialect: Dialect) -> str:
    return str(CreateIndex(index).compile(dialect=dialect))
