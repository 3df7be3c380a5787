"""`RecordService`: the only code that reads or writes entity tables.

Every operation takes the acting `Principal` first. It resolves an
`OperationContext` (record_reads.py): the tenant row (namespace and versions),
the entity's definition from the principal's effective configuration, its
`Table` from the tenant's physical configuration (both cached per configuration
version), and the principal's access compiled by the `AccessPolicy`, which is
ANDed into every statement. Reads (record_reads.py) are SQLAlchemy Core only,
reuse statements built once per shape, and check the tenant's versions inside
the read itself. Writes (here) validate every field of every row at once,
append audit entries in the same transaction, and publish `RecordEvent`s after
COMMIT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from crm_platform.runtime import audit
from crm_platform.runtime.entity_tables import CURRENCY_SUFFIX
from crm_platform.runtime.errors import AccessDenied, RecordInvalid, RecordNotFound, StaleVersion
from crm_platform.runtime.events import RecordEvent
from crm_platform.runtime.policy import TenantState
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_capabilities import RecordDescriptions
from crm_platform.runtime.record_checks import (
    WRITABLE_SYSTEM_KEYS,
    check_created_in_scope,
    check_references,
    check_unique,
    message,
    to_columns,
    validate_rows,
)
from crm_platform.runtime.record_links import apply_on_delete
from crm_platform.runtime.record_queries import Count, Page
from crm_platform.runtime.record_reads import (
    PHYSICAL,
    OperationContext,
    StorageFailure,
    as_record_id,
    utc_now,
)

__all__ = ["BulkResult", "Count", "Page", "RecordService", "StorageFailure"]


def _visible(row: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """`row` without hidden fields (and their money currency columns)."""
    if not hidden:
        return dict(row)
    currencies = {key + CURRENCY_SUFFIX for key in hidden}
    return {k: v for k, v in row.items() if k not in hidden and k not in currencies}


@dataclass(frozen=True)
class BulkResult:
    """What a bulk create inserted: the new ids in the order of the input rows."""

    ids: list[int]

    @property
    def count(self) -> int:
        """How many records were created."""
        return len(self.ids)


def _stamp_new(values: dict[str, Any], now: datetime, actor: int | None) -> None:
    """The system columns of a new row: now, unless an import kept its own timestamps."""
    created = values.get("created_at") or values.get("updated_at") or now
    values.update(
        created_at=created,
        updated_at=values.get("updated_at") or created,
        created_by=actor,
        updated_by=actor,
        version=1,
    )


def _created_events(
    ctx: OperationContext,
    ids: Sequence[int],
    prepared: Sequence[Mapping[str, Any]],
    actor: int | None,
) -> list[RecordEvent]:
    """A ``created`` event per new record, naming the fields it was given."""
    return [
        RecordEvent(
            "created",
            ctx.tenant.id,
            ctx.entity.key,
            record_id,
            tuple(k for k, v in values.items() if v is not None),
            actor,
        )
        for record_id, values in zip(ids, prepared, strict=True)
    ]


class RecordService(RecordDescriptions):
    """Create, read, update, delete, restore, list, count, bulk-create and audit records."""

    # -- writing ---------------------------------------------------------------------------------

    def bulk_create(
        self, principal: Principal, entity_key: str, rows: Iterable[Mapping[str, Any]]
    ) -> BulkResult:
        """Validate every row, then insert them all (in chunks) with their audit entries.

        One bad row fails the whole import: `RecordInvalid` names each problem as
        ``/<row index>/<field>``, and nothing is inserted.
        """
        return BulkResult(self._import(principal, entity_key, list(rows)))

    def _import(
        self,
        principal: Principal,
        entity_key: str,
        rows: Sequence[Mapping[str, Any]],
        chunk: int = 1000,
    ) -> list[int]:
        """Validate and insert an import chunk by chunk, in one transaction.

        Each chunk's working rows die once it is inserted, so memory stays flat and
        Python's garbage collector, which rescans every surviving container, does
        not slow a large import down quadratically. A problem in any chunk stops
        the inserting, the rest is still checked so that every problem is
        reported, and the rollback leaves nothing behind.
        """
        if not rows:
            return []
        ids: list[int] = []
        events: list[RecordEvent] = []
        wants_events = self.events.wants("created")
        with self._transaction(entity_key, "create") as connection:
            ctx = self._context(connection, principal, entity_key)
            now = utc_now()
            actor = principal.user_id
            defaults = self._defaults(ctx)
            errors: dict[str, list[str]] = {}
            seen: dict[str, dict[Any, int]] = {}
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                prepared, problems = validate_rows(
                    ctx, part, partial=False, single=False, defaults=defaults, offset=start
                )
                column_rows = [to_columns(ctx.shape, values) for values in prepared]
                self._check_ownership(ctx, prepared, part, problems, single=False, offset=start)
                check_references(ctx, column_rows, problems, single=False, offset=start)
                check_unique(ctx, column_rows, problems, single=False, offset=start, seen=seen)
                errors.update(problems)
                if errors:
                    continue
                for values in column_rows:
                    _stamp_new(values, now, actor)
                try:
                    part_ids = self._insert_many(ctx, column_rows)
                except IntegrityError as exc:
                    raise RecordInvalid(
                        entity_key, ctx.shape.integrity_errors(exc, principal.locale)
                    ) from None
                check_created_in_scope(ctx, part_ids, errors, single=False, offset=start)
                if errors:
                    continue
                audit.append_many(
                    connection,
                    audit.bulk_entries(
                        ctx.tenant.id,
                        entity_key,
                        actor,
                        list(zip(part_ids, prepared, strict=True)),
                        now,
                    ),
                )
                ids.extend(part_ids)
                if wants_events:
                    events.extend(_created_events(ctx, part_ids, prepared, actor))
            if errors:
                raise RecordInvalid(entity_key, errors)
        self.events.publish_all(events)
        return ids

    def create(
        self, principal: Principal, entity_key: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate and insert one record; returns it as the principal may see it."""
        with self._transaction(entity_key, "create") as connection:
            ctx = self._context(connection, principal, entity_key)
            now = utc_now()
            prepared, errors = validate_rows(
                ctx, [values], partial=False, single=True, defaults=self._defaults(ctx)
            )
            normalized = prepared[0]
            columns = to_columns(ctx.shape, normalized)
            self._check_ownership(ctx, prepared, [values], errors, single=True)
            check_references(ctx, [columns], errors, single=True)
            check_unique(ctx, [columns], errors, single=True)
            if errors:
                raise RecordInvalid(entity_key, errors)
            actor = principal.user_id
            _stamp_new(columns, now, actor)
            try:
                record_id = self._insert_one(ctx, columns)
                audit.append(
                    connection,
                    tenant_id=ctx.tenant.id,
                    entity=entity_key,
                    record_id=record_id,
                    action=audit.CREATE,
                    actor_id=actor,
                    changes={k: (None, v) for k, v in normalized.items() if v is not None},
                    at=now,
                )
            except IntegrityError as exc:
                errors = ctx.shape.integrity_errors(exc, principal.locale)
                raise RecordInvalid(entity_key, errors) from None
            check_created_in_scope(ctx, [record_id], errors, single=True)
            if errors:
                raise RecordInvalid(entity_key, errors)
            # Everything stored is known: no need to read the row back.
            row = dict.fromkeys(ctx.shape.reader(frozenset()).keys)
            row.update(columns, id=record_id)
            created = self._present(ctx, _visible(row, ctx.hidden))
            events = (
                _created_events(ctx, [record_id], prepared, actor)
                if self.events.wants("created")
                else []
            )
        self.events.publish_all(events)
        return created

    def _insert_one(self, ctx: OperationContext, values: Mapping[str, Any]) -> int:
        statement = ctx.table.insert().returning(ctx.table.c.id)
        return int(ctx.connection.execute(statement, values).scalar_one())

    def _insert_many(self, ctx: OperationContext, rows: list[dict[str, Any]]) -> list[int]:
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
        # One executemany needs one column set: rows that leave an optional field out
        # store NULL for it, exactly as a single create would.
        names = ["id", *sorted(set().union(*rows) - {"id"})]
        dialect = connection.dialect
        processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        # The rows go to the driver's executemany as tuples, each value converted by its
        # column type's own bind processor: what Core would do, without building a
        # parameter dictionary per row (a third of the insert's time).
        preparer = dialect.identifier_preparer
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {preparer.format_table(table)} "
            f"({', '.join(preparer.quote(name) for name in names)}) "
            f"VALUES ({', '.join(marker for _ in names)})"
        )
        params = []
        for record_id, row in zip(ids, rows, strict=True):
            row["id"] = record_id
            values = [row.get(name) for name in names]
            params.append(
                tuple(
                    value if process is None else process(value)
                    for value, process in zip(values, processors, strict=True)
                )
            )
        connection.exec_driver_sql(sql, params)
        return ids

    def _defaults(self, ctx: OperationContext) -> dict[str, Any]:
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
        ctx: OperationContext,
        rows: Sequence[Mapping[str, Any]],
        given: Sequence[Mapping[str, Any]],
        errors: dict[str, list[str]],
        *,
        single: bool,
        creating: bool = True,
        offset: int = 0,
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
            key = "owning_unit_id" if single else f"/{index + offset}/owning_unit_id"
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
        record_id = as_record_id(entity_key, record_id)
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
            now = utc_now()
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
        ctx: OperationContext,
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
        record_id = as_record_id(entity_key, record_id)
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
            now = utc_now()
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
        now = utc_now()
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
