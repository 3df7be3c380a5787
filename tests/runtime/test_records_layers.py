"""The record service applies the configuration layers of the unit a principal works at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime.errors import RecordInvalid
from crm_platform.runtime.migrations import MigrationHook
from crm_platform.runtime.org import move_unit
from tests.runtime.records_world import DATABASES, World, open_world, tag

BU_EXTENSION = {
    "kind": "entity_extension",
    "key": "account_bu",
    "entity": "account",
    "fields": [{"key": "bu_code", "label": {"en": "BU code"}, "type": "text"}],
}


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    for built in open_world(request, tmp_path_factory):
        # BU's own layer adds a field; publishing through the migration hook adds its column.
        MetadataStore(built.engine, hooks=[MigrationHook(built.engine)]).publish(
            built.tenant.key, "bu", "test", documents=[BU_EXTENSION]
        )
        yield built


def test_a_moved_unit_gets_its_new_ancestors_layers_without_a_publish(world: World):
    tom = world.principal("tom")  # works at `team`, under `bu`
    made = world.service.create(tom, "account", {"name": tag(), "bu_code": "E-1"})
    assert made["bu_code"] == "E-1"
    with world.engine.begin() as connection:
        move_unit(connection, world.tenant.id, world.units["team"], world.units["sib"])
    # The same process, its caches warm: the team is under `sib` now, outside BU's layer.
    with pytest.raises(RecordInvalid) as caught:
        world.service.create(tom, "account", {"name": tag(), "bu_code": "E-2"})
    assert set(caught.value.errors) == {"bu_code"}
