"""Org units by key: path, depth and the closure table stay in step through creates and moves."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, select

from crm_platform.metadata.errors import ConfigurationInvalid
from crm_platform.metadata.org_tree import (
    parents_by_key,
    parents_first,
    units_by_key,
    upsert_units,
)
from crm_platform.metadata.tables import OrgUnitClosure
from tests.metadata.store_configs import UNITS, en, make_tenant


def _closure(connection: Connection, tenant_id: int) -> set[tuple[str, str, int]]:
    keys = {unit.id: key for key, unit in units_by_key(connection, tenant_id).items()}
    rows = connection.execute(
        select(OrgUnitClosure.ancestor_id, OrgUnitClosure.descendant_id, OrgUnitClosure.depth)
        .where(OrgUnitClosure.tenant_id == tenant_id)
    ).all()  # fmt: skip
    return {(keys[a], keys[d], depth) for a, d, depth in rows}


def _expected_closure(parents: dict[str, str | None]) -> set[tuple[str, str, int]]:
    pairs = set()
    for key in parents:
        current: str | None = key
        depth = 0
        while current is not None:
            pairs.add((current, key, depth))
            current, depth = parents[current], depth + 1
    return pairs


def test_created_units_get_paths_depths_and_every_closure_pair(engine: Engine) -> None:
    tenant_id = make_tenant(engine)
    with engine.connect() as connection:
        units = units_by_key(connection, tenant_id)
        parents = parents_by_key(connection, tenant_id)
        closure = _closure(connection, tenant_id)
    shanghai = units["br_shanghai"]
    assert shanghai.path == f"/{units['group'].id}/{units['bu_east'].id}/{shanghai.id}/"
    assert (units["group"].depth, units["bu_east"].depth, shanghai.depth) == (0, 1, 2)
    assert parents == {u["key"]: u["parent"] for u in UNITS}
    assert closure == _expected_closure(parents)


def test_moving_a_unit_rewrites_its_subtree_and_reports_the_changes(engine: Engine) -> None:
    tenant_id = make_tenant(engine)
    team = {"key": "team_a", "name": en("Team A"), "kind": "team", "parent": "br_shanghai"}
    moved = {**UNITS[2], "parent": "bu_west", "name": en("Shanghai branch")}
    with engine.begin() as connection:
        upsert_units(connection, tenant_id, [team])
        changes = upsert_units(connection, tenant_id, [moved, team])
        units = units_by_key(connection, tenant_id)
        parents = parents_by_key(connection, tenant_id)
        closure = _closure(connection, tenant_id)
    assert (changes.created, changes.updated, changes.moved) == ((), ("br_shanghai",),
                                                                 ("br_shanghai",))  # fmt: skip
    assert units["team_a"].path == (
        f"/{units['group'].id}/{units['bu_west'].id}/{units['br_shanghai'].id}/"
        f"{units['team_a'].id}/"
    )
    assert units["team_a"].depth == 3
    assert closure == _expected_closure(parents)
    assert ("bu_east", "team_a", 2) not in closure


def test_upsert_of_unchanged_units_changes_nothing(engine: Engine) -> None:
    tenant_id = make_tenant(engine)
    with engine.begin() as connection:
        changes = upsert_units(connection, tenant_id, UNITS)
    assert not changes


def test_a_move_into_its_own_subtree_is_refused(engine: Engine) -> None:
    tenant_id = make_tenant(engine)
    with engine.begin() as connection, pytest.raises(ConfigurationInvalid) as refused:
        upsert_units(connection, tenant_id, [{**UNITS[1], "parent": "br_shanghai"}])
    assert {p.code for p in refused.value.problems} == {"org.cycle"}


def test_parents_first_keeps_the_given_order_where_it_can() -> None:
    parents = {"a": None, "c": "b", "b": "a", "d": "a"}
    assert parents_first(["a", "c", "b", "d"], parents) == ["a", "b", "c", "d"]
    assert parents_first(["d", "a"], parents) == ["a", "d"]
