"""The append-only audit trail of records: writing entries and reading a record's history.

Every entry names tenant, entity, record, action, actor and time, and maps each
changed field to ``[before, after]`` in JSON form (decimals as strings, dates and
date-times in ISO 8601, money as ``{"amount": "12.50", "currency": "CNY"}``), so
the trail reads the same on SQLite and PostgreSQL. Entries are written on the
caller's connection, inside the transaction of the change they describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, or_, select

from crm_platform.db import json_default
from crm_platform.runtime.tables import AuditEntry

AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
RESTORE = "restore"
OWNERSHIP = "ownership"
SYSTEM_ACCESS = "system_access"
BULK_CREATE = "bulk_create"
BULK_SPAN = 1000
"""A bulk-create entry covers records whose ids lie within this span of its `record_id`."""


@dataclass(frozen=True)
class AuditRecord:
    """One entry of a record's history; `changes` maps field key -> (before, after)."""

    id: int
    entity: str
    record_id: int | None
    action: str
    actor_id: int | None
    at: datetime
    changes: Mapping[str, tuple[Any, Any]]


def json_value(value: Any) -> Any:
    """A value as it is kept in the audit trail (JSON types only).

    Decimals and date-times are written as the engine's JSON serializer writes
    them (`db.json_default`), so a diff compares what the trail will hold.
    """
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    try:
        return json_default(value)
    except TypeError:
        return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Field key -> [before, after] for every key of `after` whose value differs from `before`."""
    changes: dict[str, list[Any]] = {}
    for key, new in after.items():
        old = before.get(key)
        if json_value(old) != json_value(new):
            changes[key] = [json_value(old), json_value(new)]
    return changes


def entry(
    tenant_id: int,
    entity: str,
    record_id: int | None,
    action: str,
    actor_id: int | None,
    changes: Mapping[str, Sequence[Any]],
    at: datetime | None = None,
) -> dict[str, Any]:
    """The row of one audit entry, ready for `append_many`."""
    return {
        "tenant_id": tenant_id,
        "entity": entity,
        "record_id": record_id,
        "action": action,
        "actor_id": actor_id,
        "at": at or datetime.now(UTC),
        "changes": {key: [json_value(v) for v in pair] for key, pair in changes.items()},
    }


def bulk_entries(
    tenant_id: int,
    entity: str,
    actor_id: int | None,
    records: Sequence[tuple[int, Mapping[str, Any]]],
    at: datetime,
) -> list[dict[str, Any]]:
    """The entries of an import: one per run of new records whose ids span under `BULK_SPAN`.

    An import of 100,000 records writes 100 entries instead of 100,000; `history`
    unpacks the record's own part, so it reads like any other ``create``. Such an
    entry's `record_id` is the run's first id and `changes` maps each record id (as
    a string) to ``[null, {field: value}]``.
    """
    entries: list[dict[str, Any]] = []
    run: dict[str, list[Any]] = {}
    first = 0
    for record_id, values in records:
        if run and record_id - first >= BULK_SPAN:
            entries.append(_bulk_entry(tenant_id, entity, first, actor_id, at, run))
            run = {}
        if not run:
            first = record_id
        # Decimals and dates are left to the engine's JSON serializer (`db.json_default`),
        # which writes them exactly as `json_value` would, in C, without a pass here.
        run[str(record_id)] = [
            None,
            {key: value for key, value in values.items() if value is not None},
        ]
    if run:
        entries.append(_bulk_entry(tenant_id, entity, first, actor_id, at, run))
    return entries


def _bulk_entry(
    tenant_id: int,
    entity: str,
    first: int,
    actor_id: int | None,
    at: datetime,
    run: dict[str, list[Any]],
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "entity": entity,
        "record_id": first,
        "action": BULK_CREATE,
        "actor_id": actor_id,
        "at": at,
        "changes": run,
    }


def append(connection: Connection, **fields: Any) -> None:
    """Append one entry (keyword arguments as for `entry`)."""
    connection.execute(insert(AUDIT), [entry(**fields)])


def append_many(connection: Connection, entries: Iterable[Mapping[str, Any]]) -> int:
    """Append many entries with one executemany per chunk; returns how many."""
    batch: list[Mapping[str, Any]] = []
    count = 0
    for item in entries:
        batch.append(item)
        if len(batch) >= 1000:
            connection.execute(insert(AUDIT), batch)
            count += len(batch)
            batch = []
    if batch:
        connection.execute(insert(AUDIT), batch)
        count += len(batch)
    return count


def history(
    connection: Connection, tenant_id: int, entity: str, record_id: int
) -> list[AuditRecord]:
    """Every entry of one record, oldest first (unfiltered: callers apply field security).

    The record's part of a bulk-create entry reads as a plain ``create``.
    """
    rows = connection.execute(
        select(AUDIT)
        .where(
            AUDIT.c.tenant_id == tenant_id,
            AUDIT.c.entity == entity,
            or_(
                AUDIT.c.record_id == record_id,
                and_(
                    AUDIT.c.record_id <= record_id,
                    AUDIT.c.record_id > record_id - BULK_SPAN,
                    AUDIT.c.action == BULK_CREATE,
                ),
            ),
        )
        .order_by(AUDIT.c.id)
    )
    records = []
    for row in rows:
        changes = row.changes or {}
        action = row.action
        if action == BULK_CREATE:
            part = changes.get(str(record_id))
            if part is None:
                continue
            action = CREATE
            changes = {key: [None, value] for key, value in part[1].items()}
        records.append(
            AuditRecord(
                id=row.id,
                entity=row.entity,
                record_id=record_id,
                action=action,
                actor_id=row.actor_id,
                at=row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC),
                changes={key: (pair[0], pair[1]) for key, pair in changes.items()},
            )
        )
    return records
