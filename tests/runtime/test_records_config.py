"""The record service follows a publish at once, even with a cached tenant state."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from tests.runtime.records_world import ACCOUNT, DATABASES, DOCUMENTS, World, open_world


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


def test_a_publish_is_seen_by_the_very_next_read(world: World):
    alice = world.principal("alice")
    world.service.create(alice, "account", {"name": "Acme", "city": "Zhangzhou"})
    assert world.service.count(alice, "account", search="Zhangzhou").value == 1
    assert world.service.list(alice, "account", search="Zhangzhou").rows

    narrowed = copy.deepcopy(ACCOUNT)
    narrowed["search_fields"] = ["name"]
    documents = [narrowed if doc is ACCOUNT else doc for doc in DOCUMENTS]
    world.store.publish(world.tenant.key, None, "test", documents=documents)

    assert world.service.count(alice, "account", search="Zhangzhou").value == 0
    assert world.service.list(alice, "account", search="Zhangzhou").rows == []
    assert world.service.count(alice, "account", search="Acme").value == 1


def test_a_database_failure_surfaces_as_a_platform_error_not_a_driver_one(world: World):
    from sqlalchemy import text

    from crm_platform.runtime.records import StorageFailure

    table = world.service.tables.for_tenant(world.tenant, world.engine.dialect.name)["note"]
    name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    with world.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {name}"))
    with pytest.raises(StorageFailure, match="could not read note records"):
        world.service.list(world.principal("alice"), "note")
