"""Record events: published after COMMIT only; a failing handler never breaks the write."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from crm_platform.runtime.errors import RecordInvalid, StaleVersion
from crm_platform.runtime.events import EventBus, RecordEvent
from tests.runtime.records_world import DATABASES, World, open_world


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    shared_world.events.clear()
    return shared_world


def test_each_write_publishes_its_event_with_changed_fields(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A", "city": "X"})
    world.service.update(alice, "account", record["id"], {"city": "Y"}, 1)
    world.service.delete(alice, "account", record["id"])
    world.service.restore(alice, "account", record["id"])
    kinds = [(e.kind, e.changed) for e in world.events]
    assert kinds[0][0] == "created" and set(kinds[0][1]) >= {"name", "city"}
    assert kinds[1:] == [
        ("updated", ("city",)),
        ("deleted", ("deleted_at",)),
        ("restored", ("deleted_at",)),
    ]
    assert {(e.tenant_id, e.entity, e.record_id, e.actor_id) for e in world.events} == {
        (world.tenant.id, "account", record["id"], world.users["alice"])
    }


def test_events_come_after_commit_so_handlers_see_the_change(world: World):
    seen = []

    def handler(event: RecordEvent) -> None:
        table = world.service.tables.for_tenant(world.tenant, world.engine.dialect.name)["account"]
        with world.engine.connect() as other:
            seen.append(
                other.execute(select(table.c.name).where(table.c.id == event.record_id)).scalar()
            )

    unsubscribe = world.bus.subscribe("created", handler)
    try:
        world.service.create(world.principal("alice"), "account", {"name": "committed"})
    finally:
        unsubscribe()
    assert seen == ["committed"]


def test_rolled_back_writes_publish_nothing(world: World):
    alice = world.principal("alice")
    record = world.service.create(alice, "account", {"name": "A"})
    world.events.clear()
    with pytest.raises(StaleVersion):
        world.service.update(alice, "account", record["id"], {"name": "B"}, 9)
    with pytest.raises(RecordInvalid):
        world.service.create(alice, "account", {"level": "?"})
    assert world.events == []


def test_a_failing_handler_is_logged_and_the_write_stands(world: World, caplog):
    def broken(event: RecordEvent) -> None:
        raise RuntimeError("handler bug")

    unsubscribe = world.bus.subscribe(None, broken)
    try:
        with caplog.at_level(logging.ERROR, logger="crm_platform.runtime.events"):
            record = world.service.create(world.principal("alice"), "account", {"name": "A"})
    finally:
        unsubscribe()
    assert world.service.get(world.principal("alice"), "account", record["id"])["name"] == "A"
    assert "handler bug" in caplog.text
    assert [e.kind for e in world.events] == ["created"]


def test_subscribe_by_kind_and_unsubscribe():
    bus = EventBus()
    got: list[str] = []
    stop = bus.subscribe("deleted", lambda e: got.append(e.kind))
    bus.publish(RecordEvent("created", 1, "account", 1, (), None))
    bus.publish(RecordEvent("deleted", 1, "account", 1, (), None))
    stop()
    bus.publish(RecordEvent("deleted", 1, "account", 2, (), None))
    assert got == ["deleted"]
    assert not bus.wants("created")
    with pytest.raises(ValueError, match="unknown record event kind"):
        bus.subscribe("exploded", print)  # type: ignore[arg-type]
