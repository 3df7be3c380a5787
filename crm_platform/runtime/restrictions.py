"""Restriction rules: records matching a condition are removed from some users' view.

A restriction is a boundary, like the tenant: it is ANDed with everything the
user's roles, shares and sharing rules grant, for every privilege. A rule
applies to a user who holds one of its roles (at any unit), or who belongs to,
holds a role at, or works in one of its units (or, with include_subtree, any
unit below it). Dynamics 365 cannot express this; Salesforce's restriction rules can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crm_platform.metadata.model import RestrictionRuleDef
from crm_platform.runtime.access_levels import SecurityFacts


@dataclass(frozen=True)
class RestrictionReach:
    """Why a restriction applies to a user: the roles and unit keys that matched."""

    roles: tuple[str, ...]
    units: tuple[str, ...]

    def describe(self) -> str:
        """``role bu_head; unit sub_retail (and below)`` for an explanation."""
        parts = [f"role {role}" for role in self.roles]
        parts += [f"unit {unit}" for unit in self.units]
        return "; ".join(parts)


def restriction_reach(
    rule: RestrictionRuleDef, unit_ids: Mapping[str, int], facts: SecurityFacts
) -> RestrictionReach | None:
    """How `rule` reaches the user, or None when it does not apply to them."""
    roles = tuple(sorted(set(rule.roles) & facts.role_keys))
    units: list[str] = []
    direct = facts.units | ({facts.context_unit} if facts.context_unit is not None else set())
    for target in rule.units:
        unit_id = unit_ids.get(target.unit)
        if unit_id is None:
            continue
        if target.include_subtree:
            if unit_id in facts.restriction_units:
                units.append(f"{target.unit} (and below)")
        elif unit_id in direct:
            units.append(target.unit)
    if not roles and not units:
        return None
    return RestrictionReach(roles, tuple(units))
