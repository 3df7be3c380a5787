"""Bulk create for imports: all rows validated first, one bad row inserts nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_platform.runtime.errors import RecordInvalid
from tests.runtime.records_world import DATABASES, World, next_uscc, open_world, tag


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    shared_world.events.clear()
    return shared_world


def _count(world: World, city: str) -> int:
    only_city = {"field": "city", "op": "eq", "value": city}
    return world.service.count(world.principal("alice"), "account", filter=only_city).value


def test_bulk_create_inserts_every_row_in_order(world: World):
    city = tag()
    rows = [{"name": f"n{i}", "city": city, "uscc": next_uscc()} for i in range(2500)]
    result = world.service.bulk_create(world.principal("alice"), "account", rows)
    assert result.count == 2500
    assert result.ids == sorted(result.ids)
    assert _count(world, city) == 2500
    last = world.service.get(world.principal("alice"), "account", result.ids[-1])
    assert (last["name"], last["uscc"]) == ("n2499", rows[-1]["uscc"])


def test_one_bad_row_names_its_index_and_field_and_inserts_nothing(world: World):
    city = tag()
    rows = [
        {"name": "ok", "city": city},
        {"city": city},
        {"name": "ok", "city": city, "level": "?"},
    ]
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(world.principal("alice"), "account", rows)
    assert set(caught.value.errors) == {"/1/name", "/2/level"}
    assert _count(world, city) == 0
    assert world.events == []


def test_duplicate_unique_values_within_the_batch_are_reported(world: World):
    city, code = tag(), next_uscc()
    rows = [{"name": "a", "city": city, "uscc": code}, {"name": "b", "city": city, "uscc": code}]
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(world.principal("alice"), "account", rows)
    assert caught.value.errors == {"/1/uscc": ["Row 0 has the same value; it must be unique."]}
    assert _count(world, city) == 0


def test_bulk_rows_are_audited_and_announced(world: World):
    city = tag()
    alice = world.principal("alice")
    ids = world.service.bulk_create(alice, "account", [{"name": "a", "city": city}] * 3).ids
    history = world.service.history(alice, "account", ids[1])
    assert [entry.action for entry in history] == ["create"]
    assert history[0].changes["city"] == (None, city)
    assert [(e.kind, e.record_id) for e in world.events] == [("created", i) for i in ids]


def test_bulk_create_of_nothing_creates_nothing(world: World):
    assert world.service.bulk_create(world.principal("alice"), "account", []).ids == []


def test_rows_that_leave_out_different_optional_fields_are_all_inserted(world: World):
    city = tag()
    rows = [
        {"name": "with code", "city": city, "uscc": next_uscc()},
        {"name": "without code", "city": city},
        {"name": "with level", "city": city, "level": "a"},
    ]
    result = world.service.bulk_create(world.principal("alice"), "account", rows)
    stored = [world.service.get(world.principal("alice"), "account", i) for i in result.ids]
    assert [r["name"] for r in stored] == ["with code", "without code", "with level"]
    assert stored[1]["uscc"] is None and stored[0]["uscc"] == rows[0]["uscc"]


def test_problems_in_a_later_chunk_keep_their_row_index_and_roll_back_earlier_chunks(
    world: World,
):
    city = tag()
    rows = [{"name": f"n{i}", "city": city} for i in range(2300)]
    rows[2100] = {"city": city}
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(world.principal("alice"), "account", rows)
    assert set(caught.value.errors) == {"/2100/name"}
    assert _count(world, city) == 0
    assert world.events == []


def test_a_unique_value_repeated_across_chunks_is_reported_with_the_first_row(world: World):
    city, code = tag(), next_uscc()
    rows = [{"name": f"n{i}", "city": city} for i in range(1500)]
    rows[3]["uscc"] = code
    rows[1400]["uscc"] = code
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(world.principal("alice"), "account", rows)
    assert caught.value.errors == {"/1400/uscc": ["Row 3 has the same value; it must be unique."]}
    assert _count(world, city) == 0


def test_the_system_principal_imports_records_with_their_own_timestamps(world: World):
    city = tag()
    made = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    changed = datetime(2023, 8, 9, 10, 11, 12, tzinfo=UTC)
    rows = [
        {"name": "legacy", "city": city, "created_at": made.isoformat(), "updated_at": changed},
        {"name": "only made", "city": city, "created_at": made},
        {"name": "fresh", "city": city},
    ]
    system = world.system()
    ids = world.service.bulk_create(system, "account", rows).ids
    stored = [world.service.get(system, "account", record_id) for record_id in ids]
    assert (stored[0]["created_at"], stored[0]["updated_at"]) == (made, changed)
    assert (stored[1]["created_at"], stored[1]["updated_at"]) == (made, made)
    assert stored[2]["created_at"] > changed
    # Newest first means by the imported times, not by when the import ran.
    listed = [r["id"] for r in world.service.list(system, "account", filter=_city(city)).rows]
    assert listed == [ids[2], ids[0], ids[1]]


def test_only_the_system_principal_may_set_timestamps_and_only_sensible_ones(world: World):
    city = tag()
    alice, system = world.principal("alice"), world.system()
    past = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(
            alice, "account", [{"name": "a", "city": city, "created_at": past}]
        )
    assert set(caught.value.errors) == {"/0/created_at"}
    rows = [
        {"name": "future", "city": city, "created_at": datetime.now(UTC) + timedelta(days=1)},
        {"name": "backwards", "city": city, "created_at": past, "updated_at": past - timedelta(1)},
        {"name": "naive", "city": city, "updated_at": "2020-01-01T00:00:00"},
    ]
    with pytest.raises(RecordInvalid) as caught:
        world.service.bulk_create(system, "account", rows)
    assert set(caught.value.errors) == {"/0/created_at", "/1/updated_at", "/2/updated_at"}
    assert _count(world, city) == 0


def _city(city: str) -> dict[str, str]:
    return {"field": "city", "op": "eq", "value": city}
