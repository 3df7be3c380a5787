"""`RecordService`: the only code that reads or writes entity tables.

Every operation takes the acting `Principal` first and runs in one transaction:
it reads the tenant row (namespace and configuration version) with one small
query, takes the entity's definition from the principal's effective
configuration and its `Table` from the tenant's physical configuration (both
cached per configuration version), asks the `AccessPolicy` for the principal's
access, and ANDs that access into every statement. The hot path (get, list,
count) is SQLAlchemy Core only. Writes validate every field at once, append an
audit entry in the same transaction, and publish a `RecordEvent` after COMMIT.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from crm_platform.metadata.conditions import ConditionContext, compile_condition
from crm_platform.metadata.field_types import FIELD_TYPES
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
    StaleVersion,
)
from crm_platform.runtime.events import EventBus, RecordEvent
from crm_platform.runtime.policy import AccessPolicy, EntityAccess, TenantState
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_checks import (
    RECORD_KEY,
    WRITABLE_SYSTEM_KEYS,
    EntityShape,
    RowReader,
    check_references,
    check_unique,
    message,
    shape_of,
    to_columns,
    validate_rows,
)
from crm_platform.runtime.record_links import apply_on_delete
from crm_platform.runtime.record_queries import (
    MAX_PAGE_SIZE,
    Count,
    Page,
    decode_cursor,
    encode_cursor,
    keyset_predicate,
    order_by,
    resolve_sort,
)

__all__ = ["BulkResult", "Count", "Page", "RecordService", "StorageFailure"]

_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]
_UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]

# The one query every operation starts with: the tenant's namespace and versions, and the
# key of the principal's unit (which configuration layer applies), in one round trip.
_TENANT_QUERY = (
    select(
        _TENANTS.c.id,
        _TENANTS.c.key,
        _TENANTS.c.namespace,
        _TENANTS.c.config_version,
        _TENANTS.c.security_version,
        _TENANTS.c.created_at,
        _UNITS.c.key.label("unit_key"),
    )
    .select_from(
        _TENANTS.outerjoin(
            _UNITS, and_(_UNITS.c.id == bindparam("unit_id"), _UNITS.c.tenant_id == _TENANTS.c.id)
        )
    )
    .where(_TENANTS.c.id == bindparam("tenant_id"))
)


def _stamp_columns(tenant_id: int) -> tuple[Any, Any]:
    """The tenant's current versions, selected alongside a speculative read."""
    return (
        select(_TENANTS.c.config_version).where(_TENANTS.c.id == tenant_id).scalar_subquery(),
        select(_TENANTS.c.security_version).where(_TENANTS.c.id == tenant_id).scalar_subquery(),
    )


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
class BulkResult:
    """What a bulk create inserted: the new ids in the order of the input rows."""

    ids: list[int]

    @property
    def count(self) -> int:
        """How many records were created."""
        return len(self.ids)


@dataclass(frozen=True)
class _Context:
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


def _now() -> datetime:
    return datetime.now(UTC)


class RecordService:
    """Create, read, update, delete, restore, list, count, bulk-create and audit records."""

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
        self._tenants: dict[tuple[int, int | None], tuple[TenantState, str | None]] = {}
        self._lock = threading.Lock()

    # -- context ---------------------------------------------------------------------------------

    def _configuration(self, tenant: TenantState, unit_key: str | None) -> Configuration:
        key = (tenant.id, tenant.created_at, tenant.config_version, unit_key)
        config = self._configs.get(key)
        if config is None:
            if unit_key == PHYSICAL:
                config = self.store.physical(tenant.key)
            else:
                config = self.store.effective(tenant.key, unit_key)
            with self._lock:
                for old in [k for k in self._configs if k[0] == tenant.id and k[1:3] != key[1:3]]:
                    del self._configs[old]
                self._configs[key] = config
        return config

    def _tenant(self, connection: Connection, principal: Principal) -> tuple[TenantState, Any]:
        row = connection.execute(
            _TENANT_QUERY, {"tenant_id": principal.tenant_id, "unit_id": principal.unit_id}
        ).first()
        if row is None:
            raise InvalidOperation(
                f"the principal's tenant #{principal.tenant_id} does not exist; sign in again"
            )
        state = TenantState(
            id=row.id,
            key=row.key,
            namespace=row.namespace,
            config_version=row.config_version,
            security_version=row.security_version,
            created_at=row.created_at,
        )
        return state, row.unit_key

    def _context(
        self,
        connection: Connection,
        principal: Principal,
        entity_key: str,
        *,
        speculative: bool = False,
    ) -> _Context:
        """The context of one operation.

        `speculative` reuses the tenant state this process last read instead of
        querying it; the read then carries the tenant's current versions along
        (`_stamp_columns`) and is redone if they moved, so a publish or a security
        change elsewhere is still seen by the very next read.
        """
        remembered = self._tenants.get((principal.tenant_id, principal.unit_id))
        if speculative and remembered is not None:
            tenant, unit_key = remembered
        else:
            tenant, unit_key = self._tenant(connection, principal)
            self._tenants[(principal.tenant_id, principal.unit_id)] = (tenant, unit_key)
            speculative = False
        config = self._configuration(tenant, unit_key)
        entity = config.entity(entity_key)
        physical = self._configuration(tenant, PHYSICAL)
        tables = self.tables.for_tenant(tenant, self.dialect, physical)
        table = tables[entity_key]
        access = self.policy.compile(connection, tenant, principal, entity, table, config)
        return _Context(
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

    def _read(self, entity_key: str, principal: Principal, run: Any) -> Any:
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

        Reads on PostgreSQL run in autocommit: a page or a count is one statement,
        and BEGIN and COMMIT would double its round trips.
        """
        try:
            if read_only and self.dialect == "postgresql":
                with self.engine.connect() as connection:
                    yield connection.execution_options(isolation_level="AUTOCOMMIT")
                return
            with self.engine.begin() as connection:
                yield connection
        except IntegrityError:
            raise RecordInvalid(entity_key, {RECORD_KEY: [message("conflict", "en")]}) from None
        except DBAPIError as exc:
            raise StorageFailure(entity_key, operation) from exc

    # -- reading ---------------------------------------------------------------------------------

    def _present(self, ctx: _Context, row: Mapping[str, Any]) -> dict[str, Any]:
        record = ctx.shape.present(row)
        return ctx.access.mask(record) if ctx.masked else record

    def _select(self, ctx: _Context) -> Any:
        return ctx.shape.reader(ctx.hidden).select

    def _fetch(
        self,
        ctx: _Context,
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
        return ctx.connection.execute(query).mappings().first()

    def _require(
        self, ctx: _Context, record_id: int, privilege: str, *, deleted: bool = False
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
        wanted = _as_id(entity_key, record_id)

        def run(ctx: _Context) -> tuple[Any, Any]:
            table = ctx.table
            query = self._select(ctx).add_columns(*_stamp_columns(ctx.tenant.id))
            query = query.where(
                table.c.id == wanted,
                table.c.deleted_at.is_(None),
                ctx.access.predicate("read"),
            )
            row = ctx.connection.execute(query).first()
            if row is None:
                return None, None
            reader = ctx.shape.reader(ctx.hidden)
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
        ctx: _Context,
        filter: Any,
        search: str | None,
        privilege: str = "read",
    ) -> list[Any]:
        table = ctx.table
        clauses = [table.c.deleted_at.is_(None), ctx.access.predicate(privilege)]  # type: ignore[arg-type]
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
    ) -> Page:
        """One page of live records, by keyset over `sort` (+ id), as the principal may see them.

        `filter` is a condition-language tree; `search` matches the entity's text
        search fields; `sort` names indexed fields only. Pass a page's `next_cursor`
        or `prev_cursor` back as `cursor` to move; a cursor only fits its own sort.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidOperation(f"page_size must be between 1 and {MAX_PAGE_SIZE}")

        def run(ctx: _Context) -> tuple[Any, Any]:
            allowed = ctx.shape.sortable - ctx.hidden
            keys = resolve_sort(entity_key, ctx.table, sort, allowed)
            clauses = self._where(ctx, filter, search)
            backwards = False
            if cursor is not None:
                values, backwards = decode_cursor(entity_key, keys, cursor)
                clauses.append(keyset_predicate(keys, values, backwards))
            reader = ctx.shape.reader(ctx.hidden)
            query = (
                reader.select.add_columns(*_stamp_columns(ctx.tenant.id))
                .where(*clauses)
                .order_by(*order_by(keys, backwards))
                .limit(page_size + 1)
            )
            result = ctx.connection.execute(query).all()
            stamp = tuple(result[0][-2:]) if result else None
            return self._page(
                ctx, reader, keys, reader.raw(result), cursor, backwards, page_size
            ), stamp

        return self._read(entity_key, principal, run)

    def _page(
        self,
        ctx: _Context,
        reader: RowReader,
        keys: Sequence[Any],
        rows: list[dict[str, Any]],
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

        def run(ctx: _Context) -> tuple[Any, Any]:
            clauses = self._where(ctx, filter, search)
            stamp = _stamp_columns(ctx.tenant.id)
            if cap is None:
                query = select(func.count(), *stamp).select_from(ctx.table).where(*clauses)
            else:
                inner = select(ctx.table.c.id).where(*clauses).limit(cap + 1).subquery()
                query = select(func.count(), *stamp).select_from(inner)
            value, *versions = ctx.connection.execute(query).one()
            if cap is not None and value > cap:
                return Count(cap, False), tuple(versions)
            return Count(value, True), tuple(versions)

        return self._read(entity_key, principal, run)

    def lookup(
        self, principal: Principal, entity_key: str, query: str, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Records for a reference picker: ``{"id", "title"}`` of readable live records."""
        with self._transaction(entity_key, "read") as connection:
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

    def history(
        self, principal: Principal, entity_key: str, record_id: int
    ) -> list[audit.AuditRecord]:
        """The audit trail of a record the principal may read (deleted ones too), oldest first.

        Hidden fields are left out of every entry; masked ones are masked.
        """
        with self._transaction(entity_key, "read") as connection:
            ctx = self._context(connection, principal, entity_key)
            record_id = _as_id(entity_key, record_id)
            if self._fetch(ctx, record_id, deleted=None) is None:
                raise RecordNotFound(entity_key, record_id)
            entries = audit.history(connection, ctx.tenant.id, entity_key, record_id)
        hidden = ctx.hidden
        masked = {k for k, level in ctx.access.field_levels.items() if level == "masked"}
        if not hidden and not masked:
            return entries
        return [_filter_entry(entry, ctx, hidden, masked) for entry in entries]

    # -- writing ---------------------------------------------------------------------------------

    def create(
        self, principal: Principal, entity_key: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate and insert one record; returns it as the principal may see it."""
        return self._bulk(principal, entity_key, [values], single=True)[0]

    def bulk_create(
        self, principal: Principal, entity_key: str, rows: Iterable[Mapping[str, Any]]
    ) -> BulkResult:
        """Validate every row, then insert them all (in chunks) with their audit entries.

        One bad row fails the whole import: `RecordInvalid` names each problem as
        ``/<row index>/<field>``, and nothing is inserted.
        """
        created = self._bulk(principal, entity_key, list(rows), single=False)
        return BulkResult([record["id"] for record in created])

    def _bulk(
        self,
        principal: Principal,
        entity_key: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        single: bool,
        chunk: int = 1000,
    ) -> list[dict[str, Any]]:
        if not rows:
            return []
        events: list[RecordEvent] = []
        with self._transaction(entity_key, "create") as connection:
            ctx = self._context(connection, principal, entity_key)
            now = _now()
            prepared, errors = validate_rows(
                ctx, rows, partial=False, single=single, defaults=self._defaults(ctx)
            )
            column_rows = [to_columns(ctx.shape, values) for values in prepared]
            self._check_ownership(ctx, prepared, rows, errors, single=single)
            check_references(ctx, column_rows, errors, single=single)
            check_unique(ctx, column_rows, errors, single=single)
            if errors:
                raise RecordInvalid(entity_key, errors)
            actor = principal.user_id
            for values in column_rows:
                values.update(
                    created_at=now,
                    updated_at=now,
                    created_by=actor,
                    updated_by=actor,
                    version=1,
                )
            try:
                if single:
                    ids = [self._insert_one(ctx, column_rows[0])]
                    audit.append(
                        connection,
                        tenant_id=ctx.tenant.id,
                        entity=entity_key,
                        record_id=ids[0],
                        action=audit.CREATE,
                        actor_id=actor,
                        changes={k: (None, v) for k, v in prepared[0].items() if v is not None},
                        at=now,
                    )
                else:
                    ids = self._insert_many(ctx, column_rows, chunk)
                    audit.append_many(
                        connection,
                        audit.bulk_entries(
                            ctx.tenant.id,
                            entity_key,
                            actor,
                            list(zip(ids, prepared, strict=True)),
                            now,
                        ),
                    )
            except IntegrityError as exc:
                errors = ctx.shape.integrity_errors(exc, principal.locale)
                raise RecordInvalid(entity_key, errors) from None
            created = []
            for record_id, values in zip(ids, column_rows, strict=True):
                row = self._fetch(ctx, record_id) if single else None
                if row is not None:
                    created.append(self._present(ctx, row))
                else:
                    created.append(
                        {"id": record_id, **(self._present(ctx, values) if single else {})}
                    )
            if self.events.wants("created"):
                events = [
                    RecordEvent(
                        "created",
                        ctx.tenant.id,
                        entity_key,
                        record_id,
                        tuple(k for k, v in values.items() if v is not None),
                        actor,
                    )
                    for record_id, values in zip(ids, prepared, strict=True)
                ]
        self.events.publish_all(events)
        return created

    def _insert_one(self, ctx: _Context, values: Mapping[str, Any]) -> int:
        statement = ctx.table.insert().returning(ctx.table.c.id)
        return int(ctx.connection.execute(statement, values).scalar_one())

    def _insert_many(self, ctx: _Context, rows: list[dict[str, Any]], chunk: int) -> list[int]:
        """Insert rows with ids allocated up front, so the driver's plain executemany applies.

        RETURNING over many rows makes SQLite insert one row per statement and
        PostgreSQL re-parse a huge multi-VALUES statement per batch; allocating the
        ids first (from the table's sequence on PostgreSQL; past the largest id on
        SQLite, whose writer holds the database lock) keeps imports near the
        speed of a raw executemany.
        """
        table = ctx.table
        connection = ctx.connection
        if self.dialect == "postgresql":
            qualified = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
            sequence = func.pg_get_serial_sequence(qualified, "id")
            ids = sorted(
                connection.execute(
                    select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))
                ).scalars()
            )
        else:
            top = connection.execute(select(func.max(table.c.id))).scalar() or 0
            ids = list(range(top + 1, top + 1 + len(rows)))
        for record_id, row in zip(ids, rows, strict=True):
            row["id"] = record_id
        statement = table.insert()
        for start in range(0, len(rows), chunk):
            connection.execute(statement, rows[start : start + chunk])
        return ids

    def _defaults(self, ctx: _Context) -> dict[str, Any]:
        """System values a new record gets unless the caller sets them."""
        ownership = ctx.entity.ownership
        if ownership == "master":
            return {}
        defaults: dict[str, Any] = {"owning_unit_id": ctx.principal.unit_id}
        if ownership == "user_owned":
            defaults["owner_user_id"] = ctx.principal.user_id
        return defaults

    def _check_ownership(
        self,
        ctx: _Context,
        rows: Sequence[Mapping[str, Any]],
        given: Sequence[Mapping[str, Any]],
        errors: dict[str, list[str]],
        *,
        single: bool,
        creating: bool = True,
    ) -> None:
        """Refuse owning units the principal may not create in (or assign to).

        A unit the caller chose is a field problem (choose another); the principal's
        own default unit being refused means they may not create here at all.
        """
        decided: dict[int | None, bool] = {}
        check = ctx.access.can_create_in if creating else ctx.access.can_assign_to
        for index, values in enumerate(rows):
            unit = values.get("owning_unit_id")
            if unit not in decided:
                decided[unit] = check(unit)
            if decided[unit]:
                continue
            if "owning_unit_id" not in given[index]:
                raise AccessDenied(
                    ctx.entity.key, "create", "you may not create these records in your unit"
                )
            key = "owning_unit_id" if single else f"/{index}/owning_unit_id"
            message_text = message("unit_not_allowed", ctx.principal.locale)
            if message_text not in errors.get(key, []):
                errors.setdefault(key, []).append(message_text)

    def update(
        self,
        principal: Principal,
        entity_key: str,
        record_id: int,
        changes: Mapping[str, Any],
        expected_version: int,
    ) -> dict[str, Any]:
        """Change some fields of a record the principal read at `expected_version`.

        `StaleVersion` (carrying the current values) if someone changed it since;
        `AccessDenied` if the principal may read but not update it, or if the
        change would move it out of their update scope.
        """
        record_id = _as_id(entity_key, record_id)
        events: list[RecordEvent] = []
        with self._transaction(entity_key, "update") as connection:
            ctx = self._context(connection, principal, entity_key)
            current = self._require(ctx, record_id, "update")
            if current["version"] != expected_version:
                raise StaleVersion(
                    entity_key, record_id, expected_version, self._present(ctx, current)
                )
            prepared, errors = validate_rows(ctx, [changes], partial=True, single=True)
            values = prepared[0]
            before = ctx.shape.present(current)
            values = {
                k: v
                for k, v in values.items()
                if audit.json_value(before.get(k)) != audit.json_value(v)
            }
            if not values:
                if errors:
                    raise RecordInvalid(entity_key, errors)
                return self._present(ctx, current)
            if "owning_unit_id" in values or "owner_user_id" in values:
                moved = {"owning_unit_id": values.get("owning_unit_id", current["owning_unit_id"])}
                self._check_ownership(ctx, [moved], [moved], errors, single=True, creating=False)
            column_values = to_columns(ctx.shape, values)
            check_references(ctx, [column_values], errors, single=True)
            check_unique(ctx, [column_values], errors, single=True, exclude_id=record_id)
            if errors:
                raise RecordInvalid(entity_key, errors)
            now = _now()
            changes_audit = audit.diff(before, values)
            row = self._write(ctx, record_id, expected_version, column_values, now, "update")
            audit.append(
                connection,
                tenant_id=ctx.tenant.id,
                entity=entity_key,
                record_id=record_id,
                action=audit.OWNERSHIP if set(values) <= WRITABLE_SYSTEM_KEYS else audit.UPDATE,
                actor_id=principal.user_id,
                changes=changes_audit,
                at=now,
            )
            result = self._present(ctx, row)
            events.append(
                RecordEvent(
                    "updated",
                    ctx.tenant.id,
                    entity_key,
                    record_id,
                    tuple(values),
                    principal.user_id,
                )
            )
        self.events.publish_all(events)
        return result

    def _write(
        self,
        ctx: _Context,
        record_id: int,
        expected_version: int,
        column_values: Mapping[str, Any],
        now: datetime,
        privilege: str,
        *,
        deleted: bool = False,
    ) -> Mapping[str, Any]:
        """UPDATE ... WHERE id AND version = expected AND in scope; re-check scope afterwards."""
        table = ctx.table
        statement = (
            update(table)
            .where(
                table.c.id == record_id,
                table.c.version == expected_version,
                table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None),
                ctx.access.predicate(privilege),  # type: ignore[arg-type]
            )
            .values(
                **column_values,
                version=table.c.version + 1,
                updated_at=now,
                updated_by=ctx.principal.user_id,
            )
        )
        try:
            result = ctx.connection.execute(statement)
        except IntegrityError as exc:
            errors = ctx.shape.integrity_errors(exc, ctx.principal.locale)
            raise RecordInvalid(ctx.entity.key, errors) from None
        if result.rowcount != 1:
            current = self._fetch(ctx, record_id, deleted=None)
            if current is None:
                raise RecordNotFound(ctx.entity.key, record_id)
            raise StaleVersion(
                ctx.entity.key, record_id, expected_version, self._present(ctx, current)
            )
        # Writes check both sides: the record must still be in the principal's scope.
        after_deleted = "deleted_at" in column_values and column_values["deleted_at"] is not None
        row = self._fetch(ctx, record_id, privilege, deleted=after_deleted)
        if row is None:
            raise AccessDenied(
                ctx.entity.key, privilege, "the change would move the record out of your scope"
            )
        return row

    def delete(
        self,
        principal: Principal,
        entity_key: str,
        record_id: int,
        expected_version: int | None = None,
    ) -> None:
        """Soft-delete a record (it keeps its row, history and values until restored)."""
        self._set_deleted(principal, entity_key, record_id, expected_version, delete=True)

    def restore(
        self,
        principal: Principal,
        entity_key: str,
        record_id: int,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Bring back a soft-deleted record; its unique values must still be free."""
        result = self._set_deleted(principal, entity_key, record_id, expected_version, delete=False)
        assert result is not None
        return result

    def _set_deleted(
        self,
        principal: Principal,
        entity_key: str,
        record_id: int,
        expected_version: int | None,
        *,
        delete: bool,
    ) -> dict[str, Any] | None:
        record_id = _as_id(entity_key, record_id)
        events: list[RecordEvent] = []
        with self._transaction(entity_key, "delete" if delete else "restore") as connection:
            ctx = self._context(connection, principal, entity_key)
            current = self._require(ctx, record_id, "delete", deleted=not delete)
            version = current["version"] if expected_version is None else expected_version
            if current["version"] != version:
                raise StaleVersion(entity_key, record_id, version, self._present(ctx, current))
            errors: dict[str, list[str]] = {}
            if not delete:
                check_unique(
                    ctx,
                    [ctx.shape.stored_columns(current)],
                    errors,
                    single=True,
                    exclude_id=record_id,
                )
                if errors:
                    raise RecordInvalid(entity_key, errors)
            now = _now()
            stamp = now if delete else None
            if delete:
                apply_on_delete(
                    connection,
                    ctx.tenant.id,
                    self._configuration(ctx.tenant, PHYSICAL),
                    ctx.tables,
                    entity_key,
                    [record_id],
                    principal.user_id,
                    now,
                    events,
                )
            self._write(
                ctx, record_id, version, {"deleted_at": stamp}, now, "delete", deleted=not delete
            )
            audit.append(
                connection,
                tenant_id=ctx.tenant.id,
                entity=entity_key,
                record_id=record_id,
                action=audit.DELETE if delete else audit.RESTORE,
                actor_id=principal.user_id,
                changes={"deleted_at": [current["deleted_at"], stamp]},
                at=now,
            )
            result = None
            if not delete:
                row = self._fetch(ctx, record_id)
                result = self._present(ctx, row) if row is not None else None
            events.append(
                RecordEvent(
                    "deleted" if delete else "restored",
                    ctx.tenant.id,
                    entity_key,
                    record_id,
                    ("deleted_at",),
                    principal.user_id,
                )
            )
        self.events.publish_all(events)
        return result

    # -- organisation ----------------------------------------------------------------------------

    def move_unit_records(
        self,
        connection: Connection,
        tenant: Any,
        from_unit_id: int,
        to_unit_id: int,
        *,
        actor_id: int | None = None,
    ) -> int:
        """Give every record owned by unit `from_unit_id` to `to_unit_id` (org merges).

        Runs in the caller's transaction (`runtime.org.merge_units`); each record
        moved gets an ``ownership`` audit entry and a new version. Returns how many
        records moved, over every entity of the tenant.
        """
        physical = self.store.physical(tenant.key)
        state = TenantState(
            id=tenant.id,
            key=tenant.key,
            namespace=tenant.namespace,
            config_version=tenant.config_version,
            security_version=getattr(tenant, "security_version", 0),
            created_at=getattr(tenant, "created_at", None),
        )
        tables = self.tables.for_tenant(state, connection.dialect.name, physical)
        now = _now()
        moved = 0
        for entity in physical.entities.values():
            if entity.ownership == "master" or entity.key not in tables:
                continue
            table = tables[entity.key]
            ids = list(
                connection.execute(
                    select(table.c.id).where(table.c.owning_unit_id == from_unit_id)
                ).scalars()
            )
            if not ids:
                continue
            connection.execute(
                update(table)
                .where(table.c.owning_unit_id == from_unit_id)
                .values(
                    owning_unit_id=to_unit_id,
                    version=table.c.version + 1,
                    updated_at=now,
                    updated_by=actor_id,
                )
            )
            audit.append_many(
                connection,
                (
                    audit.entry(
                        tenant.id,
                        entity.key,
                        record_id,
                        audit.OWNERSHIP,
                        actor_id,
                        {"owning_unit_id": (from_unit_id, to_unit_id)},
                        now,
                    )
                    for record_id in ids
                ),
            )
            moved += len(ids)
        return moved


def _as_id(entity_key: str, record_id: Any) -> int:
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
    entry: audit.AuditRecord, ctx: _Context, hidden: frozenset[str], masked: set[str]
) -> audit.AuditRecord:
    changes: dict[str, tuple[Any, Any]] = {}
    for key, (before, after) in entry.changes.items():
        if key in hidden:
            continue
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
