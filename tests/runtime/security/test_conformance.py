"""Conformance with Dynamics 365's Basic / Local / Deep / Global access, cell by cell.

Dynamics documents the four depths for a user in a business unit: Basic (user)
reaches the records the user owns, Local (business unit) every record of the
user's unit, Deep (parent: child business units) the unit and every unit below
it, Global (organization) every record of the organization. Ours are own, unit,
unit_and_below and tenant, measured from the unit a role is assigned at (here
``mid``). Every (level, record position, privilege) is one test; a record the
user may not read is "not found", never "forbidden", so its existence never leaks.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_platform.runtime.errors import AccessDenied, RecordInvalid, RecordNotFound
from tests.runtime.security.world import LEVELS, SecurityWorld, ids_with, move_record_id

POSITIONS = ("owner", "same_unit", "child_unit", "sibling_unit", "parent_unit", "other_tenant")

REACH: dict[str, set[str]] = {
    "none": set(),
    "own": {"owner"},
    "unit": {"owner", "same_unit"},
    "unit_and_below": {"owner", "same_unit", "child_unit"},
    "tenant": {"owner", "same_unit", "child_unit", "sibling_unit", "parent_unit"},
}
"""Level -> the record positions it reaches (Dynamics: Basic, Local, Deep, Global)."""

UNIT_OF = {
    "owner": "mid",
    "same_unit": "mid",
    "child_unit": "child",
    "sibling_unit": "sibling",
    "parent_unit": "parent",
}

CREATE_REACH: dict[str, set[str]] = {
    "none": set(),
    "own": {"mid"},
    "unit": {"mid"},
    "unit_and_below": {"mid", "child"},
    "tenant": {"mid", "child", "sibling", "parent"},
}
"""Level -> the units a user holding the role at ``mid`` may create in or move records to."""

_far_ids = iter(range(900_000, 10**9))


@pytest.fixture(scope="module")
def cast(world: SecurityWorld) -> SecurityWorld:
    """One user per level, each holding ``all_<level>`` at ``mid``, and a bystander."""
    for level in LEVELS:
        world.add_user(f"lvl_{level}", "mid", [(f"all_{level}", "mid")])
    world.add_user("bystander", "mid")
    world.add_user("beta_user", "beta_root", tenant=world.other_tenant)
    return world


def place(world: SecurityWorld, position: str, user: str) -> int:
    """A new account at `position` relative to `user`; its id."""
    if position == "other_tenant":
        record = world.service.create(
            world.system(world.other_tenant),
            "account",
            {"name": "Beta's", "owning_unit_id": world.units["beta_root"]},
        )
        far = next(_far_ids)
        move_record_id(world, world.other_tenant, "account", record["id"], far)
        return far
    owner = user if position == "owner" else "bystander"
    return int(world.account(UNIT_OF[position], owner)["id"])


def attempt(world: SecurityWorld, user: str, privilege: str, record_id: int) -> bool:
    """Try `privilege` on the record through the record service: True if it went through."""
    service = world.service
    principal = world.principal(user)
    try:
        if privilege == "read":
            service.get(principal, "account", record_id)
        elif privilege == "update":
            version = _version(world, record_id)
            service.update(principal, "account", record_id, {"name": "Changed"}, version)
        elif privilege == "delete":
            service.delete(principal, "account", record_id)
        elif privilege == "export":
            return record_id in ids_with(world.service, principal, "account", "export")
    except RecordNotFound:
        return False
    return True


def _version(world: SecurityWorld, record_id: int) -> Any:
    try:
        return world.current("account", record_id)["version"]
    except RecordNotFound:
        return 1


@pytest.mark.parametrize("privilege", ["read", "update", "delete", "export"])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("level", LEVELS)
def test_access_level_reaches_exactly_its_records(cast, level, position, privilege):
    user = f"lvl_{level}"
    record_id = place(cast, position, user)
    assert attempt(cast, user, privilege, record_id) is (position in REACH[level])


@pytest.mark.parametrize("target", ["mid", "child", "sibling", "parent", "beta_root"])
@pytest.mark.parametrize("level", LEVELS)
def test_create_level_decides_the_owning_units_allowed(cast, level, target):
    principal = cast.principal(f"lvl_{level}")
    values = {"name": "New", "owning_unit_id": cast.units[target]}
    allowed = target in CREATE_REACH[level]
    if allowed:
        created = cast.service.create(principal, "account", values)
        assert created["owning_unit_id"] == cast.units[target]
    else:
        with pytest.raises((RecordInvalid, AccessDenied)) as refused:
            cast.service.create(principal, "account", values)
        if isinstance(refused.value, RecordInvalid):
            assert "owning_unit_id" in refused.value.errors


@pytest.mark.parametrize("target", ["child", "sibling", "parent", "beta_root"])
@pytest.mark.parametrize("level", ["own", "unit", "unit_and_below", "tenant"])
def test_moving_a_record_needs_assign_at_the_target_unit(cast, level, target):
    user = f"lvl_{level}"
    record_id = place(cast, "owner", user)
    principal = cast.principal(user)
    version = _version(cast, record_id)
    change = {"owning_unit_id": cast.units[target]}
    # Moving needs assign at the target and the record still in the update scope after.
    allowed = target in CREATE_REACH[level] and (level in ("own", "tenant") or target == "child")
    if allowed:
        moved = cast.service.update(principal, "account", record_id, change, version)
        assert moved["owning_unit_id"] == cast.units[target]
    else:
        with pytest.raises((RecordInvalid, AccessDenied)):
            cast.service.update(principal, "account", record_id, change, version)
        assert cast.current("account", record_id)["owning_unit_id"] == cast.units["mid"]


def test_giving_a_record_away_out_of_ones_update_scope_is_refused(cast):
    cast.add_user("giver", "mid", [("assigner", "mid")])
    record_id = place(cast, "owner", "giver")
    version = _version(cast, record_id)
    away = {"owning_unit_id": cast.units["sibling"], "owner_user_id": cast.users["bystander"]}
    with pytest.raises(AccessDenied):
        cast.service.update(cast.principal("giver"), "account", record_id, away, version)
    kept = cast.current("account", record_id)
    assert kept["owner_user_id"] == cast.users["giver"]
    assert kept["owning_unit_id"] == cast.units["mid"]


def test_moving_ones_own_record_with_assign_anywhere_keeps_it_in_scope(cast):
    cast.add_user("mover", "mid", [("assigner", "mid")])
    record_id = place(cast, "owner", "mover")
    version = _version(cast, record_id)
    change = {"owning_unit_id": cast.units["sibling"]}
    moved = cast.service.update(cast.principal("mover"), "account", record_id, change, version)
    assert moved["owning_unit_id"] == cast.units["sibling"]


# -- unit-bound assignments ------------------------------------------------------------------------

ASSIGNMENT_CASES = [
    # (roles held, {position: visible})
    (
        [("all_unit_and_below", "child")],
        {"owner": False, "same_unit": False, "child_unit": True, "parent_unit": False},
    ),
    (
        [("all_unit", "sibling")],
        {"owner": False, "same_unit": False, "sibling_unit": True, "child_unit": False},
    ),
    (
        [("all_own", "mid"), ("all_unit", "sibling")],
        {"owner": True, "same_unit": False, "sibling_unit": True, "child_unit": False},
    ),
    (
        [("all_unit", "mid"), ("all_unit_and_below", "parent")],
        {"same_unit": True, "child_unit": True, "sibling_unit": True, "other_tenant": False},
    ),
    (
        [("all_unit_and_below", "far")],
        {"owner": False, "same_unit": False, "parent_unit": False, "sibling_unit": False},
    ),
    (
        [("all_none", "root"), ("all_unit", "parent")],
        {"parent_unit": True, "owner": False, "child_unit": False},
    ),
]


@pytest.mark.parametrize(
    ("case", "position"),
    [(i, position) for i, (_, cells) in enumerate(ASSIGNMENT_CASES) for position in cells],
)
def test_levels_are_measured_from_each_assignment_unit_and_add_up(cast, case, position):
    roles, cells = ASSIGNMENT_CASES[case]
    user = f"matrix_{case}_{position}"
    cast.add_user(user, "mid", roles)
    record_id = place(cast, position, user)
    assert attempt(cast, user, "read", record_id) is cells[position]


@pytest.mark.parametrize(
    ("member_of", "level", "visible"),
    [
        ("squad", "own", True),
        ("crew", "own", False),
        ("squad", "none", False),
        ("child", "own", False),
    ],
)
def test_records_of_a_users_team_count_as_their_own(cast, member_of, level, visible):
    user = f"team_{member_of}_{level}"
    cast.add_user(user, "mid", [(f"all_{level}", "mid")], memberships=[member_of])
    record_id = int(cast.account("squad", "bystander")["id"])
    assert attempt(cast, user, "read", record_id) is visible
