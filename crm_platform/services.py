"""The composition root: one place that wires the core services together.

The web app, the command line and background jobs all build their services here,
so the record service everywhere carries the same security policy, the store
everywhere runs the same publish hooks, and nobody assembles them differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.migrations import MigrationHook
from crm_platform.runtime.policy import AccessPolicy
from crm_platform.runtime.records import RecordService


@dataclass(frozen=True)
class Platform:
    """The core services of one process, built on one engine."""

    engine: Engine
    store: MetadataStore
    tables: EntityTables
    events: EventBus
    records: RecordService


def default_policy() -> AccessPolicy:
    """The security policy every principal is checked against (issue: security model)."""
    from crm_platform.runtime.access import RolePolicy

    return RolePolicy()


def build_platform(engine: Engine, *, policy: AccessPolicy | None = None) -> Platform:
    """Wire the store (with the table-migration hook) and the record service on `engine`."""
    store = MetadataStore(engine, hooks=[MigrationHook(engine)])
    tables = EntityTables(store)
    events = EventBus()
    records = RecordService(engine, store, tables, policy or default_policy(), events)
    return Platform(engine=engine, store=store, tables=tables, events=events, records=records)
