"""`describe`, `describe_record` and `can`: what a principal may do, answered by the policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.records import RecordService
from tests.runtime.profiled_policy import ProfiledPolicy
from tests.runtime.records_world import DATABASES, World, open_world, tag

ALL = {"create", "read", "update", "delete", "assign", "share", "export"}


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def read_only(world: World) -> RecordService:
    return world.with_policy(ProfiledPolicy({"city": "masked", "secret": "hidden"}, read_only=True))


def _account(world: World) -> int:
    values = {"name": tag(), "city": tag(), "owning_unit_id": world.units["bu"]}
    return world.service.create(world.system(), "account", values)["id"]


def test_unit_member_holds_every_privilege_on_a_user_owned_entity(world):
    caps = world.service.describe(world.principal("alice"), "account")
    assert caps.privileges == ALL
    assert caps.readable and caps.holds("create")
    assert caps.level("city") == "edit"
    assert "city" in caps.sortable


def test_master_data_is_read_and_exported_but_not_created_by_users(world):
    caps = world.service.describe(world.principal("alice"), "product")
    assert caps.privileges == {"read", "export"}
    assert not world.service.can(world.principal("alice"), "product", "create")


def test_read_only_principal_sees_field_levels_and_no_write_privileges(world, read_only):
    caps = read_only.describe(world.principal("alice"), "account")
    assert caps.privileges == {"read", "export"}
    assert caps.level("secret") == "hidden" and caps.level("city") == "masked"
    # Sorting by a masked field would reveal the order of its values.
    assert "city" not in caps.sortable and "secret" not in caps.sortable


def test_owner_unit_member_may_update_and_delete_the_record(world):
    record_id = _account(world)
    alice = world.principal("alice")
    caps = world.service.describe_record(alice, "account", record_id)
    assert {"read", "update", "delete"} <= caps.privileges
    assert world.service.can(alice, "account", "update", record_id)
    assert world.service.can(alice, "account", "delete", record_id)


def test_read_only_principal_may_read_but_not_update_or_delete_the_record(world, read_only):
    record_id = _account(world)
    alice = world.principal("alice")
    assert read_only.describe_record(alice, "account", record_id).privileges == {"read", "export"}
    assert read_only.can(alice, "account", "read", record_id)
    assert not read_only.can(alice, "account", "update", record_id)
    assert not read_only.can(alice, "account", "delete", record_id)


def test_sibling_unit_member_gets_not_found_and_no_privilege_on_the_record(world):
    record_id = _account(world)
    sam = world.principal("sam")
    with pytest.raises(RecordNotFound):
        world.service.describe_record(sam, "account", record_id)
    assert not world.service.can(sam, "account", "read", record_id)
    assert not world.service.can(sam, "account", "update", record_id)


def test_deleted_record_is_not_described(world):
    record_id = _account(world)
    world.service.delete(world.system(), "account", record_id)
    with pytest.raises(RecordNotFound):
        world.service.describe_record(world.principal("alice"), "account", record_id)


def test_unknown_privilege_and_create_on_a_record_are_refused(world):
    alice = world.principal("alice")
    with pytest.raises(InvalidOperation, match="unknown privilege 'approve'"):
        world.service.can(alice, "account", "approve")
    with pytest.raises(InvalidOperation, match="unknown privilege 'create'"):
        world.service.can(alice, "account", "create", _account(world))


def test_describe_all_answers_like_describe_for_each_entity(world, read_only):
    alice = world.principal("alice")
    for service in (world.service, read_only):
        together = service.describe_all(alice, ["account", "product"])
        assert together == {
            "account": service.describe(alice, "account"),
            "product": service.describe(alice, "product"),
        }
