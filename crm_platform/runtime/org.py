"""Structural operations on a tenant's org tree: create, rename, move, deactivate, merge.

Each operation is one transaction (the caller's) and appends an audit entry under
the pseudo-entity ``org_unit``. Subtree queries go through the closure table
(docs/architecture.md): a move rewrites only the closure rows that cross it
(subtree x old and new ancestors), never the records below it, and is visible to
every subtree query as soon as it commits. Operations that change the structure
bump `Tenant.security_version` first, which also takes the tenant row's lock so
two concurrent restructurings of one tenant cannot interleave into a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from crm_platform.metadata.layers import effective_configuration
from crm_platform.metadata.model import localize
from crm_platform.metadata.org_tree import units_by_key
from crm_platform.metadata.store import layer_chain, published_layers_in
from crm_platform.metadata.tables import OrgUnit, OrgUnitClosure, Tenant
from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.search_text import (
    LIKE_ESCAPE,
    SEARCH_LIMIT,
    checked_search_text,
    contains_pattern,
    prefix_pattern,
)
from crm_platform.runtime.tables import AuditEntry, RoleAssignment, UnitMembership, User
from crm_platform.runtime.tenants import bump_security_version, get_tenant_by_id

UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]
CLOSURE: Table = OrgUnitClosure.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_MEMBERSHIPS: Table = UnitMembership.__table__  # type: ignore[assignment]
_ASSIGNMENTS: Table = RoleAssignment.__table__  # type: ignore[assignment]

UNIT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
AUDIT_ENTITY = "org_unit"
NAME_LANGUAGES = ("en", "zh-Hans", "zh-Hant")
"""The languages of a unit's name that a search looks in (the UI's languages)."""

MoveRecords = Callable[[Connection, Tenant, int, int], int]
"""Moves every record owned by unit `from` (third argument) to unit `to`; returns the count."""


_UNITS_PER_QUERY = 500  # well under every database's limit of bound parameters
_UNITS_BY_ID = select(UNITS).where(
    UNITS.c.tenant_id == bindparam("tenant_id"), UNITS.c.id.in_(bindparam("ids", expanding=True))
)


def unit_from_row(row: Any) -> OrgUnit:
    """A detached `OrgUnit` value built from a Core row of the org_units table."""
    return OrgUnit(**dict(row._mapping))


def get_unit(connection: Connection, tenant_id: int, unit_id: int) -> OrgUnit:
    """The unit with this id in this tenant; a unit of another tenant is "not found"."""
    row = connection.execute(
        select(UNITS).where(UNITS.c.id == unit_id, UNITS.c.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise RecordNotFound(AUDIT_ENTITY, unit_id)
    return unit_from_row(row)


def get_units(
    connection: Connection, tenant_id: int, unit_ids: Iterable[int]
) -> dict[int, OrgUnit]:
    """The units of this tenant among `unit_ids`, by id, in one query per 500 ids.

    For pages that name many units at once (the owning units of a list's rows);
    ids of unknown units, or of another tenant's, are simply absent.
    """
    wanted = sorted(set(unit_ids))
    found: dict[int, OrgUnit] = {}
    for start in range(0, len(wanted), _UNITS_PER_QUERY):
        chunk = wanted[start : start + _UNITS_PER_QUERY]
        rows = connection.execute(_UNITS_BY_ID, {"tenant_id": tenant_id, "ids": chunk})
        found.update((row.id, unit_from_row(row)) for row in rows)
    return found


def get_unit_by_key(connection: Connection, tenant_id: int, key: str) -> OrgUnit:
    """The unit with this key in this tenant."""
    row = connection.execute(
        select(UNITS).where(UNITS.c.key == key, UNITS.c.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise RecordNotFound(AUDIT_ENTITY, key)
    return unit_from_row(row)


def subtree_ids(connection: Connection, unit_id: int) -> list[int]:
    """The unit and every unit below it, ascending by id, from the closure table."""
    rows = connection.execute(
        select(CLOSURE.c.descendant_id)
        .where(CLOSURE.c.ancestor_id == unit_id)
        .order_by(CLOSURE.c.descendant_id)
    )
    return list(rows.scalars())


def ancestors(connection: Connection, unit_id: int, include_self: bool = False) -> list[int]:
    """The units above this one, root first (and the unit itself last if asked)."""
    query = select(CLOSURE.c.ancestor_id).where(CLOSURE.c.descendant_id == unit_id)
    if not include_self:
        query = query.where(CLOSURE.c.depth > 0)
    rows = connection.execute(query.order_by(CLOSURE.c.depth.desc()))
    return list(rows.scalars())


@dataclass(frozen=True)
class UnitMatch:
    """An org unit a picker offers: its id and key, its name, and where it sits in the tree."""

    id: int
    key: str
    name: str
    ancestors: tuple[str, ...]
    """The names of the units above it, root first (empty for a root)."""


def search_units(
    connection: Connection,
    tenant_id: int,
    query: str,
    language: str,
    limit: int = SEARCH_LIMIT,
) -> list[UnitMatch]:
    """Active units of the tenant whose key or name (in any UI language) contains `query`.

    Names are given in `language` (falling back as labels do), each with the
    names of the units above it so that two "East branch" units can be told
    apart. Keys and names starting with the text come first, then tree order
    (`path`, which keeps a subtree together). The tenant condition uses the
    tenant's unique (tenant, key) index; the ancestors' names are one more query
    by primary key for the whole page. An empty `query` lists the first units.
    """
    text = checked_search_text(query, limit)
    conditions = [UNITS.c.tenant_id == tenant_id, UNITS.c.active.is_(True)]
    order: list[Any] = []
    if text:
        names = [UNITS.c.name[language_key].as_string() for language_key in NAME_LANGUAGES]
        anywhere, start = contains_pattern(text), prefix_pattern(text)
        conditions.append(
            or_(
                UNITS.c.key.like(anywhere.lower(), escape=LIKE_ESCAPE),
                *(name.ilike(anywhere, escape=LIKE_ESCAPE) for name in names),
            )
        )
        starts = or_(
            UNITS.c.key.like(start.lower(), escape=LIKE_ESCAPE),
            *(name.ilike(start, escape=LIKE_ESCAPE) for name in names),
        )
        order.append(case((starts, 0), else_=1))
    tree_order: Any = UNITS.c.path
    if connection.dialect.name == "postgresql":
        # A linguistic collation skips the slashes ("/1/23/" between "/1/2/" and "/1/2/9/");
        # compared byte by byte, as SQLite does, a subtree stays together.
        tree_order = tree_order.collate("C")
    rows = connection.execute(
        select(UNITS.c.id, UNITS.c.key, UNITS.c.name, UNITS.c.path)
        .where(*conditions)
        .order_by(*order, tree_order, UNITS.c.id)
        .limit(limit)
    ).all()
    chains = {row.id: _path_ids(row.path)[:-1] for row in rows}
    named = {row.id: localize(row.name, language) for row in rows}
    missing = {unit_id for chain in chains.values() for unit_id in chain} - named.keys()
    if missing:
        found = get_units(connection, tenant_id, missing)
        named.update((unit_id, localize(unit.name, language)) for unit_id, unit in found.items())
    return [
        UnitMatch(
            row.id,
            row.key,
            named[row.id],
            tuple(named.get(unit_id, f"#{unit_id}") for unit_id in chains[row.id]),
        )
        for row in rows
    ]


def _path_ids(path: str) -> list[int]:
    """The ids of a materialized path ``/1/4/9/``, root first."""
    return [int(part) for part in path.strip("/").split("/") if part]


def create_unit(
    connection: Connection,
    tenant_id: int,
    key: str,
    name: Mapping[str, str],
    kind: str,
    parent_id: int | None = None,
    *,
    legal_entity: bool = False,
    head_user_id: int | None = None,
    kinds: Collection[str] | None = None,
    actor_id: int | None = None,
) -> OrgUnit:
    """Create a unit under `parent_id` (None: a root), with its path and closure rows.

    `kind` must be one of `kinds`; by default those of the configuration in effect
    at the parent once the tenant has published one (before that, the first
    publish checks every unit's kind). Working that out merges the published
    layers (about 10 ms), so a caller creating many units passes `kinds` from one
    `configured_unit_kinds` call.
    """
    if not UNIT_KEY.match(key):
        raise InvalidOperation(
            f"org unit key {key!r} is invalid: use lower-case letters, digits and underscores, "
            "starting with a letter (at most 63 characters)"
        )
    if not name.get("en"):
        raise InvalidOperation(f"org unit {key!r} needs an English name (name['en'])")
    parent = None if parent_id is None else get_unit(connection, tenant_id, parent_id)
    if kinds is None:
        kinds = configured_unit_kinds(connection, tenant_id, parent.key if parent else None)
    if kinds is not None and kind not in kinds:
        raise InvalidOperation(
            f"org unit {key!r} has kind {kind!r}, which is not one of the tenant's unit kinds "
            f"({', '.join(sorted(kinds))}); use one of those or add the kind to the configuration"
        )
    taken = connection.execute(
        select(UNITS.c.id).where(UNITS.c.tenant_id == tenant_id, UNITS.c.key == key)
    ).first()
    if taken is not None:
        raise InvalidOperation(f"the tenant already has an org unit {key!r}; choose another key")
    if parent is not None and not parent.active:
        raise InvalidOperation(
            f"org unit {parent.key!r} is inactive; reactivate it or choose another parent"
        )
    bump_security_version(connection, tenant_id)
    unit_id = connection.execute(
        insert(UNITS)
        .values(
            tenant_id=tenant_id,
            key=key,
            name=dict(name),
            kind=kind,
            parent_id=parent_id,
            path="/",
            depth=0 if parent is None else parent.depth + 1,
            head_user_id=head_user_id,
            active=True,
            legal_entity=legal_entity,
        )
        .returning(UNITS.c.id)
    ).scalar_one()
    path = f"{'/' if parent is None else parent.path}{unit_id}/"
    connection.execute(update(UNITS).where(UNITS.c.id == unit_id).values(path=path))
    connection.execute(
        insert(CLOSURE).values(
            ancestor_id=unit_id, descendant_id=unit_id, tenant_id=tenant_id, depth=0
        )
    )
    if parent is not None:
        connection.execute(
            insert(CLOSURE).from_select(
                ["ancestor_id", "descendant_id", "tenant_id", "depth"],
                select(
                    CLOSURE.c.ancestor_id,
                    literal(unit_id),
                    literal(tenant_id),
                    CLOSURE.c.depth + 1,
                ).where(CLOSURE.c.descendant_id == parent.id),
            )
        )
    _audit(
        connection,
        tenant_id,
        unit_id,
        "create",
        actor_id,
        {
            "key": [None, key],
            "name": [None, dict(name)],
            "kind": [None, kind],
            "parent": [None, None if parent is None else parent.key],
        },
    )
    return get_unit(connection, tenant_id, unit_id)


def configured_unit_kinds(
    connection: Connection, tenant_id: int, unit_key: str | None
) -> frozenset[str] | None:
    """The unit kinds in effect at a unit (None: HQ), or None before the first publish."""
    layers = published_layers_in(connection, tenant_id)
    if not layers:
        return None
    units = units_by_key(connection, tenant_id)
    configuration = effective_configuration(layer_chain(layers, units, unit_key))
    return frozenset(configuration.unit_kinds)


def rename_unit(
    connection: Connection,
    tenant_id: int,
    unit_id: int,
    name: Mapping[str, str],
    *,
    actor_id: int | None = None,
) -> OrgUnit:
    """Change a unit's localized name; its key (which configuration refers to) never changes."""
    unit = get_unit(connection, tenant_id, unit_id)
    if not name.get("en"):
        raise InvalidOperation(f"org unit {unit.key!r} needs an English name (name['en'])")
    connection.execute(update(UNITS).where(UNITS.c.id == unit_id).values(name=dict(name)))
    _audit(connection, tenant_id, unit_id, "rename", actor_id, {"name": [unit.name, dict(name)]})
    return get_unit(connection, tenant_id, unit_id)


def move_unit(
    connection: Connection,
    tenant_id: int,
    unit_id: int,
    new_parent_id: int,
    *,
    actor_id: int | None = None,
) -> OrgUnit:
    """Move a unit (with its subtree) under another parent; refuses to create a cycle."""
    unit = get_unit(connection, tenant_id, unit_id)
    parent = get_unit(connection, tenant_id, new_parent_id)
    bump_security_version(connection, tenant_id)
    _check_not_into_own_subtree(connection, unit, parent, "move")
    if not parent.active:
        raise InvalidOperation(
            f"org unit {parent.key!r} is inactive; reactivate it or move {unit.key!r} elsewhere"
        )
    old_parent_key = _key_of(connection, unit.parent_id)
    _reparent(connection, unit, parent)
    _audit(
        connection, tenant_id, unit_id, "move", actor_id, {"parent": [old_parent_key, parent.key]}
    )
    return get_unit(connection, tenant_id, unit_id)


def deactivate_unit(
    connection: Connection, tenant_id: int, unit_id: int, *, actor_id: int | None = None
) -> OrgUnit:
    """Mark a unit inactive (kept for history); refused while it has active child units."""
    unit = get_unit(connection, tenant_id, unit_id)
    children = connection.execute(
        select(UNITS.c.key).where(UNITS.c.parent_id == unit_id, UNITS.c.active.is_(True))
    ).scalars()
    active_children = sorted(children)
    if active_children:
        raise InvalidOperation(
            f"org unit {unit.key!r} still has active child units ({', '.join(active_children)}); "
            "move, merge or deactivate them first"
        )
    if not unit.active:
        return unit
    bump_security_version(connection, tenant_id)
    connection.execute(update(UNITS).where(UNITS.c.id == unit_id).values(active=False))
    _audit(connection, tenant_id, unit_id, "deactivate", actor_id, {"active": [True, False]})
    return get_unit(connection, tenant_id, unit_id)


def merge_units(
    connection: Connection,
    tenant_id: int,
    unit_id: int,
    into: int,
    move_records: MoveRecords,
    *,
    actor_id: int | None = None,
) -> OrgUnit:
    """Merge unit A (`unit_id`) into B (`into`); returns B.

    A's child units, members (primary unit and memberships), role assignments and
    own records move to B; B's key survives; A is kept inactive with
    `merged_into_id` for history. `move_records` is the record service's
    operation, called inside this transaction.
    """
    source = get_unit(connection, tenant_id, unit_id)
    target = get_unit(connection, tenant_id, into)
    if source.id == target.id:
        raise InvalidOperation(f"cannot merge org unit {source.key!r} into itself")
    if not source.active or not target.active:
        inactive = source if not source.active else target
        raise InvalidOperation(
            f"org unit {inactive.key!r} is inactive; only active units can be merged"
        )
    bump_security_version(connection, tenant_id)
    _check_not_into_own_subtree(connection, source, target, "merge")
    children = connection.execute(
        select(UNITS).where(UNITS.c.parent_id == source.id).order_by(UNITS.c.id)
    ).all()
    for row in children:
        _reparent(connection, unit_from_row(row), get_unit(connection, tenant_id, target.id))
    users_moved = _move_members(connection, source.id, target.id)
    roles_moved = _move_role_assignments(connection, source.id, target.id)
    records_moved = move_records(
        connection, get_tenant_by_id(connection, tenant_id), source.id, target.id
    )
    connection.execute(
        update(UNITS).where(UNITS.c.id == source.id).values(active=False, merged_into_id=target.id)
    )
    _audit(
        connection,
        tenant_id,
        source.id,
        "merge",
        actor_id,
        {
            "merged_into": [None, target.key],
            "active": [True, False],
            "children_moved": [None, sorted(row.key for row in children)],
            "members_moved": [None, users_moved],
            "role_assignments_moved": [None, roles_moved],
            "records_moved": [None, records_moved],
        },
    )
    return get_unit(connection, tenant_id, target.id)


def set_unit_head(
    connection: Connection,
    tenant_id: int,
    unit_id: int,
    head_user_id: int | None,
    *,
    actor_id: int | None = None,
) -> OrgUnit:
    """Name (or clear) the head of a unit; the head must be a user of the same tenant."""
    unit = get_unit(connection, tenant_id, unit_id)
    if head_user_id is not None:
        found = connection.execute(
            select(_USERS.c.id).where(_USERS.c.id == head_user_id, _USERS.c.tenant_id == tenant_id)
        ).first()
        if found is None:
            raise RecordNotFound("user", head_user_id)
    bump_security_version(connection, tenant_id)
    connection.execute(update(UNITS).where(UNITS.c.id == unit_id).values(head_user_id=head_user_id))
    _audit(
        connection,
        tenant_id,
        unit_id,
        "set_head",
        actor_id,
        {"head": [unit.head_user_id, head_user_id]},
    )
    return get_unit(connection, tenant_id, unit_id)


# -- helpers -----------------------------------------------------------------------------------


def _check_not_into_own_subtree(
    connection: Connection, unit: OrgUnit, target: OrgUnit, operation: str
) -> None:
    inside = connection.execute(
        select(CLOSURE.c.depth).where(
            CLOSURE.c.ancestor_id == unit.id, CLOSURE.c.descendant_id == target.id
        )
    ).first()
    if inside is not None:
        where = "itself" if unit.id == target.id else f"its own descendant {target.key!r}"
        raise InvalidOperation(
            f"cannot {operation} org unit {unit.key!r} into {where}: the tree would have a "
            f"cycle; choose a unit outside the subtree of {unit.key!r}"
        )


def _reparent(connection: Connection, unit: OrgUnit, parent: OrgUnit) -> None:
    """Hang `unit`'s subtree under `parent`: closure rows across the move, paths and depths."""
    subtree = select(CLOSURE.c.descendant_id).where(CLOSURE.c.ancestor_id == unit.id)
    old_ancestors = select(CLOSURE.c.ancestor_id).where(
        CLOSURE.c.descendant_id == unit.id, CLOSURE.c.depth > 0
    )
    connection.execute(
        delete(CLOSURE).where(
            CLOSURE.c.descendant_id.in_(subtree.scalar_subquery()),
            CLOSURE.c.ancestor_id.in_(old_ancestors.scalar_subquery()),
        )
    )
    above = CLOSURE.alias("above")
    below = CLOSURE.alias("below")
    connection.execute(
        insert(CLOSURE).from_select(
            ["ancestor_id", "descendant_id", "tenant_id", "depth"],
            select(
                above.c.ancestor_id,
                below.c.descendant_id,
                literal(unit.tenant_id),
                above.c.depth + below.c.depth + 1,
            )
            .select_from(above.join(below, true()))
            .where(and_(above.c.descendant_id == parent.id, below.c.ancestor_id == unit.id)),
        )
    )
    old_prefix = unit.path
    new_prefix = f"{parent.path}{unit.id}/"
    delta = parent.depth + 1 - unit.depth
    connection.execute(
        update(UNITS)
        .where(UNITS.c.id.in_(subtree.scalar_subquery()))
        .values(
            path=literal(new_prefix) + func.substr(UNITS.c.path, len(old_prefix) + 1),
            depth=UNITS.c.depth + delta,
        )
    )
    connection.execute(update(UNITS).where(UNITS.c.id == unit.id).values(parent_id=parent.id))


def _move_members(connection: Connection, source_id: int, target_id: int) -> int:
    """Users whose primary unit or membership is the source now belong to the target."""
    primary = connection.execute(
        update(_USERS)
        .where(_USERS.c.primary_unit_id == source_id)
        .values(primary_unit_id=target_id)
    ).rowcount
    members = connection.execute(
        select(_MEMBERSHIPS.c.user_id).where(_MEMBERSHIPS.c.unit_id == source_id)
    ).scalars()
    member_ids = list(members)
    already = set(
        connection.execute(
            select(_MEMBERSHIPS.c.user_id).where(
                _MEMBERSHIPS.c.unit_id == target_id, _MEMBERSHIPS.c.user_id.in_(member_ids)
            )
        ).scalars()
    )
    connection.execute(delete(_MEMBERSHIPS).where(_MEMBERSHIPS.c.unit_id == source_id))
    new_members = [user for user in member_ids if user not in already]
    if new_members:
        tenant_id = connection.execute(
            select(UNITS.c.tenant_id).where(UNITS.c.id == target_id)
        ).scalar_one()
        connection.execute(
            insert(_MEMBERSHIPS),
            [{"user_id": u, "unit_id": target_id, "tenant_id": tenant_id} for u in new_members],
        )
    return primary + len(set(member_ids) - already)


def _move_role_assignments(connection: Connection, source_id: int, target_id: int) -> int:
    """Role assignments held at the source are held at the target (duplicates collapse)."""
    rows = connection.execute(
        select(_ASSIGNMENTS.c.id, _ASSIGNMENTS.c.user_id, _ASSIGNMENTS.c.role_key).where(
            _ASSIGNMENTS.c.unit_id == source_id
        )
    ).all()
    held = {
        (row.user_id, row.role_key)
        for row in connection.execute(
            select(_ASSIGNMENTS.c.user_id, _ASSIGNMENTS.c.role_key).where(
                _ASSIGNMENTS.c.unit_id == target_id
            )
        )
    }
    duplicates = [row.id for row in rows if (row.user_id, row.role_key) in held]
    if duplicates:
        connection.execute(delete(_ASSIGNMENTS).where(_ASSIGNMENTS.c.id.in_(duplicates)))
    connection.execute(
        update(_ASSIGNMENTS).where(_ASSIGNMENTS.c.unit_id == source_id).values(unit_id=target_id)
    )
    return len(rows)


def _key_of(connection: Connection, unit_id: int | None) -> str | None:
    if unit_id is None:
        return None
    return connection.execute(select(UNITS.c.key).where(UNITS.c.id == unit_id)).scalar()


def _audit(
    connection: Connection,
    tenant_id: int,
    unit_id: int,
    action: str,
    actor_id: int | None,
    changes: dict[str, Any],
) -> None:
    connection.execute(
        insert(_AUDIT).values(
            tenant_id=tenant_id,
            entity=AUDIT_ENTITY,
            record_id=unit_id,
            action=action,
            actor_id=actor_id,
            at=datetime.now(UTC),
            changes=changes,
        )
    )
