"""Per-app services and per-request state: the engine, the request's connection, the principal.

The session is a signed cookie and everything else is read from the database,
so any worker can serve any request. A request reads its tenant's versions once
(`tenant_stamp`, together with the unit the user works at, usually in the same
statement as the session's user); what it derives from rows that only change
with those versions (the principal's roles and memberships, what they may do
with each entity, whether they administer) is kept per process keyed by them,
so a change committed by any worker is seen by the next request everywhere, and
a second worker merely computes it again.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from flask import Flask, abort, current_app, g, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import Connection, Engine

from crm_platform.db import reading_statements
from crm_platform.metadata.model import Configuration, EntityDef
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import OrgUnit
from crm_platform.runtime.access_cache import BoundedCache
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.org import get_unit, get_units
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_capabilities import (
    EntityCapabilities,
    RecordCapabilities,
    TenantStamp,
    read_stamp,
)
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.session_reads import SessionStart
from crm_platform.runtime.users import UserIdentity, get_user, may_administer, principal_of
from crm_platform.services import build_platform

EXTENSION = "crm_platform"
UNIT_SESSION_KEY = "unit_id"


@dataclass(frozen=True)
class Services:
    """What the views call into: the engine, the core services built on it, version-keyed caches.

    `principals`, `administrators` and `described` (capabilities) hold answers
    derived from the database, keyed by the tenant versions a request read (see
    the module docstring).
    """

    engine: Engine
    store: MetadataStore
    records: RecordService
    principals: BoundedCache[Principal] = field(default_factory=BoundedCache)
    administrators: BoundedCache[bool] = field(default_factory=BoundedCache)
    described: BoundedCache[Mapping[str, EntityCapabilities]] = field(default_factory=BoundedCache)


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


_READING_METHODS = frozenset({"GET", "HEAD"})


def db() -> Connection:
    """The request's connection, opened on first use; views commit writes explicitly.

    A GET or HEAD only reads (the session's user, the tenant's versions, names),
    each read whole on its own: its connection runs statements without BEGIN
    (`reading_statements`). Other methods get a transaction to commit.
    """
    if "crm_connection" not in g:
        opened = services().engine.connect()
        if has_request_context() and request.method in _READING_METHODS:
            opened = reading_statements(opened)
        g.crm_connection = opened
    connection: Connection = g.crm_connection
    return connection


def remember_session(start: SessionStart) -> None:
    """Keep what the session's loader read: the user row and, if it was found, the tenant stamp.

    Building the principal then need not read the user again, nor `tenant_stamp` the tenant.
    """
    g.crm_user = start.user
    if start.stamp is not None:
        g.crm_stamp = (start.user.id, start.stamp)


def tenant_stamp() -> TenantStamp:
    """The signed-in user's tenant versions and working unit, read once a request.

    Usually the session's loader read them already, with the user (`remember_session`).
    The unit is the one chosen in the session, else the user's primary unit; a
    chosen unit that is gone (merged, or another tenant's id) is forgotten.
    """
    user = current_user._get_current_object()  # one trip through the proxy, not five
    found: tuple[int, TenantStamp] | None = g.get("crm_stamp")
    if found is None or found[0] != user.user_id:  # None, or read before a sign-in
        chosen = session.get(UNIT_SESSION_KEY)
        try:
            stamp = read_stamp(db(), user.tenant_id, chosen or user.primary_unit_id)
        except RecordNotFound:
            if chosen is None:
                raise
            session.pop(UNIT_SESSION_KEY, None)
            stamp = read_stamp(db(), user.tenant_id, user.primary_unit_id)
        found = g.crm_stamp = (user.user_id, stamp)
    return found[1]


def current_principal() -> Principal:
    """The signed-in user at their chosen unit, in the request's language; once a request.

    Roles and memberships change only with the tenant's security version, so
    the principal built from them is kept per process under that version.
    """
    if "crm_principal" not in g:
        from blueprints.i18n import current_language

        language = current_language()
        loaded: UserIdentity | None = g.get("crm_user")
        if loaded is None or loaded.id != current_user.user_id:
            # Signed in during this request: the session did not load the row.
            loaded = get_user(db(), current_user.tenant_id, current_user.user_id)
        user: UserIdentity = loaded
        stamp = tenant_stamp()
        unit_id = stamp.unit_id if stamp.unit_id != user.primary_unit_id else None
        key: Hashable = (
            *_security_key(stamp),
            user.id,
            user.primary_unit_id,
            stamp.unit_id,
            language,
        )
        g.crm_principal = services().principals.get_or_build(
            key, lambda: principal_of(db(), user, unit_id=unit_id, locale=language)
        )
    principal: Principal = g.crm_principal
    return principal


def _security_key(stamp: TenantStamp) -> tuple[Any, ...]:
    return (stamp.tenant.id, stamp.tenant.created_at, stamp.tenant.security_version)


def unit(unit_id: int) -> OrgUnit:
    """A unit of the signed-in user's tenant, read once a request (`RecordNotFound` if none).

    The configuration, the unit chooser, the filters and the cells may all need
    the same unit (usually the one the user works at).
    """
    cache: dict[int, OrgUnit] = g.setdefault("crm_units", {})
    if unit_id not in cache:
        cache[unit_id] = get_unit(db(), current_user.tenant_id, unit_id)
    return cache[unit_id]


def units(unit_ids: Collection[int]) -> dict[int, OrgUnit]:
    """The units of the signed-in user's tenant among `unit_ids`, those not yet read in one query.

    Like `unit`, kept for the request; unknown ids (and other tenants') are absent.
    """
    cache: dict[int, OrgUnit] = g.setdefault("crm_units", {})
    wanted = [unit_id for unit_id in unit_ids if unit_id not in cache]
    if wanted:
        cache.update(get_units(db(), current_user.tenant_id, wanted))
    return {unit_id: cache[unit_id] for unit_id in unit_ids if unit_id in cache}


def _close_connection(_exc: Any) -> None:
    connection = g.pop("crm_connection", None)
    if connection is not None:
        connection.close()


def current_configuration() -> Configuration:
    """The effective configuration of the unit the user works in, at the request's stamp."""
    if "crm_configuration" not in g:
        stamp = tenant_stamp()
        g.crm_configuration = services().store.effective_at(
            stamp.config_stamp, stamp.tenant.key, stamp.unit_key
        )
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
    found = _described().get(entity_key)
    if found is None:
        found = services().records.describe(current_principal(), entity_key, tenant_stamp())
    return found


def capabilities_of_all(entity_keys: list[str]) -> dict[str, EntityCapabilities]:
    """`capabilities` for several entities (the navigation's)."""
    described = _described()
    return {key: described.get(key) or capabilities(key) for key in entity_keys}


def _described() -> Mapping[str, EntityCapabilities]:
    """What the principal may do with every entity of their configuration.

    The record service answers from the configuration and the compiled access,
    both keyed by the tenant's versions (and compiled access by the day, for
    date conditions); the answer is kept per process under the same keys.
    """
    if "crm_capabilities" not in g:
        stamp = tenant_stamp()
        principal = current_principal()
        key = (
            *_security_key(stamp),
            stamp.tenant.config_version,
            principal,
            datetime.now(UTC).date(),
        )
        keys = [entity.key for entity in current_configuration().entities_in_nav_order()]
        g.crm_capabilities = services().described.get_or_build(
            key,
            lambda: MappingProxyType(services().records.describe_all(principal, keys, stamp)),
        )
    described: Mapping[str, EntityCapabilities] = g.crm_capabilities
    return described


def record_capabilities(entity_key: str, record_id: int) -> RecordCapabilities:
    """The current principal's privileges on one record (`RecordNotFound` if unreadable)."""
    return services().records.describe_record(current_principal(), entity_key, record_id)


def is_administrator() -> bool:
    """May the signed-in user open the designer and administration pages (once per request)?

    The roles marked ``administer`` in the tenant's root configuration decide,
    held at the root unit (`users.may_administer`); no role key is special here.
    The answer changes only with the tenant's configuration (which roles
    administer) or security (who holds them, who is active) version, so it is
    kept per process under both.
    """
    if "crm_administrator" not in g:
        administrator = False
        signed_in = current_user._get_current_object()
        if signed_in.is_authenticated:
            stamp = tenant_stamp()
            user_id = signed_in.user_id
            key = (*_security_key(stamp), stamp.tenant.config_version, user_id)
            root = stamp.root_config_stamp
            administrator = services().administrators.get_or_build(
                key,
                lambda: may_administer(
                    db(), user_id, services().store.effective_at(root, stamp.tenant.key, None)
                ),
            )
        g.crm_administrator = administrator
    found: bool = g.crm_administrator
    return found


def require_administrator() -> None:
    """A blueprint's `before_request`: 404 for signed-in users who may not administer.

    404, not 403, like a record one may not see: the pages do not exist for them.
    Anonymous requests pass on to the view, whose `login_required` sends them to sign in.
    """
    if current_user.is_authenticated and not is_administrator():
        abort(404)
