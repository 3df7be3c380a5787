"""Deleting a referenced record follows each reference field's on_delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from tests.runtime.records_world import DATABASES, World, open_world


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    shared_world.events.clear()
    return shared_world


def test_restrict_refuses_to_delete_a_record_still_referenced(world: World):
    alice = world.principal("alice")
    account = world.service.create(alice, "account", {"name": "A"})
    contact = world.service.create(alice, "contact", {"name": "C", "account": account["id"]})
    with pytest.raises(InvalidOperation, match="still referenced by 1 contact"):
        world.service.delete(alice, "account", account["id"])
    assert world.service.get(alice, "account", account["id"])["deleted_at"] is None
    world.service.delete(alice, "contact", contact["id"])
    world.service.delete(alice, "account", account["id"])
    with pytest.raises(RecordNotFound):
        world.service.get(alice, "account", account["id"])


def test_set_null_empties_the_references_with_audit_and_events(world: World):
    alice = world.principal("alice")
    parent = world.service.create(alice, "account", {"name": "P"})
    child = world.service.create(alice, "account", {"name": "C", "parent": parent["id"]})
    world.events.clear()
    world.service.delete(alice, "account", parent["id"])
    after = world.service.get(alice, "account", child["id"])
    assert (after["parent"], after["version"]) == (None, 2)
    last = world.service.history(alice, "account", child["id"])[-1]
    assert last.changes == {"parent": (parent["id"], None)}
    assert [(e.kind, e.record_id) for e in world.events] == [
        ("updated", child["id"]),
        ("deleted", parent["id"]),
    ]


def test_cascade_deletes_the_referencing_records_too(world: World):
    alice = world.principal("alice")
    contact = world.service.create(alice, "contact", {"name": "C"})
    notes = [
        world.service.create(alice, "note", {"text": t, "contact": contact["id"]})["id"]
        for t in ("a", "b")
    ]
    world.service.delete(alice, "contact", contact["id"])
    for note in notes:
        with pytest.raises(RecordNotFound):
            world.service.get(alice, "note", note)
        assert world.service.history(alice, "note", note)[-1].action == "delete"
