"""The security seam of the record service: one object answers every access question.

The record service asks an `AccessPolicy` to compile an `EntityAccess` for
(principal, entity) at the start of each operation, on the operation's own
connection, and then only reads from it:

- `predicate(privilege)` is ANDed into every statement that reads or changes
  rows (read, update, delete, export); ``false()`` when the principal has none;
- `field_levels` says, per field key, ``hidden`` (dropped from reads, refused in
  writes, filters, sorts and search), ``masked`` (shown through `mask`),
  ``read`` or ``edit``; a field it does not list is ``edit``;
- `can_create_in(unit)` / `can_assign_to(unit)` decide the owning unit of new
  and reassigned records;
- `mask(row)` turns a row into what the principal may see of masked fields;
- optionally, `reference_scope(entity_key, table)`: the rows of another entity
  a reference field may name (the security model's `RoleAccess` gives the ones
  the principal can read, so a reference never confirms an invisible record).

The service applies all of that generically, so a policy only computes it. Two
policies ship here: `SystemPolicy` for `Principal.system(...)` (everything in
the tenant, each use audited as ``system_access``) and `UnitSubtreePolicy`, the
interim rule before roles: a principal sees and changes the records of their
unit's subtree. The security model replaces the latter behind this interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Connection, Table, false, select, true
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.tables import OrgUnitClosure
from crm_platform.runtime import audit
from crm_platform.runtime.errors import AccessDenied
from crm_platform.runtime.principal import Principal

if TYPE_CHECKING:
    from crm_platform.metadata.model import Configuration, EntityDef

CLOSURE: Table = OrgUnitClosure.__table__  # type: ignore[assignment]

Privilege = Literal["create", "read", "update", "delete", "export"]
"""What a row predicate can be asked for; ``create`` checks rows just inserted."""
FieldLevel = Literal["hidden", "masked", "read", "edit"]
PRIVILEGES: tuple[Privilege, ...] = ("read", "update", "delete", "export")
"""The privileges a read of existing rows can be scoped by."""
FIELD_LEVELS: tuple[FieldLevel, ...] = ("hidden", "masked", "read", "edit")


@dataclass(frozen=True)
class TenantState:
    """The tenant row as one operation read it: namespace and the versions caches key on."""

    id: int
    key: str
    namespace: str
    config_version: int
    security_version: int
    created_at: datetime | None = None


class EntityAccess(Protocol):
    """What one principal may do with one entity, valid for one connection (transaction)."""

    @property
    def field_levels(self) -> Mapping[str, FieldLevel]:
        """Field key -> level; unlisted fields are ``edit``."""
        ...

    def predicate(self, privilege: Privilege) -> ColumnElement[bool]:
        """The rows of the entity's table the principal holds `privilege` on."""
        ...

    def can_create_in(self, unit_id: int | None) -> bool:
        """May the principal create a record owned by `unit_id` (None: no owning unit)?"""
        ...

    def can_assign_to(self, unit_id: int | None) -> bool:
        """May the principal move a record (or give it an owner) in `unit_id`?"""
        ...

    def mask(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """`row` with every masked field replaced by its masked form."""
        ...


class AccessPolicy(Protocol):
    """Compiles a principal's effective access to one entity."""

    def compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> EntityAccess:
        """The access of `principal` to `entity` (whose records are in `table`)."""
        ...


def field_level(access: EntityAccess, field_key: str) -> FieldLevel:
    """The level of one field (``edit`` when the policy does not list it)."""
    return access.field_levels.get(field_key, "edit")


@dataclass(frozen=True)
class FullAccess:
    """Every privilege on every row of the tenant's table, every field editable."""

    field_levels: Mapping[str, FieldLevel] = field(default_factory=dict)

    def predicate(self, privilege: Privilege) -> ColumnElement[bool]:
        """Always true: the table itself is the tenant boundary."""
        return true()

    def can_create_in(self, unit_id: int | None) -> bool:
        """Always."""
        return True

    def can_assign_to(self, unit_id: int | None) -> bool:
        """Always."""
        return True

    def mask(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing is masked."""
        return dict(row)


class SystemPolicy:
    """Access for `Principal.system(...)`: the whole tenant, each use audited.

    Any other principal is handed to `fallback` (if given); without one, a
    non-system principal is refused loudly rather than given full access.
    """

    def __init__(self, fallback: AccessPolicy | None = None):
        self.fallback = fallback

    def compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> EntityAccess:
        """Full access, after appending a ``system_access`` audit entry with the reason."""
        if not principal.is_system:
            if self.fallback is None:
                raise AccessDenied(
                    entity.key,
                    "access",
                    "SystemPolicy serves only Principal.system(...); give it a fallback policy "
                    "for signed-in users",
                )
            return self.fallback.compile(connection, tenant, principal, entity, table, config)
        audit.append(
            connection,
            tenant_id=tenant.id,
            entity=entity.key,
            record_id=None,
            action=audit.SYSTEM_ACCESS,
            actor_id=None,
            changes={"reason": [None, principal.system_reason]},
        )
        return FullAccess()


@dataclass(frozen=True)
class UnitSubtreeAccess:
    """Records owned by the principal's unit or any unit below it; master data read-only."""

    connection: Connection
    tenant_id: int
    unit_id: int | None
    table: Table
    master: bool
    field_levels: Mapping[str, FieldLevel] = field(default_factory=dict)
    predicates: dict[str, ColumnElement[bool]] = field(default_factory=dict)

    def predicate(self, privilege: Privilege) -> ColumnElement[bool]:
        """``owning_unit_id IN (descendants of the principal's unit)``, via the closure table.

        The same expression object is handed out for the same (table, unit), so the
        record service can reuse statements built around it.
        """
        if self.master:
            return true() if privilege in ("read", "export") else false()
        if self.unit_id is None:
            return false()
        expression = self.predicates.get("subtree")
        if expression is None:
            expression = self.table.c.owning_unit_id.in_(
                select(CLOSURE.c.descendant_id).where(CLOSURE.c.ancestor_id == self.unit_id)
            )
            self.predicates["subtree"] = expression
        return expression

    def _in_subtree(self, unit_id: int | None) -> bool:
        if self.master or unit_id is None or self.unit_id is None:
            return False
        found = self.connection.execute(
            select(CLOSURE.c.descendant_id).where(
                CLOSURE.c.ancestor_id == self.unit_id,
                CLOSURE.c.descendant_id == unit_id,
                CLOSURE.c.tenant_id == self.tenant_id,
            )
        ).first()
        return found is not None

    def can_create_in(self, unit_id: int | None) -> bool:
        """Only in the principal's subtree; master data only through the system principal."""
        return self._in_subtree(unit_id)

    def can_assign_to(self, unit_id: int | None) -> bool:
        """Only within the principal's subtree."""
        return self._in_subtree(unit_id)

    def mask(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing is masked before field security exists."""
        return dict(row)


class UnitSubtreePolicy:
    """The interim policy before roles: the subtree of `principal.unit_id`.

    The system principal gets `SystemPolicy`'s audited full access.
    """

    def __init__(self, max_cached: int = 4096) -> None:
        self._system = SystemPolicy()
        self._max_cached = max_cached
        self._predicates: dict[tuple[int, int | None], tuple[Table, dict[str, Any]]] = {}

    def compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> EntityAccess:
        """Subtree access for a user; audited full access for the system principal."""
        if principal.is_system:
            return self._system.compile(connection, tenant, principal, entity, table, config)
        key = (id(table), principal.unit_id)
        cached = self._predicates.get(key)
        if cached is None or cached[0] is not table:
            if len(self._predicates) >= self._max_cached:
                self._predicates.clear()
            cached = (table, {})
            self._predicates[key] = cached
        return UnitSubtreeAccess(
            connection=connection,
            tenant_id=tenant.id,
            unit_id=principal.unit_id,
            table=table,
            master=entity.ownership == "master",
            predicates=cached[1],
        )
