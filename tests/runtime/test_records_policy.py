"""Field security through the AccessPolicy seam: hidden and masked fields, applied generically."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from crm_platform.metadata.conditions import ConditionError
from crm_platform.runtime.errors import InvalidOperation, RecordInvalid, StaleVersion
from crm_platform.runtime.policy import (
    FieldLevel,
    UnitSubtreePolicy,
)
from crm_platform.runtime.records import RecordService
from tests.runtime.profiled_policy import ProfiledPolicy
from tests.runtime.records_world import DATABASES, World, next_uscc, open_world, tag

LEVELS: Mapping[str, FieldLevel] = {
    "uscc": "hidden",
    "secret": "hidden",
    "email": "masked",
    "city": "read",
}


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


@pytest.fixture
def profiled(world: World) -> RecordService:
    return world.with_policy(ProfiledPolicy(LEVELS, entity="account"))


def _seed(world: World, **values: Any) -> dict[str, Any]:
    """An account in alice's unit with every protected field set (by the system)."""
    full = {
        "name": "A",
        "uscc": next_uscc(),
        "secret": tag(),
        "email": "boss@example.com",
        "city": tag(),
        "owning_unit_id": world.units["bu"],
        "owner_user_id": world.users["alice"],
        **values,
    }
    return world.service.create(world.system(), "account", full)


def test_hidden_fields_are_left_out_and_masked_ones_masked_on_read(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    got = profiled.get(alice, "account", record["id"])
    assert "uscc" not in got and "secret" not in got
    assert got["email"] == "***"
    assert got["city"] == record["city"]
    only_city = {"field": "city", "op": "eq", "value": record["city"]}
    (row,) = profiled.list(alice, "account", filter=only_city).rows
    assert "secret" not in row and row["email"] == "***"


def test_writing_hidden_or_read_only_fields_is_refused(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    with pytest.raises(RecordInvalid) as caught:
        profiled.create(
            alice, "account", {"name": "B", "secret": "x", "city": "y", "email": "a@b.c"}
        )
    assert caught.value.errors == {
        "secret": ["There is no such field on this record."],
        "city": ["You may see this field but not change it."],
        "email": ["You may see this field but not change it."],
    }
    with pytest.raises(RecordInvalid) as caught:
        profiled.update(alice, "account", record["id"], {"uscc": next_uscc()}, 1)
    assert list(caught.value.errors) == ["uscc"]


def test_filtering_on_a_hidden_field_fails_like_an_unknown_field(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    with pytest.raises(ConditionError) as hidden:
        profiled.list(alice, "account", filter={"field": "secret", "op": "eq", "value": "x"})
    with pytest.raises(ConditionError) as unknown:
        profiled.list(alice, "account", filter={"field": "nothing", "op": "eq", "value": "x"})
    assert hidden.value.reason == unknown.value.reason
    masked_filter = {"field": "email", "op": "eq", "value": "boss@example.com"}
    assert profiled.count(alice, "account", filter=masked_filter).value >= 1
    cross = {"field": "city", "op": "eq", "value": "$record.secret"}
    with pytest.raises(ConditionError):
        profiled.list(alice, "account", filter=cross)
    assert world.service.get(alice, "account", record["id"])["secret"] == record["secret"]


def test_sorting_by_a_hidden_field_is_refused(world, profiled):
    alice = world.principal("alice")
    with pytest.raises(InvalidOperation) as caught:
        profiled.list(alice, "account", sort=[("uscc", "asc")])
    sortable = str(caught.value).split("(", 1)[1].split(")", 1)[0].split(", ")
    assert "uscc" not in sortable and "city" in sortable
    # Without the profile the same sort is fine: the field is indexed (unique).
    assert world.service.list(alice, "account", sort=[("uscc", "asc")], page_size=1)


def test_search_does_not_look_into_hidden_fields(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    assert world.service.count(alice, "account", search=record["secret"]).value == 1
    assert profiled.count(alice, "account", search=record["secret"]).value == 0


def test_stale_version_current_values_respect_field_security(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    with pytest.raises(StaleVersion) as caught:
        profiled.update(alice, "account", record["id"], {"name": "x"}, 7)
    assert "secret" not in caught.value.current
    assert caught.value.current["email"] == "***"


def test_history_leaves_out_hidden_fields_and_masks_masked_ones(world, profiled):
    record = _seed(world)
    alice = world.principal("alice")
    world.service.update(alice, "account", record["id"], {"secret": "new", "name": "B"}, 1)
    history = profiled.history(alice, "account", record["id"])
    assert [entry.action for entry in history] == ["create", "update"]
    assert "secret" not in history[0].changes and "uscc" not in history[0].changes
    assert history[0].changes["email"] == (None, "***")
    assert history[1].changes == {"name": ("A", "B")}


def test_export_applies_field_security_like_any_read(world, profiled):
    record = _seed(world)
    only_city = {"field": "city", "op": "eq", "value": record["city"]}
    (row,) = profiled.export(world.principal("alice"), "account", filter=only_city)
    assert "secret" not in row and "uscc" not in row
    assert row["email"] == "***"


def test_system_policy_alone_refuses_signed_in_users(world):
    from crm_platform.runtime.errors import AccessDenied
    from crm_platform.runtime.policy import SystemPolicy

    service = world.with_policy(SystemPolicy())
    assert service.count(world.system(), "account").exact
    with pytest.raises(AccessDenied, match="Principal.system"):
        service.count(world.principal("alice"), "account")
    fallback = world.with_policy(SystemPolicy(fallback=UnitSubtreePolicy()))
    assert fallback.count(world.principal("sam"), "account", filter=None).exact
