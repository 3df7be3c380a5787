"""The versioned metadata store: drafts, publish (with hooks), versions, rollback, caching.

A tenant's configuration is a set of layers (HQ, and optional layers on org
units). Each layer has one draft and numbered, immutable published versions.
Publishing takes the tenant's row lock first (`UPDATE tenants SET config_version
= config_version + 1`), so publishes of one tenant are serialized and every
reader sees the bump together with the new version; a conditional UPDATE of the
layer's `current_version` then lets exactly one of two publishers of the same
layer win. Effective configurations are cached per process, keyed by the
tenant's `config_version`, which every read checks with one small query.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, null, select, update
from sqlalchemy.orm import Session

from crm_platform.errors import ErrorCode, Problem
from crm_platform.metadata.diff import ConfigDiff, diff_documents
from crm_platform.metadata.errors import (
    ConfigurationInvalid,
    MetadataError,
    PublishConflict,
    UnknownTenant,
    UnknownUnit,
)
from crm_platform.metadata.layers import (
    LayerDocuments,
    effective_configuration,
    physical_configuration,
)
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.org_tree import UnitRow, units_by_key
from crm_platform.metadata.tables import ConfigLayer, ConfigVersion, OrgUnit, Tenant
from crm_platform.metadata.validation import validate_tenant

Documents = list[dict[str, Any]]
HQ_LAYER = "hq"
"""How the tenant (HQ) layer is named in messages and document names."""

ConfigStamp = tuple[int, datetime, int, str]
"""What a cached configuration is keyed by, as read from the database: the tenant's id,
its ``created_at`` and ``config_version``, and the unit's ``path`` ("" for HQ). The
creation time keeps a recreated tenant off an old entry; the path keeps a moved unit
off the chain of its old place."""


class PublishHook(Protocol):
    """Called inside the publish transaction with the tenant-wide physical configurations.

    Raising aborts the publish: nothing of it is written. `before` is None for a
    tenant's first publish.
    """

    def __call__(
        self,
        connection: Connection,
        tenant: Tenant,
        before: Configuration | None,
        after: Configuration,
    ) -> None: ...


class UnknownVersion(MetadataError):
    """A layer has no published version with this number."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, layer: str, number: int, current: int):
        self.layer = layer
        self.number = number
        self.current = current
        super().__init__(
            f"layer {layer!r} has no version {number}; its versions are 1 to {current}"
            if current
            else f"layer {layer!r} has never been published"
        )


class NothingToPublish(MetadataError):
    """Publish was asked for a layer without a draft and without documents."""

    code = ErrorCode.INVALID_OPERATION

    def __init__(self, layer: str):
        self.layer = layer
        super().__init__(f"layer {layer!r} has no draft to publish; save a draft first")


@dataclass(frozen=True)
class VersionInfo:
    """One published version of a layer."""

    unit_key: str | None
    number: int
    author: str
    created_at: datetime
    comment: str
    document_count: int


@dataclass(frozen=True)
class DraftInfo:
    """The state of a layer's draft after saving it."""

    unit_key: str | None
    base_version: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class LayerState:
    """Where a layer stands: its current version and, when it has one, its draft."""

    unit_key: str | None
    current_version: int
    draft: DraftInfo | None


@dataclass(frozen=True)
class LayerChange:
    """One layer's new documents in a publish.

    `expected_version` is the version the change was based on (None: whatever is
    current); `clear_draft` drops the layer's draft, which was just published.
    """

    unit_key: str | None
    documents: Sequence[Mapping[str, Any]]
    expected_version: int | None = None
    clear_draft: bool = False


def layer_name(unit_key: str | None) -> str:
    """The name of a layer in messages: ``hq`` or the unit key."""
    return HQ_LAYER if unit_key is None else unit_key


class MetadataStore:
    """Per-tenant configuration layers, their drafts and versions, and cached configurations."""

    def __init__(self, engine: Engine, hooks: Sequence[PublishHook] = ()):
        self.engine = engine
        self.hooks: tuple[PublishHook, ...] = tuple(hooks)
        self._cache: dict[tuple[Any, ...], Configuration] = {}
        self._cache_lock = threading.Lock()

    # --- drafts ------------------------------------------------------------------------------

    def draft(self, tenant_key: str, unit_key: str | None) -> Documents:
        """The layer's draft, or its current published documents when there is no draft."""
        with self.engine.connect() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
            if layer is None:
                return []
            if layer.draft is not None:
                return [dict(doc) for doc in layer.draft]
            return _version_documents(connection, layer.id, layer.current_version)

    def save_draft(
        self,
        tenant_key: str,
        unit_key: str | None,
        documents: Sequence[Mapping[str, Any]],
        author: str,
    ) -> DraftInfo:
        """Replace the layer's draft; a new draft is based on the current version.

        Drafts are work in progress and are not validated; publishing validates.
        """
        now = datetime.now(UTC)
        payload = [dict(doc) for doc in documents]
        with self.engine.begin() as connection:
            tenant_id = lock_tenant(connection, tenant_key, bump=False).id
            layer = _ensure_layer(connection, tenant_key, tenant_id, unit_key)
            base = layer.draft_base_version if layer.draft is not None else layer.current_version
            connection.execute(
                update(ConfigLayer)
                .where(ConfigLayer.id == layer.id)
                .values(
                    draft=payload,
                    draft_base_version=base,
                    draft_updated_by=author,
                    draft_updated_at=now,
                )
            )
        return DraftInfo(unit_key, base, author, now)

    def layer_states(self, tenant_key: str) -> list[LayerState]:
        """Every layer of the tenant with its current version and draft, HQ first."""
        with self.engine.connect() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            keys = {unit.id: key for key, unit in units_by_key(connection, tenant_id).items()}
            rows = connection.execute(
                select(ConfigLayer).where(ConfigLayer.tenant_id == tenant_id)
            ).all()
        states = []
        for row in rows:
            unit_key = keys[row.unit_id] if row.unit_id is not None else None
            draft = (
                DraftInfo(
                    unit_key,
                    row.draft_base_version,
                    row.draft_updated_by or "",
                    row.draft_updated_at,
                )  # fmt: skip
                if row.draft is not None
                else None
            )
            states.append(LayerState(unit_key, row.current_version, draft))
        return sorted(states, key=lambda state: (state.unit_key is not None, state.unit_key or ""))

    def discard_draft(self, tenant_key: str, unit_key: str | None) -> None:
        """Drop the layer's draft; `draft()` then returns the published documents."""
        with self.engine.begin() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
            if layer is not None:
                connection.execute(
                    update(ConfigLayer)
                    .where(ConfigLayer.id == layer.id)
                    .values(draft=null(), draft_updated_by=None, draft_updated_at=None)
                )

    # --- publishing ----------------------------------------------------------------------------

    def publish(
        self,
        tenant_key: str,
        unit_key: str | None,
        author: str,
        comment: str = "",
        expected_version: int | None = None,
        documents: Sequence[Mapping[str, Any]] | None = None,
    ) -> VersionInfo:
        """Publish the layer's draft (or `documents`) as its next version.

        Validates the effective configuration of every unit with the candidate in
        place (ConfigurationInvalid lists every problem, a child layer's included),
        runs the hooks, and raises PublishConflict when the layer moved past
        `expected_version` (by default the version the draft was based on).
        """
        with self.engine.begin() as connection:
            tenant = lock_tenant(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant.id, unit_key)
            from_draft = documents is None
            if documents is None:
                if layer is None or layer.draft is None:
                    raise NothingToPublish(layer_name(unit_key))
                documents = list(layer.draft)
            if expected_version is None:
                if layer is None:
                    expected_version = 0
                elif from_draft or layer.draft is not None:
                    expected_version = layer.draft_base_version
                else:
                    expected_version = layer.current_version
            change = LayerChange(unit_key, documents, expected_version, clear_draft=from_draft)
            (info,) = publish_locked(connection, tenant, [change], author, comment, self.hooks)
        return info

    def rollback(
        self,
        tenant_key: str,
        unit_key: str | None,
        to_number: int,
        author: str,
        comment: str = "",
    ) -> VersionInfo:
        """Publish an earlier version's documents as a new version (validated, with hooks)."""
        with self.engine.begin() as connection:
            tenant = lock_tenant(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant.id, unit_key)
            current = layer.current_version if layer is not None else 0
            if layer is None or not 1 <= to_number <= current:
                raise UnknownVersion(layer_name(unit_key), to_number, current)
            documents = _version_documents(connection, layer.id, to_number)
            change = LayerChange(unit_key, documents, current)
            message = comment or f"rollback to version {to_number}"
            (info,) = publish_locked(connection, tenant, [change], author, message, self.hooks)
        return info

    # --- history -----------------------------------------------------------------------------

    def versions(self, tenant_key: str, unit_key: str | None) -> list[VersionInfo]:
        """Every published version of the layer, oldest first."""
        with self.engine.connect() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
            if layer is None:
                return []
            rows = connection.execute(
                select(ConfigVersion)
                .where(ConfigVersion.layer_id == layer.id)
                .order_by(ConfigVersion.number)
            ).all()
            return [_version_info(unit_key, row) for row in rows]

    def version_documents(self, tenant_key: str, unit_key: str | None, number: int) -> Documents:
        """The documents of one published version; version 0 is the empty layer."""
        with self.engine.connect() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
            current = layer.current_version if layer is not None else 0
            if number == 0:
                return []
            if layer is None or not 1 <= number <= current:
                raise UnknownVersion(layer_name(unit_key), number, current)
            return _version_documents(connection, layer.id, number)

    def diff(
        self, tenant_key: str, unit_key: str | None, from_number: int, to_number: int
    ) -> ConfigDiff:
        """What changed in the layer from one version to another (0 is the empty layer)."""
        return diff_documents(
            self.version_documents(tenant_key, unit_key, from_number),
            self.version_documents(tenant_key, unit_key, to_number),
        )

    def draft_diff(self, tenant_key: str, unit_key: str | None) -> ConfigDiff:
        """What publishing the layer's draft would change against its current version."""
        with self.engine.connect() as connection:
            tenant_id = _tenant_id(connection, tenant_key)
            layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
            if layer is None:
                return ConfigDiff()
            current = _version_documents(connection, layer.id, layer.current_version)
        return diff_documents(current, current if layer.draft is None else layer.draft)

    def published_layers(self, tenant_key: str) -> dict[str | None, Documents]:
        """The current published documents of every layer that has been published."""
        with self.engine.connect() as connection:
            return published_layers_in(connection, _tenant_id(connection, tenant_key))

    # --- configurations ------------------------------------------------------------------------

    def effective(self, tenant_key: str, unit_key: str | None) -> Configuration:
        """The effective configuration of a unit (None: HQ), merged root-down; cached."""
        with self.engine.connect() as connection:
            stamp = _cache_stamp(connection, tenant_key, unit_key)
            cache_key = (*stamp, "effective", unit_key)
            cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
            layers = published_layers_in(connection, stamp[0])
            units = units_by_key(connection, stamp[0])
        configuration = effective_configuration(layer_chain(layers, units, unit_key))
        self._remember(cache_key, configuration)
        return configuration

    def effective_at(
        self, stamp: ConfigStamp, tenant_key: str, unit_key: str | None
    ) -> Configuration:
        """`effective`, for a caller that has just read the `stamp` itself: no query when cached.

        A page reads the tenant's versions once, with the other things it needs
        from the tenant row; asking with them saves the store's own round trip.
        On a miss this is `effective` (which reads the stamp again and caches
        under it), so a stale `stamp` can cost a query, never a wrong answer
        that would outlive the stamp.
        """
        cached = self._cache.get((*stamp, "effective", unit_key))
        if cached is not None:
            return cached
        return self.effective(tenant_key, unit_key)

    def physical(self, tenant_key: str) -> Configuration:
        """The tenant-wide physical configuration (every field of every layer); cached."""
        with self.engine.connect() as connection:
            stamp = _cache_stamp(connection, tenant_key, None)
            cache_key = (*stamp, "physical", None)
            cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
            layers = published_layers_in(connection, stamp[0])
        configuration = physical_configuration(_layer_documents(layers))
        self._remember(cache_key, configuration)
        return configuration

    def _remember(self, cache_key: tuple[Any, ...], configuration: Configuration) -> None:
        tenant_id, created_at, version = cache_key[:3]
        with self._cache_lock:
            # Older versions of the tenant can never be asked for again; drop them.
            for stale in [
                key
                for key in self._cache
                if key[0] == tenant_id and (key[1], key[2]) != (created_at, version)
            ]:
                del self._cache[stale]
            self._cache[cache_key] = configuration


# --- functions on an open connection, shared with bundles ---------------------------------------


def lock_tenant(connection: Connection, tenant_key: str, bump: bool = True) -> Tenant:
    """Bump the tenant's config_version, taking its row lock until the transaction ends.

    Writing first is what serializes publishers on both databases: PostgreSQL
    locks the row, SQLite takes the write lock before this transaction has read
    anything (so it waits instead of failing on a stale snapshot). With `bump`
    False the row is locked without invalidating caches (saving a draft).
    Returns the tenant as a detached ORM object.
    """
    result = connection.execute(
        update(Tenant)
        .where(Tenant.key == tenant_key)
        .values(config_version=Tenant.config_version + (1 if bump else 0))
    )
    if result.rowcount != 1:
        raise UnknownTenant(tenant_key)
    return load_tenant(connection, tenant_key)


def load_tenant(connection: Connection, tenant_key: str) -> Tenant:
    """The tenant as a detached ORM object, read through `connection`."""
    with Session(bind=connection) as session:
        tenant = session.execute(
            select(Tenant).where(Tenant.key == tenant_key)
        ).scalar_one_or_none()
    if tenant is None:
        raise UnknownTenant(tenant_key)
    return tenant


def publish_locked(
    connection: Connection,
    tenant: Tenant,
    changes: Sequence[LayerChange],
    author: str,
    comment: str,
    hooks: Sequence[PublishHook],
) -> tuple[VersionInfo, ...]:
    """Publish several layers at once inside a transaction that holds `lock_tenant`.

    Validates the whole tenant with every change in place, calls the hooks once
    with the physical configurations before and after, and writes one new version
    per changed layer.
    """
    units = units_by_key(connection, tenant.id)
    published = published_layers_in(connection, tenant.id)
    candidate = dict(published)
    layer_ids: dict[str | None, int] = {}
    for change in changes:
        if change.unit_key is not None and change.unit_key not in units:
            raise UnknownUnit(tenant.key, change.unit_key)
        layer = _ensure_layer(connection, tenant.key, tenant.id, change.unit_key)
        expected = (
            layer.current_version if change.expected_version is None else change.expected_version
        )
        _claim_next_version(connection, change, layer.id, expected, layer.current_version)
        layer_ids[change.unit_key] = layer.id
        candidate[change.unit_key] = [dict(doc) for doc in change.documents]
    problems = validate_layers(candidate, units)
    if problems:
        names = ", ".join(layer_name(change.unit_key) for change in changes)
        raise ConfigurationInvalid(problems, f"publishing layer(s) {names} was refused")
    after = physical_configuration(_layer_documents(candidate))
    before = physical_configuration(_layer_documents(published)) if published else None
    for hook in hooks:
        hook(connection, tenant, before, after)
    now = datetime.now(UTC)
    infos = []
    for change in changes:
        layer_id = layer_ids[change.unit_key]
        number = connection.execute(
            select(ConfigLayer.current_version).where(ConfigLayer.id == layer_id)
        ).scalar_one()
        documents = candidate[change.unit_key]
        connection.execute(
            insert(ConfigVersion).values(
                layer_id=layer_id,
                number=number,
                documents=documents,
                author=author,
                created_at=now,
                comment=comment,
            )
        )
        infos.append(VersionInfo(change.unit_key, number, author, now, comment, len(documents)))
    return tuple(infos)


def validate_layers(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]], units: Mapping[str, UnitRow]
) -> list[Problem]:
    """Every problem of a tenant's layers with its stored org units: schemas, merge, locks."""
    ordered = sorted(units.values(), key=lambda unit: unit.id)
    parents = {unit.key: unit.parent_key for unit in ordered}
    kinds = {unit.key: unit.kind for unit in ordered}
    return validate_tenant(layers, parents, kinds)


def published_layers_in(connection: Connection, tenant_id: int) -> dict[str | None, Documents]:
    """The current documents of every published layer of the tenant, keyed by unit key."""
    rows = connection.execute(
        select(ConfigLayer.unit_id, ConfigVersion.documents)
        .join(
            ConfigVersion,
            (ConfigVersion.layer_id == ConfigLayer.id)
            & (ConfigVersion.number == ConfigLayer.current_version),
        )
        .where(ConfigLayer.tenant_id == tenant_id)
    ).all()
    if not rows:
        return {}
    unit_keys = {unit.id: key for key, unit in units_by_key(connection, tenant_id).items()}
    return {
        (unit_keys[row.unit_id] if row.unit_id is not None else None): [
            dict(doc) for doc in row.documents
        ]
        for row in rows
    }


def layer_chain(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
    units: Mapping[str, UnitRow],
    unit_key: str | None,
) -> list[LayerDocuments]:
    """The layers on a unit's path, root first: HQ, then each ancestor's layer, then its own."""
    chain = [LayerDocuments(None, tuple(layers.get(None, ())))]
    if unit_key is None:
        return chain
    keys_by_id = {unit.id: key for key, unit in units.items()}
    path_ids = [int(part) for part in units[unit_key].path.strip("/").split("/") if part]
    for unit_id in path_ids:
        key = keys_by_id.get(unit_id)
        if key is not None and key in layers:
            chain.append(LayerDocuments(key, tuple(layers[key])))
    return chain


def _layer_documents(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
) -> list[LayerDocuments]:
    return [LayerDocuments(key, tuple(documents)) for key, documents in layers.items()]


def _claim_next_version(
    connection: Connection, change: LayerChange, layer_id: int, expected: int, current: int
) -> None:
    values: dict[str, Any] = {"current_version": expected + 1}
    if change.clear_draft:
        values.update(draft=null(), draft_updated_by=None, draft_updated_at=None)
    result = connection.execute(
        update(ConfigLayer)
        .where(ConfigLayer.id == layer_id, ConfigLayer.current_version == expected)
        .values(**values)
    )
    if result.rowcount != 1:
        raise PublishConflict(layer_name(change.unit_key), expected, current)


def _tenant_id(connection: Connection, tenant_key: str) -> int:
    tenant_id = connection.execute(
        select(Tenant.id).where(Tenant.key == tenant_key)
    ).scalar_one_or_none()
    if tenant_id is None:
        raise UnknownTenant(tenant_key)
    return tenant_id


def _cache_stamp(connection: Connection, tenant_key: str, unit_key: str | None) -> ConfigStamp:
    """The `ConfigStamp` of a unit's (None: HQ's) configuration, in one query."""
    if unit_key is None:
        tenant = connection.execute(
            select(Tenant.id, Tenant.created_at, Tenant.config_version).where(
                Tenant.key == tenant_key
            )
        ).one_or_none()
        if tenant is None:
            raise UnknownTenant(tenant_key)
        return tenant.id, tenant.created_at, tenant.config_version, ""
    row = connection.execute(
        select(Tenant.id, Tenant.created_at, Tenant.config_version, OrgUnit.path)
        .outerjoin(OrgUnit, (OrgUnit.tenant_id == Tenant.id) & (OrgUnit.key == unit_key))
        .where(Tenant.key == tenant_key)
    ).one_or_none()
    if row is None:
        raise UnknownTenant(tenant_key)
    if row.path is None:
        raise UnknownUnit(tenant_key, unit_key)
    return row.id, row.created_at, row.config_version, row.path


def _unit_id(
    connection: Connection, tenant_key: str, tenant_id: int, unit_key: str | None
) -> int | None:
    if unit_key is None:
        return None
    units = units_by_key(connection, tenant_id)
    if unit_key not in units:
        raise UnknownUnit(tenant_key, unit_key)
    return units[unit_key].id


def _layer_row(
    connection: Connection, tenant_key: str, tenant_id: int, unit_key: str | None
) -> Any:
    unit_id = _unit_id(connection, tenant_key, tenant_id, unit_key)
    condition = ConfigLayer.unit_id.is_(None) if unit_id is None else ConfigLayer.unit_id == unit_id
    return connection.execute(
        select(
            ConfigLayer.id,
            ConfigLayer.current_version,
            ConfigLayer.draft,
            ConfigLayer.draft_base_version,
        ).where(ConfigLayer.tenant_id == tenant_id, condition)
    ).one_or_none()


def _ensure_layer(
    connection: Connection, tenant_key: str, tenant_id: int, unit_key: str | None
) -> Any:
    layer = _layer_row(connection, tenant_key, tenant_id, unit_key)
    if layer is not None:
        return layer
    connection.execute(
        insert(ConfigLayer).values(
            tenant_id=tenant_id,
            unit_id=_unit_id(connection, tenant_key, tenant_id, unit_key),
            current_version=0,
            draft_base_version=0,
        )
    )
    return _layer_row(connection, tenant_key, tenant_id, unit_key)


def _version_documents(connection: Connection, layer_id: int, number: int) -> Documents:
    if number == 0:
        return []
    documents = connection.execute(
        select(ConfigVersion.documents).where(
            ConfigVersion.layer_id == layer_id, ConfigVersion.number == number
        )
    ).scalar_one()
    return [dict(doc) for doc in documents]


def _version_info(unit_key: str | None, row: Any) -> VersionInfo:
    return VersionInfo(
        unit_key=unit_key,
        number=row.number,
        author=row.author,
        created_at=row.created_at,
        comment=row.comment,
        document_count=len(row.documents),
    )
