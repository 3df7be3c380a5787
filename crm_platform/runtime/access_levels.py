"""Access levels and the facts about a user they are measured against.

A role grants each privilege at one level: ``none``; ``own`` (records the user
owns or a team of theirs owns; shares count here too, see `sharing`); ``unit``
(records owned by the unit the role is assigned at); ``unit_and_below`` (that
unit's whole subtree, one closure-table predicate); ``tenant``. These are
Dynamics 365's Basic / Local / Deep / Global, measured from the assignment's
unit instead of the user's business unit.

`SecurityFacts` are what the database says about the user now (role
assignments, memberships, which of their units are teams, and the ancestors of
their units); they are loaded once per tenant security version, so a role
change committed by another process is seen by the next operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import Connection, Table, false, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.tables import OrgUnit, OrgUnitClosure
from crm_platform.runtime.principal import RoleGrant
from crm_platform.runtime.tables import RecordShare, RoleAssignment, UnitMembership, User

CLOSURE: Table = OrgUnitClosure.__table__  # type: ignore[assignment]
UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]
MEMBERSHIPS: Table = UnitMembership.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = RoleAssignment.__table__  # type: ignore[assignment]
SHARES: Table = RecordShare.__table__  # type: ignore[assignment]

LEVELS: tuple[str, ...] = ("none", "own", "unit", "unit_and_below", "tenant")
LEVEL_RANK: Mapping[str, int] = MappingProxyType({level: i for i, level in enumerate(LEVELS)})
ALL_PRIVILEGES: tuple[str, ...] = (
    "create",
    "read",
    "update",
    "delete",
    "assign",
    "share",
    "export",
)
ROW_PRIVILEGES: tuple[str, ...] = ("read", "update", "delete", "assign", "share", "export")
TEAM_KIND = "team"
"""Units of this kind are teams: records a team owns are "own" records of its members."""


def widest(levels: Iterable[str]) -> str:
    """The most permissive of `levels` (``none`` for none)."""
    return max(levels, key=LEVEL_RANK.__getitem__, default="none")


@dataclass(frozen=True)
class SecurityFacts:
    """What the database says about one user at one security version of the tenant.

    `memberships` are the primary unit and every additional one; `teams` those of
    them that are teams; `units` memberships plus the units of role assignments;
    `ancestors` every ancestor (and self) of `units`; `context_ancestors` those of
    the unit the user works in now (`context_unit`). `shared_entities` are the entities with at
    least one share aimed at the user, so a user without shares pays nothing for them.
    """

    user_id: int
    active: bool
    assignments: tuple[RoleGrant, ...]
    memberships: frozenset[int]
    teams: frozenset[int]
    units: frozenset[int]
    ancestors: frozenset[int]
    context_ancestors: frozenset[int]
    shared_entities: frozenset[str]
    context_unit: int | None = None

    @property
    def role_keys(self) -> frozenset[str]:
        """Every role the user holds, at any unit."""
        return frozenset(grant.role for grant in self.assignments)

    @property
    def restriction_units(self) -> frozenset[int]:
        """Ancestors of every unit the user belongs to or works in: what restrictions match."""
        return self.ancestors | self.context_ancestors


NO_FACTS = SecurityFacts(
    user_id=0,
    active=False,
    assignments=(),
    memberships=frozenset(),
    teams=frozenset(),
    units=frozenset(),
    ancestors=frozenset(),
    context_ancestors=frozenset(),
    shared_entities=frozenset(),
)


def _ancestors_of(connection: Connection, units: Iterable[int]) -> frozenset[int]:
    wanted = sorted(set(units))
    if not wanted:
        return frozenset()
    rows = connection.execute(
        select(CLOSURE.c.ancestor_id).where(CLOSURE.c.descendant_id.in_(wanted)).distinct()
    )
    return frozenset(rows.scalars())


def load_facts(
    connection: Connection, tenant_id: int, user_id: int, context_unit: int | None
) -> SecurityFacts:
    """Read a user's assignments, memberships and share targets (a handful of small queries)."""
    user = connection.execute(
        select(USERS.c.active, USERS.c.primary_unit_id).where(
            USERS.c.id == user_id, USERS.c.tenant_id == tenant_id
        )
    ).first()
    if user is None:
        return NO_FACTS
    assignments = tuple(
        RoleGrant(role=row.role_key, unit_id=row.unit_id)
        for row in connection.execute(
            select(ASSIGNMENTS.c.role_key, ASSIGNMENTS.c.unit_id)
            .where(ASSIGNMENTS.c.user_id == user_id, ASSIGNMENTS.c.tenant_id == tenant_id)
            .order_by(ASSIGNMENTS.c.role_key, ASSIGNMENTS.c.unit_id)
        )
    )
    memberships = frozenset(
        {
            user.primary_unit_id,
            *connection.execute(
                select(MEMBERSHIPS.c.unit_id).where(
                    MEMBERSHIPS.c.user_id == user_id, MEMBERSHIPS.c.tenant_id == tenant_id
                )
            ).scalars(),
        }
    )
    teams = frozenset(
        connection.execute(
            select(UNITS.c.id).where(
                UNITS.c.id.in_(sorted(memberships)),
                UNITS.c.tenant_id == tenant_id,
                UNITS.c.kind == TEAM_KIND,
            )
        ).scalars()
    )
    units = memberships | {grant.unit_id for grant in assignments}
    ancestors = _ancestors_of(connection, units)
    context_ancestors = (
        _ancestors_of(connection, [context_unit]) if context_unit is not None else frozenset()
    )
    targets = share_target_clause(user_id, memberships, units, ancestors)
    shared = frozenset(
        connection.execute(
            select(SHARES.c.entity).where(SHARES.c.tenant_id == tenant_id, targets).distinct()
        ).scalars()
    )
    return SecurityFacts(
        user_id=user_id,
        active=bool(user.active),
        assignments=assignments,
        memberships=memberships,
        teams=teams,
        units=units,
        ancestors=ancestors,
        context_ancestors=context_ancestors,
        shared_entities=shared,
        context_unit=context_unit,
    )


def share_target_clause(
    user_id: int,
    memberships: Iterable[int],
    units: Iterable[int],
    ancestors: Iterable[int],
) -> ColumnElement[bool]:
    """The shares aimed at the user: at them, a team of theirs, a unit of theirs or above it."""
    parts: list[ColumnElement[bool]] = [
        (SHARES.c.target_type == "user") & (SHARES.c.target_id == user_id)
    ]
    for target_type, ids in (
        ("team", memberships),
        ("unit", units),
        ("unit_subtree", ancestors),
    ):
        wanted = sorted(set(ids))
        if wanted:
            parts.append((SHARES.c.target_type == target_type) & SHARES.c.target_id.in_(wanted))
    return or_(*parts)


# -- level predicates ----------------------------------------------------------------------------


def subtree_clause(table: Table, roots: Iterable[int]) -> ColumnElement[bool]:
    """``owning_unit_id IN (SELECT descendant_id FROM org_unit_closure WHERE ancestor_id ...)``."""
    wanted = sorted(set(roots))
    if not wanted:
        return false()
    ancestor = CLOSURE.c.ancestor_id
    where = ancestor == wanted[0] if len(wanted) == 1 else ancestor.in_(wanted)
    return table.c.owning_unit_id.in_(select(CLOSURE.c.descendant_id).where(where))


def unit_clause(table: Table, units: Iterable[int]) -> ColumnElement[bool]:
    """Records owned by exactly one of `units`."""
    wanted = sorted(set(units))
    if not wanted:
        return false()
    if len(wanted) == 1:
        return table.c.owning_unit_id == wanted[0]
    return table.c.owning_unit_id.in_(wanted)


def own_clause(table: Table, facts: SecurityFacts) -> ColumnElement[bool]:
    """Records the user owns, or a team of theirs owns (shares are added by `sharing`)."""
    clause: ColumnElement[bool] = table.c.owner_user_id == facts.user_id
    if facts.teams:
        clause = or_(clause, unit_clause(table, facts.teams))
    return clause


LevelClause = Callable[[Table, SecurityFacts, Iterable[int]], ColumnElement[bool]]

LEVEL_CLAUSES: Mapping[str, LevelClause] = MappingProxyType(
    {
        "none": lambda table, facts, units: false(),
        "own": lambda table, facts, units: own_clause(table, facts),
        "unit": lambda table, facts, units: unit_clause(table, units),
        "unit_and_below": lambda table, facts, units: subtree_clause(table, units),
        "tenant": lambda table, facts, units: true(),
    }
)
"""Level -> the rows it covers, given the units of the assignments that grant it."""


# -- deciding one unit (create, assign) ----------------------------------------------------------


def unit_covered(
    connection: Connection,
    facts: SecurityFacts,
    grants: Mapping[str, frozenset[int]],
    unit_id: int | None,
) -> bool:
    """Is a record owned by `unit_id` inside the scope of `grants` (level -> assignment units)?

    ``own`` covers the user's own units (creating a record there makes them its
    owner); a record with no owning unit (master data) needs ``tenant``.
    """
    if grants.get("tenant"):
        return True
    if unit_id is None:
        return False
    if unit_id in grants.get("unit", frozenset()):
        return True
    if grants.get("own") and unit_id in facts.units:
        return True
    roots = sorted(grants.get("unit_and_below", frozenset()))
    if not roots:
        return False
    found = connection.execute(
        select(CLOSURE.c.ancestor_id)
        .where(CLOSURE.c.descendant_id == unit_id, CLOSURE.c.ancestor_id.in_(roots))
        .limit(1)
    ).first()
    return found is not None
