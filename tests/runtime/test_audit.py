"""The audit trail: every change appends field-level before/after in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_platform.runtime import audit
from crm_platform.runtime.errors import RecordInvalid, StaleVersion
from crm_platform.runtime.org import merge_units
from tests.runtime.records_world import DATABASES, World, open_world, tag


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


def test_history_records_each_change_with_before_and_after(world: World):
    alice = world.principal("alice")
    record = world.service.create(
        alice, "account", {"name": "A", "revenue": {"amount": Decimal("10"), "currency": "CNY"}}
    )
    world.service.update(alice, "account", record["id"], {"name": "B", "city": "Xiamen"}, 1)
    world.service.delete(alice, "account", record["id"])
    world.service.restore(alice, "account", record["id"])

    history = world.service.history(alice, "account", record["id"])

    assert [entry.action for entry in history] == ["create", "update", "delete", "restore"]
    before, after = history[0].changes["revenue"]
    assert before is None
    assert (Decimal(after["amount"]), after["currency"]) == (Decimal("10"), "CNY")
    assert history[1].changes == {"name": ("A", "B"), "city": (None, "Xiamen")}
    assert history[2].changes["deleted_at"][0] is None
    assert history[3].changes["deleted_at"][1] is None
    assert all(entry.actor_id == world.users["alice"] for entry in history)
    assert history[0].at <= history[-1].at


def test_a_failed_write_leaves_no_audit_entry(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    with pytest.raises(StaleVersion):
        world.service.update(alice, "account", record["id"], {"name": "B"}, 5)
    with pytest.raises(RecordInvalid):
        world.service.update(alice, "account", record["id"], {"level": "?"}, 1)
    assert [e.action for e in world.service.history(alice, "account", record["id"])] == ["create"]


def test_an_unchanged_update_writes_nothing(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    same = world.service.update(alice, "account", record["id"], {"name": "A"}, 1)
    assert same["version"] == 1
    assert len(world.service.history(alice, "account", record["id"])) == 1


def test_reassigning_the_owner_is_audited_as_an_ownership_change(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    world.service.update(alice, "account", record["id"], {"owner_user_id": world.users["tom"]}, 1)
    last = world.service.history(alice, "account", record["id"])[-1]
    assert last.action == "ownership"
    assert last.changes == {"owner_user_id": (world.users["alice"], world.users["tom"])}


def test_merging_units_moves_their_records_with_an_audit_entry_each(world: World):
    from crm_platform.runtime.org import create_unit

    system = world.system()
    with world.engine.begin() as connection:
        a = create_unit(connection, world.tenant.id, tag(), {"en": "A"}, "team", world.units["bu"])
        b = create_unit(connection, world.tenant.id, tag(), {"en": "B"}, "team", world.units["bu"])
    ids = world.service.bulk_create(
        system, "account", [{"name": "m", "owning_unit_id": a.id}] * 3
    ).ids
    with world.engine.begin() as connection:
        merge_units(connection, world.tenant.id, a.id, b.id, world.service.move_unit_records)
    moved = [world.service.get(system, "account", i) for i in ids]
    assert {(r["owning_unit_id"], r["version"]) for r in moved} == {(b.id, 2)}
    last = world.service.history(system, "account", ids[0])[-1]
    assert (last.action, last.changes) == ("ownership", {"owning_unit_id": (a.id, b.id)})


def test_audit_entries_are_only_ever_appended(world: World):
    alice = world.principal("alice")
    with world.engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(audit.AUDIT)).scalar_one()
    world.service.create(alice, "account", {"name": "A"})
    with world.engine.connect() as connection:
        after = connection.execute(select(func.count()).select_from(audit.AUDIT)).scalar_one()
    assert after == before + 1


def test_json_value_keeps_the_audit_trail_portable():
    from datetime import UTC, date, datetime

    assert audit.json_value(Decimal("1.50")) == "1.50"
    assert audit.json_value(date(2024, 1, 2)) == "2024-01-02"
    assert audit.json_value(datetime(2024, 1, 2, 3, 4, tzinfo=UTC)) == "2024-01-02T03:04:00+00:00"
    assert audit.json_value(("a", 1)) == ["a", 1]
