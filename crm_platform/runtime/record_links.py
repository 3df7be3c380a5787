"""What deleting a record does to the records that reference it (the field's `on_delete`).

Deletes are soft, so references never dangle in the database; `on_delete` still
decides what a user sees: ``restrict`` refuses to delete a record that live
records still reference, ``set_null`` empties those references, ``cascade``
deletes the referencing records too (applying their own rules in turn). The
effects are part of the delete: same transaction, each change audited, events
after commit. They apply whatever the principal's access to the referencing
records, as the configuration demands.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update

from crm_platform.metadata.model import Configuration
from crm_platform.runtime import audit
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.events import RecordEvent

_CHUNK = 5000


def apply_on_delete(
    connection: Connection,
    tenant_id: int,
    physical: Configuration,
    tables: Mapping[str, Table],
    entity_key: str,
    record_ids: list[int],
    actor_id: int | None,
    now: datetime,
    events: list[RecordEvent],
    _seen: set[tuple[str, int]] | None = None,
) -> None:
    """Apply every reference field's `on_delete` to the records referencing `record_ids`.

    Raises `InvalidOperation` (and the caller's transaction rolls back) when a
    ``restrict`` reference is still in use.
    """
    seen = _seen if _seen is not None else {(entity_key, i) for i in record_ids}
    for source in physical.entities.values():
        table = tables.get(source.key)
        if table is None:
            continue
        for field in source.fields:
            if field.type != "reference" or field.target != entity_key:
                continue
            column = table.c[field.key]
            referencing = _live_ids(connection, table, column, record_ids)
            referencing = [i for i in referencing if (source.key, i) not in seen]
            if not referencing:
                continue
            if field.on_delete == "set_null":
                _set_null(
                    connection,
                    tenant_id,
                    source.key,
                    table,
                    field.key,
                    referencing,
                    actor_id,
                    now,
                    events,
                )
            elif field.on_delete == "cascade":
                seen.update((source.key, i) for i in referencing)
                apply_on_delete(
                    connection,
                    tenant_id,
                    physical,
                    tables,
                    source.key,
                    referencing,
                    actor_id,
                    now,
                    events,
                    seen,
                )
                _soft_delete(
                    connection, tenant_id, source.key, table, referencing, actor_id, now, events
                )
            else:
                raise InvalidOperation(
                    f"{entity_key} {', '.join(map(str, record_ids[:5]))} is still referenced by "
                    f"{len(referencing)} {source.key} record(s) through field {field.key!r} "
                    f"(for example {source.key} {referencing[0]}); change or delete those first"
                )


def _live_ids(connection: Connection, table: Table, column: Any, targets: list[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(targets), _CHUNK):
        chunk = targets[start : start + _CHUNK]
        found.extend(
            connection.execute(
                select(table.c.id).where(column.in_(chunk), table.c.deleted_at.is_(None))
            ).scalars()
        )
    return sorted(set(found))


def _set_null(
    connection: Connection,
    tenant_id: int,
    entity_key: str,
    table: Table,
    field_key: str,
    ids: list[int],
    actor_id: int | None,
    now: datetime,
    events: list[RecordEvent],
) -> None:
    column = table.c[field_key]
    before = dict(connection.execute(select(table.c.id, column).where(table.c.id.in_(ids))).all())
    connection.execute(
        update(table)
        .where(table.c.id.in_(ids))
        .values(
            {
                field_key: None,
                "version": table.c.version + 1,
                "updated_at": now,
                "updated_by": actor_id,
            }
        )
    )
    audit.append_many(
        connection,
        (
            audit.entry(
                tenant_id,
                entity_key,
                i,
                audit.UPDATE,
                actor_id,
                {field_key: (before.get(i), None)},
                now,
            )
            for i in ids
        ),
    )
    events.extend(
        RecordEvent("updated", tenant_id, entity_key, i, (field_key,), actor_id) for i in ids
    )


def _soft_delete(
    connection: Connection,
    tenant_id: int,
    entity_key: str,
    table: Table,
    ids: list[int],
    actor_id: int | None,
    now: datetime,
    events: list[RecordEvent],
) -> None:
    connection.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
        .values(deleted_at=now, version=table.c.version + 1, updated_at=now, updated_by=actor_id)
    )
    audit.append_many(
        connection,
        (
            audit.entry(
                tenant_id, entity_key, i, audit.DELETE, actor_id, {"deleted_at": (None, now)}, now
            )
            for i in ids
        ),
    )
    events.extend(
        RecordEvent("deleted", tenant_id, entity_key, i, ("deleted_at",), actor_id) for i in ids
    )
