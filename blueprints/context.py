"""Per-app services and per-request state: the engine, the request's connection, the principal.

Nothing here keeps state between requests in process memory: the session is a
signed cookie and everything else is read from the database, so any worker can
serve any request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, abort, current_app, g, session
from flask_login import current_user
from sqlalchemy import Connection, Engine

from crm_platform.metadata.model import Configuration, EntityDef
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import OrgUnit
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.org import get_unit
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_capabilities import EntityCapabilities, RecordCapabilities
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tables import User
from crm_platform.runtime.users import get_user, may_administer, principal_of
from crm_platform.services import build_platform

EXTENSION = "crm_platform"
UNIT_SESSION_KEY = "unit_id"


@dataclass(frozen=True)
class Services:
    """What the views call into: the engine, and the core services built on it."""

    engine: Engine
    store: MetadataStore
    records: RecordService


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


def remember_user(user: User) -> None:
    """Keep the user row the session loaded, so building the principal need not read it again."""
    g.crm_user = user


def current_principal() -> Principal:
    """The signed-in user at their chosen unit, in the request's language; once a request."""
    if "crm_principal" not in g:
        from blueprints.i18n import current_language

        language = current_language()
        loaded: User | None = g.get("crm_user")
        if loaded is None or loaded.id != current_user.user_id:
            # Signed in during this request: the session did not load the row.
            loaded = get_user(db(), current_user.tenant_id, current_user.user_id)
        try:
            g.crm_principal = principal_of(
                db(), loaded, unit_id=session.get(UNIT_SESSION_KEY), locale=language
            )
        except RecordNotFound:
            # The chosen unit is gone (merged, or another tenant's id): back to the primary unit.
            session.pop(UNIT_SESSION_KEY, None)
            g.crm_principal = principal_of(db(), loaded, locale=language)
    principal: Principal = g.crm_principal
    return principal


def unit(unit_id: int) -> OrgUnit:
    """A unit of the signed-in user's tenant, read once a request (`RecordNotFound` if none).

    The configuration, the unit chooser, the filters and the cells may all need
    the same unit (usually the one the user works at).
    """
    cache: dict[int, OrgUnit] = g.setdefault("crm_units", {})
    if unit_id not in cache:
        cache[unit_id] = get_unit(db(), current_user.tenant_id, unit_id)
    return cache[unit_id]


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
            unit_key = unit(principal.unit_id).key
        g.crm_configuration = services().store.effective(current_user.tenant_key, unit_key)
    configuration: Configuration = g.crm_configuration
    return configuration


def entity_or_404(entity_key: str) -> EntityDef:
    """The entity of the URL in the user's configuration; 404 for others and unreadable ones."""
    configuration = current_configuration()
    if not configuration.has_entity(entity_key) or not capabilities(entity_key).readable:
        abort(404)
    return configuration.entity(entity_key)


def capabilities(entity_key: str) -> EntityCapabilities:
    """The current principal's field levels, sortable fields and privileges, once per request.

    The record service applies all of them itself; the pages need them to leave
    hidden fields out, show read-only ones as text, link only sortable columns and
    offer only the actions the principal holds.
    """
    cache: dict[str, EntityCapabilities] = g.setdefault("crm_capabilities", {})
    if entity_key not in cache:
        cache[entity_key] = services().records.describe(current_principal(), entity_key)
    return cache[entity_key]


def capabilities_of_all(entity_keys: list[str]) -> dict[str, EntityCapabilities]:
    """`capabilities` for several entities, asked of the core in one call (navigation)."""
    cache: dict[str, EntityCapabilities] = g.setdefault("crm_capabilities", {})
    missing = [key for key in entity_keys if key not in cache]
    if missing:
        cache.update(services().records.describe_all(current_principal(), missing))
    return {key: cache[key] for key in entity_keys}


def record_capabilities(entity_key: str, record_id: int) -> RecordCapabilities:
    """The current principal's privileges on one record (`RecordNotFound` if unreadable)."""
    return services().records.describe_record(current_principal(), entity_key, record_id)


def is_administrator() -> bool:
    """May the signed-in user open the designer and administration pages (once per request)?

    The roles marked ``administer`` in the tenant's root configuration decide,
    held at the root unit (`users.may_administer`); no role key is special here.
    """
    if "crm_administrator" not in g:
        g.crm_administrator = current_user.is_authenticated and may_administer(
            db(), current_user.user_id, services().store.effective(current_user.tenant_key, None)
        )
    administrator: bool = g.crm_administrator
    return administrator


def require_administrator() -> None:
    """A blueprint's `before_request`: 404 for signed-in users who may not administer.

    404, not 403, like a record one may not see: the pages do not exist for them.
    Anonymous requests pass on to the view, whose `login_required` sends them to sign in.
    """
    if current_user.is_authenticated and not is_administrator():
        abort(404)
