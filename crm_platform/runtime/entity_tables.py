"""Generating the per-entity record tables of a tenant from its physical configuration.

One table per (tenant, entity): schema ``<namespace>``, table ``<entity_key>`` on
PostgreSQL (one schema per tenant, so a migration never locks another tenant's
tables); table ``<namespace>__<entity_key>`` on SQLite, which has no schemas.
`column_specs` and `build_table` are the contract the migration planner diffs
against; keep their output stable (names, types, index names) across releases.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from crm_platform.db import JSONDocument

if TYPE_CHECKING:
    from crm_platform.metadata.model import Configuration, EntityDef, FieldDef

RecordId = BigInteger().with_variant(Integer, "sqlite")
"""Record ids: 64-bit on PostgreSQL; INTEGER on SQLite so the column is the rowid."""

UserId = Integer
UnitId = Integer

MAX_IDENTIFIER = 63
"""PostgreSQL truncates identifiers longer than this; generated names stay within it."""

DEFAULT_TEXT_LENGTH = 255
CURRENCY_SUFFIX = "_currency"


class TenantLike(Protocol):
    """What table generation needs of a tenant row (`metadata.tables.Tenant`)."""

    @property
    def id(self) -> int: ...

    @property
    def namespace(self) -> str: ...

    @property
    def config_version(self) -> int: ...


SYSTEM_COLUMN_NAMES = (
    "id",
    "owner_user_id",
    "owning_unit_id",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
    "version",
    "deleted_at",
)


# -- columns per field type ---------------------------------------------------------------------


def _text_length(field: FieldDef, default: int) -> int:
    return max(field.max_length or default, 1)


def _decimal_scale(field: FieldDef, default: int) -> int:
    return field.scale if field.scale is not None else default


def _single(type_: Callable[[FieldDef], TypeEngine[Any] | type[TypeEngine[Any]]]) -> _ColumnFactory:
    def make(field: FieldDef) -> list[Column[Any]]:
        return [Column(field.key, type_(field), nullable=True)]

    return make


def _money(field: FieldDef) -> list[Column[Any]]:
    return [
        Column(field.key, Numeric(18, _decimal_scale(field, 2)), nullable=True),
        Column(field.key + CURRENCY_SUFFIX, String(3), nullable=True),
    ]


_ColumnFactory = Callable[["FieldDef"], list[Column[Any]]]

# Every field column is nullable: "required" is enforced by the record service (with a
# message in the user's locale), and a field added by a later publish must not need a
# table rewrite to backfill existing rows.
COLUMN_FACTORIES: Mapping[str, _ColumnFactory] = {
    "text": _single(lambda f: String(_text_length(f, DEFAULT_TEXT_LENGTH))),
    "long_text": _single(lambda f: Text()),
    "integer": _single(lambda f: BigInteger()),
    "decimal": _single(lambda f: Numeric(18, _decimal_scale(f, 4))),
    "money": _money,
    "percent": _single(lambda f: Numeric(18, _decimal_scale(f, 2))),
    "boolean": _single(lambda f: Boolean()),
    "date": _single(lambda f: Date()),
    "datetime": _single(lambda f: DateTime(timezone=True)),
    "choice": _single(lambda f: String(MAX_IDENTIFIER)),
    "multi_choice": _single(lambda f: JSONDocument),
    "reference": _single(lambda f: RecordId),
    "user": _single(lambda f: UserId()),
    "org_unit": _single(lambda f: UnitId()),
    "email": _single(lambda f: String(_text_length(f, DEFAULT_TEXT_LENGTH))),
    # Normalised numbers are short (+8613812345678); room for extensions and foreign numbers.
    "phone": _single(lambda f: String(_text_length(f, 32))),
    "url": _single(lambda f: String(_text_length(f, 2048))),
    "region": _single(lambda f: String(6)),
    "uscc": _single(lambda f: String(18)),
}

REFERENCE_TYPES = frozenset({"reference", "user", "org_unit"})
"""Field types whose column holds the id of another row; each gets an index."""

UNSORTABLE_TYPES = frozenset({"long_text", "multi_choice"})


def column_specs(field: FieldDef) -> list[Column[Any]]:
    """The columns that store one field (money: amount and currency), freshly built.

    Fresh `Column` objects each call, so the caller may attach them to any table.
    """
    try:
        factory = COLUMN_FACTORIES[field.type]
    except KeyError:
        raise ValueError(
            f"field {field.key!r} has type {field.type!r}, which has no column mapping; "
            f"known types: {', '.join(sorted(COLUMN_FACTORIES))}"
        ) from None
    return factory(field)


def system_columns() -> list[Column[Any]]:
    """The columns every record table has, before the field columns."""
    return [
        Column("id", RecordId, primary_key=True, autoincrement=True),
        # Empty while a record waits in a pool (ownership issue).
        Column("owner_user_id", UserId, nullable=True),
        # Empty for master entities, which belong to the whole tenant.
        Column("owning_unit_id", UnitId, nullable=True),
        Column("created_by", UserId, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_by", UserId, nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("version", Integer, nullable=False, default=1),
        Column("deleted_at", DateTime(timezone=True), nullable=True),
    ]


# -- names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableLocation:
    """Where a tenant's entity table lives: `schema` (None on SQLite) and table `name`."""

    schema: str | None
    name: str


def table_location(namespace: str, entity_key: str, dialect: str) -> TableLocation:
    """The schema and table name of an entity's records in a tenant's namespace."""
    if dialect == "sqlite":
        return TableLocation(None, f"{namespace}__{entity_key}")
    return TableLocation(namespace, entity_key)


def table_name(namespace: str, entity_key: str, dialect: str) -> str:
    """The table name (without schema) of an entity's records; see `table_location`."""
    return table_location(namespace, entity_key, dialect).name


def index_name(table: str, suffix: str) -> str:
    """A deterministic index name within PostgreSQL's 63-character limit.

    SQLite index names are global to the database file, so the table name (which
    carries the tenant's namespace there) is always part of it.
    """
    name = f"ix_{table}_{suffix}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{name[: MAX_IDENTIFIER - 11]}_{digest}"


# -- tables ------------------------------------------------------------------------------------


def _sort_pairs(view: Any) -> list[tuple[str, str]]:
    """(field, direction) pairs of a list view's default sort, whatever its element shape."""
    pairs = []
    for item in getattr(view, "default_sort", None) or ():
        if isinstance(item, Mapping):
            pairs.append((item["field"], item.get("direction", "asc")))
        elif isinstance(item, tuple | list):
            pairs.append((item[0], item[1]))
        else:
            pairs.append((item.field, item.direction))
    return pairs


def _sort_index_elements(
    table: Table, pairs: Sequence[tuple[str, str]]
) -> list[ColumnElement[Any]] | None:
    """Index elements for a sort plus the id tie-breaker, or None if a key is not a column.

    Directions are stored relative to the first key: a B-tree index serves a sort
    and its exact reverse, so only the relative directions matter.
    """
    if not pairs:
        return None
    first = pairs[0][1]
    keys = [*pairs]
    if keys[-1][0] != "id":
        keys.append(("id", first))
    elements: list[ColumnElement[Any]] = []
    for key, direction in keys:
        if key not in table.c:
            return None
        column = table.c[key]
        elements.append(column if direction == first else column.desc())
    return elements


def build_table(
    tenant: TenantLike,
    entity: EntityDef,
    metadata: MetaData,
    *,
    dialect: str,
    list_views: Iterable[Any] = (),
) -> Table:
    """The `Table` of one entity's records in a tenant's namespace, with its indexes.

    `dialect` is the engine's dialect name (``sqlite`` or ``postgresql``);
    `list_views` are the views of this entity whose default sorts get an index.
    Indexes: (updated_at, id, owning_unit_id, deleted_at) for the broadest lists, so
    that walking it newest first filters by unit without reading rows; (owning_unit_id,
    updated_at, id) for unit-scoped lists; (owner_user_id, updated_at, id) for "my
    records" (these three over live rows only, which is all a list or count reads);
    one per reference, user and org_unit field; the title field; each list view's
    default sort; and a unique index per unique field over live rows only, so a
    soft-deleted record does not hold on to its value (restoring it re-checks).
    """
    location = table_location(tenant.namespace, entity.key, dialect)
    columns = system_columns()
    for field in entity.fields:
        columns.extend(column_specs(field))
    table = Table(location.name, metadata, *columns, schema=location.schema)
    name = location.name

    # Lists and counts read live rows only (`deleted_at IS NULL`, the exact term the record
    # service emits: SQLite uses a partial index only when the query's WHERE holds it
    # literally), so the scope indexes cover live rows and a count is answered from them.
    live = table.c.deleted_at.is_(None)
    live_only = {"postgresql_where": live, "sqlite_where": live}
    wanted: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    # The newest-first walk of broad scopes filters on the owning unit, and a tenant-wide
    # count names `deleted_at`: with both in the index neither touches the table (SQLite
    # does not see that a partial index's WHERE answers the term by itself).
    walk = [table.c.updated_at, table.c.id]
    if entity.ownership != "master":
        walk.append(table.c.owning_unit_id)
    wanted["updated"] = ([*walk, table.c.deleted_at], live_only)
    if entity.ownership != "master":
        wanted["unit_updated"] = (
            [table.c.owning_unit_id, table.c.updated_at, table.c.id],
            live_only,
        )
    if entity.ownership == "user_owned":
        wanted["owner_updated"] = (
            [table.c.owner_user_id, table.c.updated_at, table.c.id],
            live_only,
        )
    for field in entity.fields:
        if field.type in REFERENCE_TYPES:
            wanted[f"ref_{field.key}"] = ([table.c[field.key]], {})
        if field.unique:
            wanted[f"uq_{field.key}"] = ([table.c[field.key]], {"unique": True, **live_only})
    title = getattr(entity, "title_field", None)
    if title and title in table.c and f"uq_{title}" not in wanted:
        wanted[f"title_{title}"] = ([table.c[title], table.c.id], {})
    _add_sort_indexes(wanted, table, entity, list_views)
    for suffix, (elements, options) in wanted.items():
        Index(index_name(name, suffix), *elements, **options)
    return table


def _add_sort_indexes(
    wanted: dict[str, tuple[list[Any], dict[str, Any]]],
    table: Table,
    entity: EntityDef,
    list_views: Iterable[Any],
) -> None:
    """An index for each list view's default sort that no index in `wanted` serves already."""
    unsortable = {f.key for f in entity.fields if f.type in UNSORTABLE_TYPES}
    for view in list_views:
        pairs = _sort_pairs(view)
        if any(key in unsortable for key, _ in pairs):
            continue
        elements = _sort_index_elements(table, pairs)
        if elements is None:
            continue
        suffix = "sort_" + "_".join(f"{key}_{direction}" for key, direction in pairs)
        # An index whose leading elements are the sort's serves it already.
        if not any(_leads(elements, existing) for existing, _ in wanted.values()):
            wanted[suffix] = (elements, {})


def _leads(prefix: Sequence[Any], elements: Sequence[Any]) -> bool:
    return len(prefix) <= len(elements) and all(
        str(x) == str(y) for x, y in zip(prefix, elements[: len(prefix)], strict=True)
    )


def _list_views_of(config: Configuration, entity_key: str) -> list[Any]:
    views = getattr(config, "list_views", None) or {}
    values = views.values() if isinstance(views, Mapping) else views
    return [view for view in values if getattr(view, "entity", None) == entity_key]


def _entities_of(config: Configuration) -> list[EntityDef]:
    entities = config.entities
    return list(entities.values() if isinstance(entities, Mapping) else entities)


def build_tables(tenant: TenantLike, config: Configuration, dialect: str) -> dict[str, Table]:
    """Every entity table of a tenant's physical configuration, on one fresh MetaData."""
    metadata = MetaData()
    return {
        entity.key: build_table(
            tenant,
            entity,
            metadata,
            dialect=dialect,
            list_views=_list_views_of(config, entity.key),
        )
        for entity in _entities_of(config)
    }


def create_entity_tables(
    connection: Connection, tenant: TenantLike, config: Configuration
) -> dict[str, Table]:
    """Create (if absent) the schema and every entity table of a tenant's physical configuration.

    Used when a tenant's first configuration is published and by tests; later
    publishes go through the migration planner, which alters tables in place.
    """
    dialect = connection.dialect.name
    if dialect != "sqlite":
        from sqlalchemy.schema import CreateSchema

        connection.execute(CreateSchema(tenant.namespace, if_not_exists=True))
    tables = build_tables(tenant, config, dialect)
    for table in tables.values():
        table.create(connection, checkfirst=True)
    return tables


_INDEX_DEFINITION = {
    "sqlite": text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
    "postgresql": text(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = :schema AND indexname = :name"
    ),
}


def _is_partial(index: Index, dialect: str) -> bool:
    options = index.dialect_options.get(dialect)
    return options is not None and options.get("where") is not None


_INDEXED_ELEMENTS = re.compile(r"\sON\s+[^(]+\((?P<elements>[^)]*)\)", re.IGNORECASE)


def _elements_of(definition: str) -> list[str] | None:
    """The indexed elements of a stored CREATE INDEX, normalised (``updated_at``, ``id desc``)."""
    found = _INDEXED_ELEMENTS.search(definition)
    if found is None:
        return None
    return [
        " ".join(element.replace('"', "").lower().split()).removesuffix(" asc")
        for element in found.group("elements").split(",")
    ]


def _wanted_elements(index: Index) -> list[str]:
    elements = []
    for expression in index.expressions:
        column = getattr(expression, "element", None)
        if column is not None:
            elements.append(f"{column.name} desc")
        else:
            elements.append(str(getattr(expression, "name", expression)))
    return elements


def outdated_indexes(connection: Connection, table: Table) -> list[Index]:
    """The indexes of `table` that its database table lacks or has defined otherwise.

    The migration planner diffs one configuration's tables against another's, both
    built by this release's `build_table`; a definition changed by a release (the scope
    indexes became live-rows-only; the `updated` index gained columns) is invisible to
    it, so this compares columns and partiality with the database.
    """
    dialect = connection.dialect.name
    query = _INDEX_DEFINITION[dialect]
    stale = []
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        definition = connection.execute(
            query, {"schema": table.schema, "name": index.name}
        ).scalar()
        if (
            definition is None
            or (" WHERE " in definition.upper()) != _is_partial(index, dialect)
            or _elements_of(definition) != _wanted_elements(index)
        ):
            stale.append(index)
    return stale


def refresh_indexes(connection: Connection, tables: Iterable[Table]) -> list[str]:
    """Create the missing indexes of `tables` and rebuild those defined differently; their names.

    Safe to run on every publish: up-to-date indexes are left alone. On SQLite a
    rebuilt index is analysed at once: its planner knows an index only by the
    statistics ANALYZE left, and guesses badly about one it has none for.
    """
    refreshed = []
    for table in tables:
        for index in outdated_indexes(connection, table):
            index.drop(connection, checkfirst=True)
            index.create(connection)
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql(f'ANALYZE "{index.name}"')
            refreshed.append(str(index.name))
    return refreshed


class PhysicalSource(Protocol):
    """Where `EntityTables` gets a tenant's physical configuration (the `MetadataStore`)."""

    def physical(self, tenant_key: str) -> Configuration:
        """The tenant-wide physical configuration."""
        ...


class EntityTables:
    """A per-process cache of the `Table` objects of each tenant's entities.

    Keyed by (tenant id, created_at, config_version, dialect): a publish bumps the
    tenant's config_version, so the next lookup rebuilds from the new physical
    configuration, and a dropped and recreated tenant never meets old tables.
    Derived state only; safe to drop at any time.
    """

    def __init__(self, source: PhysicalSource | None = None, *, keep: int = 64):
        """`source.physical(tenant_key)` supplies configurations not passed in explicitly."""
        self._source = source
        self._keep = keep
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], dict[str, Table]] = {}

    def for_tenant(
        self, tenant: TenantLike, dialect: str, physical: Configuration | None = None
    ) -> Mapping[str, Table]:
        """Every entity table of the tenant at its current configuration version.

        `physical` is the tenant's physical configuration at that version, when the
        caller already has it; otherwise it is asked of the source.
        """
        key = (tenant.id, getattr(tenant, "created_at", None), tenant.config_version, dialect)
        tables = self._cache.get(key)
        if tables is None:
            if physical is None:
                if self._source is None:
                    raise ValueError(
                        "EntityTables has no configuration source; pass the physical "
                        "configuration or construct it with the MetadataStore"
                    )
                physical = self._source.physical(getattr(tenant, "key", ""))
            tables = build_tables(tenant, physical, dialect)
            with self._lock:
                for old in [k for k in self._cache if k[0] == tenant.id and k != key]:
                    del self._cache[old]
                if len(self._cache) >= self._keep:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = tables
        return tables

    def table(self, tenant: TenantLike, entity_key: str, dialect: str) -> Table:
        """The table of one entity; KeyError if the tenant's configuration has no such entity."""
        return self.for_tenant(tenant, dialect)[entity_key]

    def clear(self) -> None:
        """Forget every cached table (tests; after dropping a tenant)."""
        with self._lock:
            self._cache.clear()
