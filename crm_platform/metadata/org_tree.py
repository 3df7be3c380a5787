"""Creating and updating a tenant's org units by key, keeping path, depth and closure in step.

Every function takes an open connection and does not commit, so a caller (a
bundle import, `runtime.org`'s structural operations) can make its whole change
one transaction. `path` is the materialized id path (``/1/4/9/``, the unit's own
id last), `depth` counts from 0 at a root, and `org_unit_closure` holds every
(ancestor, descendant) pair including each unit with itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from crm_platform.errors import Problem
from crm_platform.metadata.errors import ConfigurationInvalid
from crm_platform.metadata.tables import OrgUnit, OrgUnitClosure

_CHUNK = 500
"""Ids per IN list, well under every driver's bound-parameter limit."""


@dataclass(frozen=True)
class UnitRow:
    """One stored org unit, with its parent's key resolved."""

    id: int
    key: str
    name: Mapping[str, str]
    kind: str
    parent_id: int | None
    parent_key: str | None
    path: str
    depth: int
    active: bool
    legal_entity: bool

    def as_document(self) -> dict[str, Any]:
        """The unit as an item of ``org_units.json``; flags at their default are left out."""
        document: dict[str, Any] = {
            "key": self.key,
            "name": dict(self.name),
            "kind": self.kind,
            "parent": self.parent_key,
        }
        if self.legal_entity:
            document["legal_entity"] = True
        if not self.active:
            document["active"] = False
        return document


@dataclass(frozen=True)
class UnitChanges:
    """Unit keys created, updated (name, kind, flags) and moved (new parent) by an upsert."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.moved)

    def render(self) -> str:
        """One line per changed unit, for the command line."""
        lines = [f"+ org_unit/{key} (added)" for key in self.created]
        lines += [f"~ org_unit/{key} (changed)" for key in self.updated]
        lines += [f"~ org_unit/{key} (moved)" for key in self.moved]
        return "\n".join(lines) if lines else "no changes"


def units_by_key(connection: Connection, tenant_id: int) -> dict[str, UnitRow]:
    """Every org unit of the tenant by key."""
    rows = connection.execute(
        select(
            OrgUnit.id,
            OrgUnit.key,
            OrgUnit.name,
            OrgUnit.kind,
            OrgUnit.parent_id,
            OrgUnit.path,
            OrgUnit.depth,
            OrgUnit.active,
            OrgUnit.legal_entity,
        ).where(OrgUnit.tenant_id == tenant_id)
    ).all()
    key_of = {row.id: row.key for row in rows}
    return {
        row.key: UnitRow(
            id=row.id,
            key=row.key,
            name=row.name,
            kind=row.kind,
            parent_id=row.parent_id,
            parent_key=key_of.get(row.parent_id) if row.parent_id is not None else None,
            path=row.path,
            depth=row.depth,
            active=row.active,
            legal_entity=row.legal_entity,
        )
        for row in rows
    }


def parents_by_key(connection: Connection, tenant_id: int) -> dict[str, str | None]:
    """Each unit key of the tenant mapped to its parent's key (None for a root)."""
    return {key: unit.parent_key for key, unit in units_by_key(connection, tenant_id).items()}


def kinds_by_key(connection: Connection, tenant_id: int) -> dict[str, str]:
    """Each unit key of the tenant mapped to its unit kind."""
    return {key: unit.kind for key, unit in units_by_key(connection, tenant_id).items()}


def parents_first(keys: Sequence[str], parents: Mapping[str, str | None]) -> list[str]:
    """`keys` reordered as little as possible so that every parent in `keys` comes first.

    Keys already in order keep it, which makes a bundle's unit order survive an
    import and an export. Keys caught in a cycle are left out.
    """
    wanted = set(keys)
    ordered: list[str] = []
    done: set[str] = set()
    cyclic = _keys_in_cycles({key: parents.get(key) for key in keys})
    for key in keys:
        pending: list[str] = []
        current: str | None = key
        while current is not None and current in wanted and current not in done:
            if current in cyclic:
                pending = []
                break
            pending.append(current)
            current = parents.get(current)
        for ancestor in reversed(pending):
            done.add(ancestor)
            ordered.append(ancestor)
    return ordered


def plan_units(
    existing: Mapping[str, UnitRow], units: Sequence[Mapping[str, Any]]
) -> tuple[UnitChanges, list[Problem]]:
    """What upserting `units` onto `existing` would change, and why it cannot (parent, cycle).

    Units not in `units` keep their place; removing a unit is a structural
    operation of `runtime.org`, never a side effect of an upsert.
    """
    problems: list[Problem] = []
    parents: dict[str, str | None] = {key: unit.parent_key for key, unit in existing.items()}
    for unit in units:
        parents[unit["key"]] = unit.get("parent")
    for index, unit in enumerate(units):
        parent = unit.get("parent")
        if parent is not None and parent not in parents:
            problems.append(
                Problem(
                    f"/units/{index}/parent",
                    "org.unknown_parent",
                    f"unit {unit['key']!r} names parent {parent!r}, which is neither in the "
                    "bundle nor in the tenant; add the parent unit or correct the key",
                    "org_units.json",
                )
            )
    cyclic = _keys_in_cycles(parents)
    for index, unit in enumerate(units):
        if unit["key"] in cyclic:
            problems.append(
                Problem(
                    f"/units/{index}/parent",
                    "org.cycle",
                    f"unit {unit['key']!r} would become its own ancestor; give it a parent "
                    "outside its own subtree",
                    "org_units.json",
                )
            )
    created, updated, moved = [], [], []
    for unit in units:
        current = existing.get(unit["key"])
        if current is None:
            created.append(unit["key"])
            continue
        if current.parent_key != unit.get("parent"):
            moved.append(unit["key"])
        if _attributes(unit) != _attributes(current.as_document()):
            updated.append(unit["key"])
    return UnitChanges(tuple(created), tuple(updated), tuple(moved)), problems


def upsert_units(
    connection: Connection, tenant_id: int, units: Sequence[Mapping[str, Any]]
) -> UnitChanges:
    """Create or update org units by key (items of ``org_units.json``) inside `connection`.

    Raises ConfigurationInvalid, before writing anything, when a parent is unknown
    or the result would contain a cycle.
    """
    existing = units_by_key(connection, tenant_id)
    changes, problems = plan_units(existing, units)
    if problems:
        raise ConfigurationInvalid(problems, "the org units cannot be applied")
    incoming = {unit["key"]: unit for unit in units}
    parents = {key: row.parent_key for key, row in existing.items()}
    parents.update({key: unit.get("parent") for key, unit in incoming.items()})
    ids = {key: row.id for key, row in existing.items()}
    created, moved, updated = set(changes.created), set(changes.moved), set(changes.updated)
    for key in parents_first([unit["key"] for unit in units], parents):
        unit = incoming[key]
        parent = parents[key]
        parent_id = ids[parent] if parent is not None else None
        if key in created:
            ids[key] = _insert_unit(connection, tenant_id, unit, parent_id)
            continue
        if key in updated:
            connection.execute(
                update(OrgUnit).where(OrgUnit.id == ids[key]).values(**_attributes(unit))
            )
        if key in moved:
            connection.execute(
                update(OrgUnit).where(OrgUnit.id == ids[key]).values(parent_id=parent_id)
            )
            rebuild_closure_for_subtree(connection, tenant_id, ids[key])
    return changes


def rebuild_closure_for_subtree(connection: Connection, tenant_id: int, unit_id: int) -> None:
    """Recompute path, depth and closure rows of a unit and everything below it.

    Call after changing the unit's `parent_id`; the parent's own path must be right.
    """
    rows = connection.execute(
        select(OrgUnit.id, OrgUnit.parent_id, OrgUnit.path, OrgUnit.depth).where(
            OrgUnit.tenant_id == tenant_id
        )
    ).all()
    by_id = {row.id: row for row in rows}
    children: dict[int, list[int]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row.id)
    top = by_id[unit_id]
    parent = by_id.get(top.parent_id) if top.parent_id is not None else None
    paths: dict[int, tuple[str, int]] = {}
    stack = [(unit_id, parent.path if parent else "/", parent.depth + 1 if parent else 0)]
    while stack:
        current, parent_path, depth = stack.pop()
        path = f"{parent_path}{current}/"
        paths[current] = (path, depth)
        stack.extend((child, path, depth + 1) for child in children.get(current, []))
    for current, (path, depth) in paths.items():
        if (by_id[current].path, by_id[current].depth) != (path, depth):
            connection.execute(
                update(OrgUnit).where(OrgUnit.id == current).values(path=path, depth=depth)
            )
    subtree = list(paths)
    for start in range(0, len(subtree), _CHUNK):
        chunk = subtree[start : start + _CHUNK]
        connection.execute(delete(OrgUnitClosure).where(OrgUnitClosure.descendant_id.in_(chunk)))
    _insert_closure(connection, tenant_id, ((unit, path) for unit, (path, _) in paths.items()))


def _insert_unit(
    connection: Connection, tenant_id: int, unit: Mapping[str, Any], parent_id: int | None
) -> int:
    parent_path, parent_depth = "/", -1
    if parent_id is not None:
        parent_row = connection.execute(
            select(OrgUnit.path, OrgUnit.depth).where(OrgUnit.id == parent_id)
        ).one()
        parent_path, parent_depth = parent_row.path, parent_row.depth
    result = connection.execute(
        insert(OrgUnit).values(
            tenant_id=tenant_id,
            key=unit["key"],
            parent_id=parent_id,
            path=parent_path,
            depth=parent_depth + 1,
            **_attributes(unit),
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None  # an INSERT of one row always reports its key
    unit_id = int(primary_key[0])
    path = f"{parent_path}{unit_id}/"
    connection.execute(update(OrgUnit).where(OrgUnit.id == unit_id).values(path=path))
    _insert_closure(connection, tenant_id, [(unit_id, path)])
    return unit_id


def _insert_closure(
    connection: Connection, tenant_id: int, unit_paths: Iterable[tuple[int, str]]
) -> None:
    rows: list[dict[str, int]] = []
    for unit_id, path in unit_paths:
        ancestors = [int(part) for part in path.strip("/").split("/")]
        rows.extend(
            {
                "ancestor_id": ancestor,
                "descendant_id": unit_id,
                "tenant_id": tenant_id,
                "depth": len(ancestors) - 1 - position,
            }
            for position, ancestor in enumerate(ancestors)
        )
    if rows:
        connection.execute(insert(OrgUnitClosure), rows)


def _attributes(unit: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": dict(unit["name"]),
        "kind": unit["kind"],
        "active": bool(unit.get("active", True)),
        "legal_entity": bool(unit.get("legal_entity", False)),
    }


def _keys_in_cycles(parents: Mapping[str, str | None]) -> set[str]:
    cyclic: set[str] = set()
    for start in parents:
        seen: list[str] = []
        current: str | None = start
        while current is not None and current in parents and current not in seen:
            seen.append(current)
            current = parents[current]
        if current is not None and current in seen:
            cyclic.update(seen[seen.index(current) :])
    return cyclic
