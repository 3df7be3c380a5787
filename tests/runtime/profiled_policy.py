"""A stand-in security policy for tests: unit-subtree rows with fixed field levels.

The tests of field security in lists, forms and describe need a policy whose
field levels they choose; the real `RolePolicy` is tested on its own worlds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, false

from crm_platform.metadata.model import Configuration, EntityDef
from crm_platform.runtime.policy import (
    EntityAccess,
    FieldLevel,
    Privilege,
    TenantState,
    UnitSubtreePolicy,
)
from crm_platform.runtime.principal import Principal


@dataclass(frozen=True)
class ProfiledAccess:
    """`inner`'s rows with `field_levels`; masked values read `mask_text`.

    `read_only` keeps only the read and export privileges (no writes, no create).
    """

    inner: EntityAccess
    field_levels: Mapping[str, FieldLevel]
    read_only: bool = False
    mask_text: str = "***"

    def predicate(self, privilege: Privilege) -> Any:
        if self.read_only and privilege not in ("read", "export"):
            return false()
        return self.inner.predicate(privilege)

    def can_create_in(self, unit_id: int | None) -> bool:
        return not self.read_only and self.inner.can_create_in(unit_id)

    def can_assign_to(self, unit_id: int | None) -> bool:
        return not self.read_only and self.inner.can_assign_to(unit_id)

    def mask(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: self.mask_text
            if self.field_levels.get(key) == "masked" and value is not None
            else value
            for key, value in row.items()
        }


class ProfiledPolicy:
    """`UnitSubtreePolicy`, with `levels` for signed-in users (the system principal is spared).

    `entity` limits the profile to one entity, `users` to some user ids.
    """

    def __init__(
        self,
        levels: Mapping[str, FieldLevel],
        *,
        entity: str | None = None,
        users: Collection[int] | None = None,
        read_only: bool = False,
        mask_text: str = "***",
    ) -> None:
        self.inner = UnitSubtreePolicy()
        self.levels = levels
        self.entity = entity
        self.users = users
        self.read_only = read_only
        self.mask_text = mask_text

    def compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> EntityAccess:
        """The unit-subtree access, profiled where this policy applies."""
        access = self.inner.compile(connection, tenant, principal, entity, table, config)
        if (
            principal.is_system
            or (self.entity is not None and entity.key != self.entity)
            or (self.users is not None and principal.user_id not in self.users)
        ):
            return access
        return ProfiledAccess(access, self.levels, self.read_only, self.mask_text)
