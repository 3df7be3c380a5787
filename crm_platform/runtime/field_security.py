"""Field security: per role and entity, each field hidden, masked, read or edit.

A field a profile does not list is ``edit``, and a role without a profile for
the entity leaves every field at ``edit``. Of the roles that give the user any
privilege on the entity, the most permissive level per field wins (roles that
give nothing on the entity do not loosen its fields); when none does (master
data read by everyone), every role the user holds counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from crm_platform.metadata.model import Configuration, EntityDef

FIELD_LEVEL_RANK: Mapping[str, int] = MappingProxyType(
    {"hidden": 0, "masked": 1, "read": 2, "edit": 3}
)
DEFAULT_FIELD_LEVEL = "edit"


@dataclass(frozen=True)
class FieldSource:
    """Where one role's level for a field comes from: its profile, or the default."""

    role: str
    level: str
    profile: str | None

    def describe(self) -> str:
        """``role finance: masked by profile finance_contact`` for an explanation."""
        if self.profile is None:
            return f"role {self.role}: {self.level} (no profile lists the field)"
        return f"role {self.role}: {self.level} by profile {self.profile}"


@dataclass(frozen=True)
class FieldGrant:
    """A field's effective level and the roles that give it."""

    level: str
    sources: tuple[FieldSource, ...]


def counting_roles(config: Configuration, entity_key: str, held: Iterable[str]) -> tuple[str, ...]:
    """The held roles whose field profiles count for the entity (see the module docstring)."""
    known = sorted({role for role in held if role in config.roles})
    granting = [
        role
        for role in known
        if any(
            level != "none" for level in config.roles[role].privileges.get(entity_key, {}).values()
        )
    ]
    return tuple(granting or known)


def field_grants(
    config: Configuration, entity: EntityDef, roles: Iterable[str]
) -> dict[str, FieldGrant]:
    """Each field of `entity` -> its effective level over `roles`, with the sources."""
    profiles = {role: config.field_security_for(role, entity.key) for role in roles}
    grants: dict[str, FieldGrant] = {}
    for field in entity.fields:
        sources = []
        for role, profile in profiles.items():
            if profile is not None and field.key in profile.fields:
                sources.append(FieldSource(role, profile.fields[field.key], profile.key))
            else:
                sources.append(FieldSource(role, DEFAULT_FIELD_LEVEL, None))
        if not sources:
            grants[field.key] = FieldGrant(DEFAULT_FIELD_LEVEL, ())
            continue
        best = max(FIELD_LEVEL_RANK[source.level] for source in sources)
        winners = tuple(s for s in sources if FIELD_LEVEL_RANK[s.level] == best)
        grants[field.key] = FieldGrant(winners[0].level, winners)
    return grants


def restricted_levels(grants: Mapping[str, FieldGrant]) -> dict[str, str]:
    """The levels the record service needs: every field that is not plain ``edit``."""
    return {key: g.level for key, g in grants.items() if g.level != DEFAULT_FIELD_LEVEL}
