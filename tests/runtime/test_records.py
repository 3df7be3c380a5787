"""The record service: create, get, update, delete, restore, validation and tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from crm_platform.runtime.errors import (
    AccessDenied,
    RecordInvalid,
    RecordNotFound,
    StaleVersion,
)
from tests.runtime.records_world import DATABASES, World, next_uscc, open_world, tag


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    shared_world.events.clear()
    return shared_world


def test_create_sets_owner_unit_and_version(world: World):
    alice = world.principal("alice")
    record = world.service.create(
        alice, "account", {"name": "华辰", "revenue": {"amount": "12.5", "currency": "CNY"}}
    )
    assert record["owner_user_id"] == world.users["alice"]
    assert record["owning_unit_id"] == world.units["bu"]
    assert record["version"] == 1
    assert record["created_by"] == world.users["alice"]
    assert record["revenue"] == {"amount": Decimal("12.50"), "currency": "CNY"}
    assert record["created_at"].tzinfo is not None
    assert world.service.get(alice, "account", record["id"])["name"] == "华辰"


def test_create_in_a_child_unit_is_allowed(world: World):
    record = world.service.create(
        world.principal("alice"), "account", {"name": "A", "owning_unit_id": world.units["team"]}
    )
    assert record["owning_unit_id"] == world.units["team"]


def test_create_outside_own_subtree_is_refused_on_the_unit(world: World):
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(
            world.principal("alice"), "account", {"name": "A", "owning_unit_id": world.units["sib"]}
        )
    assert list(caught.value.errors) == ["owning_unit_id"]


def test_every_field_problem_is_reported_at_once(world: World):
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(
            world.principal("alice"),
            "account",
            {"city": "x", "level": "zzz", "employees": -1, "nonsense": 1, "version": 7},
        )
    assert set(caught.value.errors) == {"name", "level", "employees", "nonsense", "version"}
    assert caught.value.errors["nonsense"] == ["There is no such field on this record."]
    assert caught.value.errors["version"] == ["This value is kept by the system and cannot be set."]


def test_service_messages_follow_the_principal_locale(world: World):
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(world.principal("alice", "zh-Hans"), "account", {"name": "A", "x": 1})
    assert caught.value.errors["x"] == ["此记录没有这个字段。"]


def test_reference_must_name_an_existing_record(world: World):
    alice = world.principal("alice")
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(alice, "contact", {"name": "C", "account": 10**9})
    assert caught.value.errors == {
        "account": ["The linked record does not exist or was deleted; choose another."]
    }


def test_reference_to_a_deleted_record_is_refused(world: World):
    alice = world.principal("alice")
    account = world.service.create(alice, "account", {"name": "A"})
    world.service.delete(alice, "account", account["id"])
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(alice, "contact", {"name": "C", "account": account["id"]})
    assert "account" in caught.value.errors


def test_owner_must_be_a_user_of_the_tenant(world: World):
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(
            world.principal("alice"),
            "account",
            {"name": "A", "owner_user_id": world.users["carol"]},
        )
    assert caught.value.errors["owner_user_id"] == [
        "This user does not exist in your organisation; choose another."
    ]


def test_unique_value_taken_is_reported_on_the_field(world: World):
    code = next_uscc()
    alice = world.principal("alice")
    world.service.create(alice, "account", {"name": "A", "uscc": code})
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(alice, "account", {"name": "B", "uscc": code})
    assert caught.value.errors == {
        "uscc": ["Another record already has this value; it must be unique."]
    }


def test_unique_applies_to_live_records_and_restore_rechecks(world: World):
    code = next_uscc()
    alice = world.principal("alice")
    first = world.service.create(alice, "account", {"name": "A", "uscc": code})
    world.service.delete(alice, "account", first["id"])
    world.service.create(alice, "account", {"name": "B", "uscc": code})
    with pytest.raises(RecordInvalid) as caught:
        world.service.restore(alice, "account", first["id"])
    assert list(caught.value.errors) == ["uscc"]


def test_unique_is_per_tenant(world: World):
    code = next_uscc()
    world.service.create(world.principal("alice"), "account", {"name": "A", "uscc": code})
    created = world.service.create(world.principal("carol"), "account", {"name": "A", "uscc": code})
    assert created["uscc"] == code


def test_update_is_partial_and_bumps_the_version(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A", "city": "Xiamen"})
    updated = world.service.update(alice, "account", record["id"], {"name": "B"}, 1)
    assert (updated["name"], updated["city"], updated["version"]) == ("B", "Xiamen", 2)
    assert updated["updated_by"] == world.users["alice"]


def test_stale_version_carries_the_current_values_and_writes_nothing(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    world.service.update(alice, "account", record["id"], {"name": "B"}, 1)
    with pytest.raises(StaleVersion) as caught:
        world.service.update(alice, "account", record["id"], {"name": "C"}, 1)
    assert caught.value.current["name"] == "B"
    assert caught.value.current["version"] == 2
    assert world.service.get(alice, "account", record["id"])["name"] == "B"


def test_update_validates_changes_and_unique(world: World):
    code, code_2 = next_uscc(), next_uscc()
    alice = world.principal("alice")
    world.service.create(alice, "account", {"name": "A", "uscc": code})
    other = world.service.create(alice, "account", {"name": "B", "uscc": code_2})
    with pytest.raises(RecordInvalid) as caught:
        world.service.update(alice, "account", other["id"], {"name": None, "uscc": code}, 1)
    assert set(caught.value.errors) == {"name", "uscc"}


def test_keeping_a_unique_value_is_not_a_conflict_with_itself(world: World):
    code = next_uscc()
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A", "uscc": code})
    updated = world.service.update(alice, "account", record["id"], {"uscc": code, "city": "X"}, 1)
    assert updated["city"] == "X"


def test_moving_a_record_out_of_scope_is_refused(world: World):
    tom = world.principal("tom")
    record = world.service.create(tom, "account", {"name": "A"})
    with pytest.raises(RecordInvalid) as caught:
        world.service.update(tom, "account", record["id"], {"owning_unit_id": world.units["bu"]}, 1)
    assert list(caught.value.errors) == ["owning_unit_id"]


def test_delete_hides_the_record_and_restore_brings_it_back(world: World):
    alice = world.principal("alice")
    city = tag()
    record = world.service.create(alice, "account", {"name": "A", "city": city})
    world.service.delete(alice, "account", record["id"])
    with pytest.raises(RecordNotFound):
        world.service.get(alice, "account", record["id"])
    only_city = {"field": "city", "op": "eq", "value": city}
    assert world.service.list(alice, "account", filter=only_city).rows == []
    restored = world.service.restore(alice, "account", record["id"])
    assert restored["deleted_at"] is None
    assert restored["version"] == 3
    assert world.service.get(alice, "account", record["id"])["name"] == "A"


def test_deleting_twice_is_not_found(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    world.service.delete(alice, "account", record["id"])
    with pytest.raises(RecordNotFound):
        world.service.delete(alice, "account", record["id"])


def test_forged_id_from_another_tenant_is_not_found(world: World):
    city = tag()
    alice = world.principal("alice")
    newest_of_ours = world.service.create(alice, "account", {"name": "A"})["id"]
    carol = world.principal("carol")
    theirs = world.service.create(carol, "account", {"name": "B", "city": city})
    if theirs["id"] <= newest_of_ours:  # make the forged id one that no acme record has
        rows = [{"name": "B", "city": city}] * (newest_of_ours - theirs["id"] + 1)
        theirs = {"id": world.service.bulk_create(carol, "account", rows).ids[-1]}
    only_city = {"field": "city", "op": "eq", "value": city}
    assert not world.service.list(alice, "account", filter=only_city).rows
    for call in (
        lambda: world.service.get(alice, "account", theirs["id"]),
        lambda: world.service.update(alice, "account", theirs["id"], {"name": "x"}, 1),
        lambda: world.service.delete(alice, "account", theirs["id"]),
        lambda: world.service.history(alice, "account", theirs["id"]),
    ):
        with pytest.raises(RecordNotFound):
            call()


def test_sibling_unit_cannot_see_or_change_a_record(world: World):
    record = world.service.create(world.principal("alice"), "account", {"name": "A"})
    sam = world.principal("sam")
    with pytest.raises(RecordNotFound):
        world.service.get(sam, "account", record["id"])
    with pytest.raises(RecordNotFound):
        world.service.update(sam, "account", record["id"], {"name": "x"}, 1)


def test_master_data_is_readable_but_changed_only_by_the_system(world: World):
    product = world.service.create(world.system(), "product", {"name": "Lathe", "code": "L1"})
    sam = world.principal("sam")
    assert world.service.get(sam, "product", product["id"])["name"] == "Lathe"
    with pytest.raises(AccessDenied):
        world.service.update(sam, "product", product["id"], {"name": "x"}, 1)
    with pytest.raises(AccessDenied):
        world.service.create(sam, "product", {"name": "Drill"})


def test_system_access_is_audited(world: World):
    from sqlalchemy import select

    from crm_platform.runtime.audit import AUDIT

    world.service.create(world.system(), "product", {"name": "Lathe"})
    with world.engine.connect() as connection:
        actions = connection.execute(
            select(AUDIT.c.action, AUDIT.c.changes).where(AUDIT.c.entity == "product")
        ).all()
    assert ("system_access", {"reason": [None, "test fixture"]}) in [tuple(a) for a in actions]


def test_non_numeric_id_is_not_found(world: World):
    with pytest.raises(RecordNotFound):
        world.service.get(world.principal("alice"), "account", "1 OR 1=1")


def test_a_unique_violation_caught_by_the_database_names_the_field(world: World, monkeypatch):
    # Two writers racing past the pre-check: only the database's unique index sees it.
    monkeypatch.setattr("crm_platform.runtime.records.check_unique", lambda *a, **k: None)
    code = next_uscc()
    alice = world.principal("alice")
    first = world.service.create(alice, "account", {"name": "A", "uscc": code})
    expected = {"uscc": ["Another record already has this value; it must be unique."]}
    with pytest.raises(RecordInvalid) as single:
        world.service.create(alice, "account", {"name": "B", "uscc": code})
    assert single.value.errors == expected
    with pytest.raises(RecordInvalid) as bulk:
        world.service.bulk_create(alice, "account", [{"name": "C", "uscc": code}])
    assert bulk.value.errors == expected
    other = world.service.create(alice, "account", {"name": "D"})
    with pytest.raises(RecordInvalid) as update:
        world.service.update(alice, "account", other["id"], {"uscc": code}, 1)
    assert update.value.errors == expected
    assert world.service.get(alice, "account", first["id"])["uscc"] == code


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 41),
        ("name", "   "),
        ("uscc", "91350100M000100Y44"),
        ("revenue", "-1"),
        ("revenue", "lots"),
        ("level", "zzz"),
        ("employees", 2_000_000),
        ("employees", "many"),
        ("email", "not-an-email"),
        ("parent", "abc"),
    ],
)
def test_each_value_rule_fails_through_the_service_in_the_user_language(world, field, value):
    from crm_platform.runtime.values import validate_values

    definition = world.store.effective(world.tenant.key, "bu").entity("account").field(field)
    _, alone = validate_values([definition], {field: value}, "zh-Hans", partial=True)
    principal = world.principal("alice", "zh-Hans")
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(principal, "account", {"name": "ok", field: value})
    assert caught.value.errors == {field: alone[field]}
    assert all(message.strip() for message in alone[field])


def test_concurrent_writers_all_succeed(world: World):
    from concurrent.futures import ThreadPoolExecutor

    city = tag()
    alice = world.principal("alice")

    def write(n: int) -> int:
        record = world.service.create(alice, "account", {"name": f"w{n}", "city": city})
        world.service.update(alice, "account", record["id"], {"name": f"w{n}!"}, 1)
        return record["id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(write, range(24)))
    only_city = {"field": "city", "op": "eq", "value": city}
    assert len(set(ids)) == 24
    assert world.service.count(alice, "account", filter=only_city).value == 24
