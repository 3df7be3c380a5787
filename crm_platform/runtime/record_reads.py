"""The read side of the record service: operation context, get, list, count, lookup, history.

`RecordService` (records.py) adds the writes on top of `RecordReads`; both halves
share `OperationContext`, built per operation from the tenant row, the cached
configurations, the entity's `Table` and the principal's compiled access.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    any_,
    bindparam,
    false,
    func,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from crm_platform.db import reading_statements
from crm_platform.metadata.conditions import ConditionContext, compile_condition
from crm_platform.metadata.field_types import FIELD_TYPES, SYSTEM_FIELDS
from crm_platform.metadata.model import Configuration, EntityDef
from crm_platform.metadata.tables import OrgUnit, Tenant
from crm_platform.runtime import audit
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.errors import (
    AccessDenied,
    InvalidOperation,
    RecordInvalid,
    RecordNotFound,
    RuntimeFailure,
)
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.page_plans import SortWalkChooser, WalkPlan
from crm_platform.runtime.policy import AccessPolicy, EntityAccess, TenantState
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_checks import (
    RECORD_KEY,
    EntityShape,
    RowReader,
    message,
    shape_of,
)
from crm_platform.runtime.record_queries import (
    MAX_PAGE_SIZE,
    Count,
    Page,
    cursor_params,
    decode_cursor,
    encode_cursor,
    keyset_predicate,
    order_by,
    resolve_sort,
)

_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]
_UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]

TENANT_STATE_COLUMNS = (
    _TENANTS.c.id.label("tenant_id"),
    _TENANTS.c.key.label("tenant_key"),
    _TENANTS.c.namespace,
    _TENANTS.c.config_version,
    _TENANTS.c.security_version,
    _TENANTS.c.created_at.label("tenant_created_at"),
)
"""The tenants columns a `TenantState` is made of, as `tenant_state_of` reads them from a row."""


def tenant_state_of(row: Any) -> TenantState:
    """The `TenantState` in a row that selected `TENANT_STATE_COLUMNS`."""
    return TenantState(
        id=row.tenant_id,
        key=row.tenant_key,
        namespace=row.namespace,
        config_version=row.config_version,
        security_version=row.security_version,
        created_at=row.tenant_created_at,
    )


# The one query every operation starts with: the tenant's namespace and versions, and the
# key and path of the principal's unit (which configuration layers apply), in one round trip.
_TENANT_QUERY = (
    select(
        *TENANT_STATE_COLUMNS,
        _UNITS.c.key.label("unit_key"),
        _UNITS.c.path.label("unit_path"),
    )
    .select_from(
        _TENANTS.outerjoin(
            _UNITS, and_(_UNITS.c.id == bindparam("unit_id"), _UNITS.c.tenant_id == _TENANTS.c.id)
        )
    )
    .where(_TENANTS.c.id == bindparam("tenant_id"))
)

WorkingUnit = tuple[str | None, str | None]
"""The key and path of the unit a principal works at: which configuration layers apply."""


def read_tenant(
    connection: Connection, tenant_id: int, unit_id: int | None
) -> tuple[TenantState, WorkingUnit]:
    """The tenant's state and the key and path of `unit_id` (None, None if not in it), at once."""
    row = connection.execute(_TENANT_QUERY, {"tenant_id": tenant_id, "unit_id": unit_id}).first()
    if row is None:
        raise InvalidOperation(f"tenant #{tenant_id} does not exist; sign in again")
    return tenant_state_of(row), (row.unit_key, row.unit_path)


_STAMP_COLUMNS = (
    select(_TENANTS.c.config_version)
    .where(_TENANTS.c.id == bindparam("stamp_tenant"))
    .scalar_subquery(),
    select(_TENANTS.c.security_version)
    .where(_TENANTS.c.id == bindparam("stamp_tenant"))
    .scalar_subquery(),
)
"""The tenant's current versions (parameter ``stamp_tenant``), selected alongside a
speculative read so that a stale cached tenant state is noticed by the read itself."""

_MAX_STATEMENTS = 2048

# Matches no row, yet makes SQLite take its write lock (waiting up to busy_timeout).
_TAKE_WRITE_LOCK = update(_TENANTS).where(false()).values(id=_TENANTS.c.id)

# `RecordReads.list` shadows the builtin inside the class body; annotations there use these.
Records = list[dict[str, Any]]
History = list[audit.AuditRecord]


_Read = TypeVar("_Read")
"""What one read returns (a record, a page, a count)."""

PHYSICAL = "\0physical"
"""The `_configuration` key of the tenant's physical configuration (no unit key looks like it)."""


class StorageFailure(RuntimeFailure):
    """The database failed in a way the caller cannot fix by changing values; retry later."""

    def __init__(self, entity: str, operation: str):
        self.entity = entity
        self.operation = operation
        super().__init__(
            f"the database could not {operation} {entity} records right now; try again, and "
            "tell an administrator if it keeps failing"
        )


@dataclass(frozen=True)
class OperationContext:
    """Everything one operation needs about the tenant, entity and principal's access."""

    connection: Connection
    tenant: TenantState
    principal: Principal
    config: Configuration
    entity: EntityDef
    table: Table
    tables: Mapping[str, Table]
    shape: EntityShape
    access: EntityAccess
    speculative: bool = False

    @property
    def hidden(self) -> frozenset[str]:
        levels = self.access.field_levels
        if not levels:
            return frozenset()
        return frozenset(key for key, level in levels.items() if level == "hidden")

    @property
    def masked(self) -> bool:
        return any(level == "masked" for level in self.access.field_levels.values())


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecordReads:
    """The context machinery and the read operations of `RecordService`."""

    def __init__(
        self,
        engine: Engine,
        store: Any,
        tables: EntityTables,
        policy: AccessPolicy,
        events: EventBus,
    ):
        """`store` is the `MetadataStore` (effective and physical configurations)."""
        self.engine = engine
        self.store = store
        self.tables = tables
        self.policy = policy
        self.events = events
        self.dialect = engine.dialect.name
        self._configs: dict[tuple[Any, ...], Configuration] = {}
        self._tenants: dict[tuple[int, int | None], tuple[TenantState, WorkingUnit]] = {}
        self._statements: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
        self._walks = SortWalkChooser()
        self._lock = threading.Lock()

    def _statement(self, shape: tuple[Any, ...], build: Any) -> Any:
        """The statement of a read `shape`, built once and reused while its parts live.

        `shape` holds the objects the statement is made of (the row reader, the
        policy's predicate...); they are compared by identity, so a policy that
        hands out the same predicate for the same principal gets its statements
        reused, and one that builds a new predicate each time merely misses.
        Values that vary per call (record id, cursor, tenant) are bound parameters.
        """
        key = tuple(
            id(part) if not isinstance(part, int | str | bool | tuple) else part for part in shape
        )
        cached = self._statements.get(key)
        if cached is not None and all(
            a is b or (isinstance(a, int | str | bool | tuple) and a == b)
            for a, b in zip(cached[0], shape, strict=True)
        ):
            return cached[1]
        statement = build()
        with self._lock:
            if len(self._statements) >= _MAX_STATEMENTS:
                self._statements.clear()
            self._statements[key] = (shape, statement)
        return statement

    # -- context ---------------------------------------------------------------------------------

    def _configuration(self, tenant: TenantState, unit: WorkingUnit | str) -> Configuration:
        """The configuration at `unit` (or `PHYSICAL`), cached per tenant version and unit path.

        The path is part of the key: a unit moved under another parent gets the
        layers of its new ancestors, though no configuration was published.
        """
        key = (tenant.id, tenant.created_at, tenant.config_version, unit)
        config = self._configs.get(key)
        if config is None:
            if unit == PHYSICAL:
                config = self.store.physical(tenant.key)
            else:
                config = self.store.effective(tenant.key, unit[0])
            with self._lock:
                for old in [k for k in self._configs if k[0] == tenant.id and k[1:3] != key[1:3]]:
                    del self._configs[old]
                self._configs[key] = config
        return config

    def _context(
        self,
        connection: Connection,
        principal: Principal,
        entity_key: str,
        *,
        speculative: bool = False,
    ) -> OperationContext:
        """The context of one operation.

        `speculative` reuses the tenant state this process last read instead of
        querying it; the read then carries the tenant's current versions along
        (`_stamp_columns`) and is redone if they moved, so a publish or a security
        change elsewhere is still seen by the very next read.
        """
        remembered = self._tenants.get((principal.tenant_id, principal.unit_id))
        if speculative and remembered is not None:
            tenant, unit = remembered
        else:
            tenant, unit = read_tenant(connection, principal.tenant_id, principal.unit_id)
            self._tenants[(principal.tenant_id, principal.unit_id)] = (tenant, unit)
            speculative = False
        config = self._configuration(tenant, unit)
        entity = config.entity(entity_key)
        physical = self._configuration(tenant, PHYSICAL)
        tables = self.tables.for_tenant(tenant, self.dialect, physical)
        table = tables[entity_key]
        access = self.policy.compile(connection, tenant, principal, entity, table, config)
        return OperationContext(
            connection=connection,
            tenant=tenant,
            principal=principal,
            config=config,
            entity=entity,
            table=table,
            tables=tables,
            shape=shape_of(table, entity, self.dialect),
            access=access,
            speculative=speculative,
        )

    def _read(
        self,
        entity_key: str,
        principal: Principal,
        run: Callable[[OperationContext], tuple[_Read, Any]],
    ) -> _Read:
        """Run a read (`run(ctx) -> (result, stamp)`) on a speculative context, redone if stale."""
        with self._transaction(entity_key, "read", read_only=True) as connection:
            ctx = self._context(connection, principal, entity_key, speculative=True)
            result, stamp = run(ctx)
            if ctx.speculative and stamp != (
                ctx.tenant.config_version,
                ctx.tenant.security_version,
            ):
                ctx = self._context(connection, principal, entity_key)
                result, _ = run(ctx)
            return result

    @contextmanager
    def _transaction(
        self, entity_key: str, operation: str, *, read_only: bool = False
    ) -> Iterator[Connection]:
        """A transaction whose database failures surface as platform errors, never raw.

        Reads run without BEGIN (`db.reading_statements`): a page or a count is
        one statement, and BEGIN and COMMIT would double its round trips. Writes
        on SQLite take the database's write lock first: a transaction that read
        before its first write cannot wait for a concurrent writer (SQLite
        reports the snapshot as stale at once), one that writes first simply
        waits its turn.
        """
        try:
            if read_only:
                with self.engine.connect() as connection:
                    yield reading_statements(connection)
                return
            with self.engine.begin() as connection:
                if not read_only and self.dialect == "sqlite":
                    connection.execute(_TAKE_WRITE_LOCK)
                yield connection
        except IntegrityError:
            raise RecordInvalid(entity_key, {RECORD_KEY: [message("conflict", "en")]}) from None
        except DBAPIError as exc:
            raise StorageFailure(entity_key, operation) from exc

    # -- reading ---------------------------------------------------------------------------------

    def _present(self, ctx: OperationContext, row: Mapping[str, Any]) -> dict[str, Any]:
        record = ctx.shape.present(row)
        return ctx.access.mask(record) if ctx.masked else record

    def _select(self, ctx: OperationContext) -> Any:
        return ctx.shape.reader(ctx.hidden).select

    def _fetch(
        self,
        ctx: OperationContext,
        record_id: int,
        privilege: str = "read",
        *,
        deleted: bool | None = False,
        for_update: bool = False,
    ) -> Mapping[str, Any] | None:
        table = ctx.table
        query = self._select(ctx).where(
            table.c.id == record_id,
            ctx.access.predicate(privilege),  # type: ignore[arg-type]
        )
        if deleted is not None:
            query = query.where(
                table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
            )
        if for_update and self.dialect == "postgresql":
            query = query.with_for_update()
        row = ctx.connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def _require(
        self, ctx: OperationContext, record_id: int, privilege: str, *, deleted: bool = False
    ) -> Mapping[str, Any]:
        """The row if the principal holds `privilege` on it; else not found or denied.

        A row the principal cannot even read is "not found", so existence never leaks.
        """
        row = self._fetch(ctx, record_id, privilege, deleted=deleted, for_update=True)
        if row is not None:
            return row
        if privilege != "read" and self._fetch(ctx, record_id, "read", deleted=deleted):
            raise AccessDenied(ctx.entity.key, privilege, f"record {record_id}")
        raise RecordNotFound(ctx.entity.key, record_id)

    def get(self, principal: Principal, entity_key: str, record_id: int) -> dict[str, Any]:
        """One live record as the principal may see it; `RecordNotFound` otherwise."""
        wanted = as_record_id(entity_key, record_id)

        def run(ctx: OperationContext) -> tuple[dict[str, Any] | None, Any]:
            table = ctx.table
            predicate = ctx.access.predicate("read")
            reader = ctx.shape.reader(ctx.hidden)

            def build() -> Any:
                return reader.select.add_columns(*_STAMP_COLUMNS).where(
                    table.c.id == bindparam("record_id"), table.c.deleted_at.is_(None), predicate
                )

            query = self._statement(("get", reader, predicate), build)
            params = {"record_id": wanted, "stamp_tenant": ctx.tenant.id}
            row = ctx.connection.execute(query, params).first()
            if row is None:
                return None, None
            record = reader.finish(reader.raw([row]))[0]
            if ctx.masked:
                record = ctx.access.mask(record)
            return record, tuple(row[-2:])

        record = self._read(entity_key, principal, run)
        if record is None:
            raise RecordNotFound(entity_key, record_id)
        return record

    def _where(
        self,
        ctx: OperationContext,
        filter: Any,
        search: str | None,
        privilege: str = "read",
        *,
        predicate: Any = None,
    ) -> list[Any]:
        table = ctx.table
        if predicate is None:
            predicate = ctx.access.predicate(privilege)  # type: ignore[arg-type]
        clauses = [table.c.deleted_at.is_(None), predicate]
        if filter is not None or (search and search.strip()):
            columns, types = ctx.shape.condition_columns(ctx.hidden)
            condition_context = ConditionContext(
                user_id=ctx.principal.user_id,
                unit_id=ctx.principal.unit_id,
                unit_ids=ctx.principal.team_ids
                or ((ctx.principal.unit_id,) if ctx.principal.unit_id else ()),
            )
            if filter is not None:
                clauses.append(compile_condition(filter, columns, types, condition_context))
            if search and search.strip():
                searchable = [
                    key
                    for key in ctx.shape.search_fields
                    if key in types and FIELD_TYPES[types[key]].textual
                ]
                if not searchable:
                    raise InvalidOperation(
                        f"{ctx.entity.key} has no text fields you may search; use a filter"
                    )
                condition = {
                    "any": [
                        {"field": key, "op": "contains", "value": search.strip()}
                        for key in searchable
                    ]
                }
                clauses.append(compile_condition(condition, columns, types, condition_context))
        return clauses

    def list(
        self,
        principal: Principal,
        entity_key: str,
        *,
        filter: Any = None,
        search: str | None = None,
        sort: Sequence[tuple[str, str]] | None = None,
        page_size: int = 50,
        cursor: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> Page:
        """One page of live records, by keyset over `sort` (+ id), as the principal may see them.

        `filter` is a condition-language tree; `search` matches the entity's text
        search fields; `sort` names indexed fields only. Pass a page's `next_cursor`
        or `prev_cursor` back as `cursor` to move; a cursor only fits its own sort.
        `fields` (field keys) narrows what each record holds to those fields, the
        sort's and the system columns, for pages that show a few columns of many;
        hidden fields stay out, and a key the entity does not have is refused.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidOperation(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if isinstance(fields, str):
            raise InvalidOperation(
                f"fields of a {entity_key} list must be a sequence of field keys, "
                f"not the string {fields!r}"
            )
        wanted = frozenset(fields) if fields is not None else None

        def run(ctx: OperationContext) -> tuple[Page, Any]:
            allowed = ctx.shape.sortable - ctx.hidden
            keys = resolve_sort(entity_key, ctx.table, sort, allowed)
            backwards = False
            values: list[Any] = []
            if cursor is not None:
                values, backwards = decode_cursor(entity_key, keys, cursor)
            narrowed = None
            if wanted is not None:
                _check_fields(ctx.shape, wanted)
                # The cursor is made from the last row's sort values, so they are always read.
                narrowed = wanted | {key.name for key in keys}
            reader = ctx.shape.reader(ctx.hidden, narrowed)
            plan = WalkPlan(ctx.access.predicate("read"))
            if filter is None and not (search and search.strip()):
                plan = self._walks.plan(ctx.connection, ctx.table, plan.predicate, keys, page_size)
            predicate = plan.predicate
            params: dict[str, Any] = {"stamp_tenant": ctx.tenant.id}

            def build() -> Any:
                clauses = self._where(ctx, filter, search, predicate=predicate)
                if cursor is not None:
                    after, _ = keyset_predicate(keys, values, backwards)
                    clauses.append(after)
                order = order_by(keys, backwards)
                page = reader.select.add_columns(*_STAMP_COLUMNS)
                if plan.ids_first:
                    # The inner FROM is the same table: it must not correlate to the outer one.
                    ids = select(ctx.table.c.id).where(*clauses).order_by(*order)
                    ids = ids.limit(page_size + 1).correlate(None)
                    in_page = ctx.table.c.id == any_(func.array(ids.scalar_subquery()))
                    return page.where(in_page).order_by(*order)
                return page.where(*clauses).order_by(*order).limit(page_size + 1)

            if cursor is not None:
                params.update(cursor_params(values))
            if filter is None and not (search and search.strip()):
                shape = (
                    "list",
                    reader,
                    predicate,
                    plan.ids_first,
                    tuple((key.name, key.descending) for key in keys),
                    backwards,
                    cursor is not None and tuple(value is None for value in values),
                    page_size,
                )
                query = self._statement(shape, build)
            else:
                query = build()
            result = ctx.connection.execute(query, params).all()
            stamp = tuple(result[0][-2:]) if result else None
            return self._page(
                ctx, reader, keys, reader.raw(result), cursor, backwards, page_size
            ), stamp

        return self._read(entity_key, principal, run)

    def _page(
        self,
        ctx: OperationContext,
        reader: RowReader,
        keys: Sequence[Any],
        rows: Records,
        cursor: str | None,
        backwards: bool,
        page_size: int,
    ) -> Page:
        more = len(rows) > page_size
        rows = rows[:page_size]
        if backwards:
            rows.reverse()
        if not rows:
            return Page([], None, None)
        has_next = more if not backwards else True
        has_prev = (cursor is not None) if not backwards else more
        next_cursor = encode_cursor(keys, rows[-1], backwards=False) if has_next else None
        prev_cursor = encode_cursor(keys, rows[0], backwards=True) if has_prev else None
        records = reader.finish(rows)
        if ctx.masked:
            records = [ctx.access.mask(record) for record in records]
        return Page(records, next_cursor, prev_cursor)

    def count(
        self,
        principal: Principal,
        entity_key: str,
        *,
        filter: Any = None,
        search: str | None = None,
        cap: int | None = 10000,
    ) -> Count:
        """How many live records the principal may read match; stops at `cap` (None: exact)."""

        def run(ctx: OperationContext) -> tuple[Count, Any]:
            predicate = ctx.access.predicate("read")

            def build() -> Any:
                clauses = self._where(ctx, filter, search, predicate=predicate)
                if cap is None:
                    return (
                        select(func.count(), *_STAMP_COLUMNS).select_from(ctx.table).where(*clauses)
                    )
                inner = select(ctx.table.c.id).where(*clauses).limit(cap + 1).subquery()
                return select(func.count(), *_STAMP_COLUMNS).select_from(inner)

            if filter is None and not (search and search.strip()):
                query = self._statement(("count", ctx.table, predicate, cap), build)
            else:
                query = build()
            params = {"stamp_tenant": ctx.tenant.id}
            value, *versions = ctx.connection.execute(query, params).one()
            if cap is not None and value > cap:
                return Count(cap, False), tuple(versions)
            return Count(value, True), tuple(versions)

        return self._read(entity_key, principal, run)

    def export(
        self,
        principal: Principal,
        entity_key: str,
        *,
        filter: Any = None,
        search: str | None = None,
        batch_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every live record the principal may export that matches, in id order, as they may see it.

        Uses the ``export`` privilege (not ``read``) and field security like any
        read; streams in batches by keyset over the id inside one read, so memory
        stays flat for any table size.
        """
        with self._transaction(entity_key, "export", read_only=True) as connection:
            ctx = self._context(connection, principal, entity_key)
            reader = ctx.shape.reader(ctx.hidden)
            clauses = self._where(ctx, filter, search, "export")
            last = 0
            while True:
                rows = connection.execute(
                    reader.select.where(*clauses, ctx.table.c.id > last)
                    .order_by(ctx.table.c.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return
                records = reader.finish(reader.raw(rows))
                last = records[-1]["id"]
                for record in records:
                    yield ctx.access.mask(record) if ctx.masked else record

    def lookup(self, principal: Principal, entity_key: str, query: str, limit: int = 20) -> Records:
        """Records for a reference picker: ``{"id", "title"}`` of readable live records."""
        with self._transaction(entity_key, "read", read_only=True) as connection:
            ctx = self._context(connection, principal, entity_key)
            title = ctx.entity.title_field
            title_column = ctx.table.c[title] if title not in ctx.hidden else ctx.table.c.id
            clauses = self._where(ctx, None, query if query and query.strip() else None)
            ordering = (
                [title_column.asc(), ctx.table.c.id.asc()]
                if title in ctx.shape.sortable and title not in ctx.hidden
                else [ctx.table.c.updated_at.desc(), ctx.table.c.id.desc()]
            )
            rows = connection.execute(
                select(ctx.table.c.id, title_column.label("title"))
                .where(*clauses)
                .order_by(*ordering)
                .limit(max(1, min(limit, MAX_PAGE_SIZE)))
            ).all()
            items = [{"id": row.id, "title": row.title} for row in rows]
            if ctx.masked and ctx.access.field_levels.get(title) == "masked":
                items = [
                    {"id": item["id"], "title": ctx.access.mask({title: item["title"]})[title]}
                    for item in items
                ]
        return items

    def history(self, principal: Principal, entity_key: str, record_id: int) -> History:
        """The audit trail of a record the principal may read (deleted ones too), oldest first.

        Hidden fields are left out of every entry; masked ones are masked.
        """
        with self._transaction(entity_key, "read", read_only=True) as connection:
            ctx = self._context(connection, principal, entity_key)
            record_id = as_record_id(entity_key, record_id)
            if self._fetch(ctx, record_id, deleted=None) is None:
                raise RecordNotFound(entity_key, record_id)
            entries = audit.history(connection, ctx.tenant.id, entity_key, record_id)
        hidden = ctx.hidden
        masked = {k for k, level in ctx.access.field_levels.items() if level == "masked"}
        if not hidden and not masked:
            return entries
        return [_filter_entry(entry, ctx, hidden, masked) for entry in entries]


def _check_fields(shape: EntityShape, wanted: frozenset[str]) -> None:
    """Refuse field keys the entity does not have, naming every one of them."""
    unknown = sorted(key for key in wanted if key not in shape.fields and key not in SYSTEM_FIELDS)
    if unknown:
        raise InvalidOperation(
            f"{shape.entity.key} has no field {', '.join(map(repr, unknown))} to list; "
            f"its fields are {', '.join(shape.fields)}"
        )


def as_record_id(entity_key: str, record_id: Any) -> int:
    """A record id from the caller; anything that is not a positive integer is "not found"."""
    try:
        value = int(record_id)
    except (TypeError, ValueError):
        raise RecordNotFound(entity_key, record_id) from None
    if (
        value <= 0
        or isinstance(record_id, bool)
        or value != record_id
        and not isinstance(record_id, str)
    ):
        raise RecordNotFound(entity_key, record_id)
    return value


def _filter_entry(
    entry: audit.AuditRecord, ctx: OperationContext, hidden: frozenset[str], masked: set[str]
) -> audit.AuditRecord:
    changes: dict[str, tuple[Any, Any]] = {}
    for key, (stored_before, stored_after) in entry.changes.items():
        if key in hidden:
            continue
        before, after = stored_before, stored_after
        if key in masked:
            before = ctx.access.mask({key: before}).get(key) if before is not None else None
            after = ctx.access.mask({key: after}).get(key) if after is not None else None
        changes[key] = (before, after)
    return audit.AuditRecord(
        id=entry.id,
        entity=entry.entity,
        record_id=entry.record_id,
        action=entry.action,
        actor_id=entry.actor_id,
        at=entry.at,
        changes=changes,
    )
