"""Per-app services and per-request state: the engine, the request's connection, the principal.

Nothing here keeps state between requests in process memory: the session is a
signed cookie and everything else is read from the database, so any worker can
serve any request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, session
from flask_login import current_user
from sqlalchemy import Connection, Engine
from sqlalchemy.sql.elements import False_

from crm_platform.metadata.model import Configuration
from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.org import get_unit
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.users import principal_for
from crm_platform.services import build_platform

EXTENSION = "crm_platform"
UNIT_SESSION_KEY = "unit_id"


@dataclass(frozen=True)
class Services:
    """What the views call into: the engine, and the core services built on it."""

    engine: Engine
    store: MetadataStore
    records: RecordService


@dataclass(frozen=True)
class EntityCapabilities:
    """What the principal may do with an entity's fields: level per field, sortable fields."""

    field_levels: Mapping[str, str]
    sortable: frozenset[str]
    readable: bool = True

    def level(self, field_key: str) -> str:
        """``hidden``, ``masked``, ``read`` or ``edit`` (unlisted fields are ``edit``)."""
        return self.field_levels.get(field_key, "edit")


def init_app(app: Flask, engine: Engine) -> None:
    """Attach the services to the app and close each request's connection after it.

    The services come from the composition root (`crm_platform.services`);
    `METADATA_STORE` and `RECORD_SERVICE` in the app's configuration replace them
    (tests pass services wired with a test policy).
    """
    store = app.config.get("METADATA_STORE")
    records = app.config.get("RECORD_SERVICE")
    if store is None or records is None:
        platform = build_platform(engine)
        store = store or platform.store
        records = records or platform.records
    app.extensions[EXTENSION] = Services(engine=engine, store=store, records=records)
    app.teardown_appcontext(_close_connection)


def services() -> Services:
    """The services of the running app."""
    found: Services = current_app.extensions[EXTENSION]
    return found


def db() -> Connection:
    """The request's connection, opened on first use; views commit writes explicitly."""
    if "crm_connection" not in g:
        g.crm_connection = services().engine.connect()
    connection: Connection = g.crm_connection
    return connection


def current_principal() -> Principal:
    """The signed-in user acting at their chosen unit, in the request's language."""
    if "crm_principal" not in g:
        from blueprints.i18n import current_language

        language = current_language()
        try:
            g.crm_principal = principal_for(
                db(), current_user.user_id, unit_id=session.get(UNIT_SESSION_KEY), locale=language
            )
        except RecordNotFound:
            # The chosen unit is gone (merged, or another tenant's id): back to the primary unit.
            session.pop(UNIT_SESSION_KEY, None)
            g.crm_principal = principal_for(db(), current_user.user_id, locale=language)
    principal: Principal = g.crm_principal
    return principal


def _close_connection(_exc: Any) -> None:
    connection = g.pop("crm_connection", None)
    if connection is not None:
        connection.close()


def current_configuration() -> Configuration:
    """The effective configuration of the unit the user works in."""
    if "crm_configuration" not in g:
        principal = current_principal()
        unit_key = None
        if principal.unit_id is not None:
            unit_key = get_unit(db(), principal.tenant_id, principal.unit_id).key
        g.crm_configuration = services().store.effective(current_user.tenant_key, unit_key)
    configuration: Configuration = g.crm_configuration
    return configuration


def capabilities(entity_key: str) -> EntityCapabilities:
    """The current principal's field levels and sortable fields of an entity, once per request.

    The record service applies both itself; the pages need them to leave hidden
    fields out, show read-only ones as text and link only sortable columns.
    """
    cache: dict[str, EntityCapabilities] = g.setdefault("crm_capabilities", {})
    if entity_key not in cache:
        service = services().records
        # The record service has no public description of an entity's access yet; its
        # operation context holds exactly that, so read it there. Speculative: reuse the
        # tenant state the service last read. These answers only shape the page; the
        # service enforces access on every read and write whatever the page shows.
        with service.engine.connect() as connection:
            ctx = service._context(connection, current_principal(), entity_key, speculative=True)
            cache[entity_key] = EntityCapabilities(
                field_levels=dict(ctx.access.field_levels),
                # Sorting by a masked field would reveal its order, so the page offers none.
                sortable=frozenset(ctx.shape.sortable)
                - {k for k, v in ctx.access.field_levels.items() if v in ("hidden", "masked")},
                # The policy compiles "no read grant at all" to the constant FALSE.
                readable=not isinstance(ctx.access.predicate("read"), False_),
            )
    return cache[entity_key]
