"""What a principal may do with an entity or a record, asked of the policy.

Pages use these answers only to decide what to offer (no Edit button without
``update``); the record service still enforces access on every read and write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, literal, select
from sqlalchemy.sql.elements import False_

from crm_platform.metadata.store import ConfigStamp
from crm_platform.runtime.access_levels import ALL_PRIVILEGES, ROW_PRIVILEGES
from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.policy import FieldLevel, TenantState
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.record_reads import (
    OperationContext,
    RecordReads,
    as_record_id,
    read_tenant,
)


@dataclass(frozen=True)
class TenantStamp:
    """The tenant's state and the unit a principal works at, read together once per request.

    Every cache a request consults is keyed by these versions (configurations,
    compiled access, the web layer's principals), so reading them once and
    passing them on replaces the several reads of the tenant row a page made.
    """

    tenant: TenantState
    unit_id: int
    unit_key: str
    unit_path: str

    @property
    def config_stamp(self) -> ConfigStamp:
        """What the metadata store keys the unit's effective configuration by."""
        return self._config_stamp(self.unit_path)

    @property
    def root_config_stamp(self) -> ConfigStamp:
        """What the metadata store keys the tenant's (HQ's) configuration by."""
        return self._config_stamp("")

    def _config_stamp(self, path: str) -> ConfigStamp:
        created_at = self.tenant.created_at
        assert created_at is not None, "read_stamp reads it from the tenant row"
        return (self.tenant.id, created_at, self.tenant.config_version, path)


def read_stamp(connection: Connection, tenant_id: int, unit_id: int) -> TenantStamp:
    """The `TenantStamp` of a principal of `tenant_id` working at `unit_id`, in one query.

    A unit of another tenant, or none, is `RecordNotFound` (as `users.principal_of`).
    """
    tenant, (unit_key, unit_path) = read_tenant(connection, tenant_id, unit_id)
    if unit_key is None or unit_path is None:
        raise RecordNotFound("org_unit", unit_id)
    return TenantStamp(tenant, unit_id, unit_key, unit_path)


@dataclass(frozen=True)
class EntityCapabilities:
    """What one principal may do with one entity: field levels, sortable fields, privileges.

    It only shapes what a page or a client offers (no Edit button without
    ``update``); the record service still enforces access on every read and write.
    """

    entity: str
    field_levels: Mapping[str, FieldLevel]
    sortable: frozenset[str]
    privileges: frozenset[str]

    def level(self, field_key: str) -> FieldLevel:
        """``hidden``, ``masked``, ``read`` or ``edit`` (unlisted fields are ``edit``)."""
        return self.field_levels.get(field_key, "edit")

    def holds(self, privilege: str) -> bool:
        """Does the principal hold `privilege` on at least some records of the entity?"""
        return privilege in self.privileges

    @property
    def readable(self) -> bool:
        """May the principal read any record of the entity at all?"""
        return "read" in self.privileges


@dataclass(frozen=True)
class RecordCapabilities:
    """The privileges one principal holds on one live record they may read."""

    entity: str
    record_id: int
    privileges: frozenset[str]

    def holds(self, privilege: str) -> bool:
        """Does the principal hold `privilege` on this record?"""
        return privilege in self.privileges


def _check_stamp(principal: Principal, stamp: TenantStamp) -> None:
    if (stamp.tenant.id, stamp.unit_id) != (principal.tenant_id, principal.unit_id):
        raise InvalidOperation(
            f"the stamp of tenant #{stamp.tenant.id} at unit #{stamp.unit_id} does not describe "
            f"the principal's tenant #{principal.tenant_id} at unit #{principal.unit_id}; "
            "read the principal's own stamp"
        )


def _check_privilege(privilege: str, allowed: Sequence[str]) -> None:
    if privilege not in allowed:
        raise InvalidOperation(
            f"unknown privilege {privilege!r} here; use one of {', '.join(allowed)}"
        )


class RecordDescriptions(RecordReads):
    """The describing operations of `RecordService`: capabilities, never records."""

    def describe(
        self, principal: Principal, entity_key: str, stamp: TenantStamp | None = None
    ) -> EntityCapabilities:
        """The principal's field levels, sortable fields and held privileges for an entity.

        With the `stamp` of the principal's tenant and unit (`read_stamp`), just
        read by the caller, the tenant's state is not read again.
        """
        return self.describe_all(principal, [entity_key], stamp)[entity_key]

    def describe_all(
        self, principal: Principal, entity_keys: Iterable[str], stamp: TenantStamp | None = None
    ) -> dict[str, EntityCapabilities]:
        """`describe` for several entities with one read of the tenant state (none with `stamp`)."""
        described: dict[str, EntityCapabilities] = {}
        if stamp is not None:
            _check_stamp(principal, stamp)
            # What `_context` remembers after reading the tenant state itself.
            self._tenants[(principal.tenant_id, principal.unit_id)] = (
                stamp.tenant,
                (stamp.unit_key, stamp.unit_path),
            )
        with self._transaction("*", "read", read_only=True) as connection:
            for key in entity_keys:
                # The first context reads the tenant state unless stamped; the rest reuse it.
                speculative = stamp is not None or bool(described)
                ctx = self._context(connection, principal, key, speculative=speculative)
                described[key] = _capabilities(key, ctx)
        return described

    def describe_record(
        self, principal: Principal, entity_key: str, record_id: int
    ) -> RecordCapabilities:
        """The privileges the principal holds on one live record, in one query.

        A record the principal cannot read is `RecordNotFound`, as with `get`.
        """
        wanted = as_record_id(entity_key, record_id)
        with self._transaction(entity_key, "read", read_only=True) as connection:
            ctx = self._context(connection, principal, entity_key)
            table = ctx.table
            asked = [
                (privilege, ctx.access.predicate(privilege))  # type: ignore[arg-type]
                for privilege in ROW_PRIVILEGES
                if privilege != "read"
            ]
            columns = [
                case((predicate, literal(1)), else_=literal(0)).label(privilege)
                for privilege, predicate in asked
                if not isinstance(predicate, False_)
            ]
            row = connection.execute(
                select(table.c.id, *columns).where(
                    table.c.id == wanted,
                    table.c.deleted_at.is_(None),
                    ctx.access.predicate("read"),
                )
            ).first()
        if row is None:
            raise RecordNotFound(entity_key, record_id)
        held = {"read"} | {key for key, value in row._mapping.items() if key != "id" and value}
        return RecordCapabilities(entity_key, wanted, frozenset(held))

    def can(
        self, principal: Principal, entity_key: str, privilege: str, record_id: int | None = None
    ) -> bool:
        """May the principal use `privilege` on the entity (`record_id` None) or on one record?

        Per record, a record they cannot read is simply ``False``; ``create`` is
        decided per unit, not per record, so it is only asked of the entity.
        """
        if record_id is None:
            _check_privilege(privilege, ALL_PRIVILEGES)
            return self.describe(principal, entity_key).holds(privilege)
        _check_privilege(privilege, ROW_PRIVILEGES)
        try:
            return self.describe_record(principal, entity_key, record_id).holds(privilege)
        except RecordNotFound:
            return False


def _capabilities(entity_key: str, ctx: OperationContext) -> EntityCapabilities:
    """What `ctx.access` lets the principal do with the entity.

    A privilege is held when the policy's predicate for it is not the constant
    FALSE (the policy compiles "no grant at all" to it). Masked fields are not
    sortable: sorting by one would reveal the order of its values.
    """
    levels = dict(ctx.access.field_levels)
    concealed = {key for key, level in levels.items() if level in ("hidden", "masked")}
    return EntityCapabilities(
        entity=entity_key,
        field_levels=levels,
        sortable=frozenset(ctx.shape.sortable) - concealed,
        privileges=frozenset(
            privilege
            for privilege in ALL_PRIVILEGES
            if not isinstance(ctx.access.predicate(privilege), False_)  # type: ignore[arg-type]
        ),
    )
