"""A request's tenant stamp: read once, then configurations and capabilities need no read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.record_capabilities import read_stamp
from tests.runtime.records_world import ACCOUNT_VIEW, DATABASES, DOCUMENTS, World, open_world
from tests.statement_log import queries, statements_sent


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


def test_stamp_holds_the_tenant_versions_and_the_unit_worked_at(world: World) -> None:
    with world.engine.connect() as connection:
        stamp = read_stamp(connection, world.tenant.id, world.units["team"])
    assert (stamp.tenant.id, stamp.tenant.key) == (world.tenant.id, "acme")
    assert stamp.tenant.config_version >= 1
    assert (stamp.unit_id, stamp.unit_key) == (world.units["team"], "team")
    hq, bu, team = (world.units[key] for key in ("hq", "bu", "team"))
    assert stamp.unit_path == f"/{hq}/{bu}/{team}/"
    assert stamp.config_stamp[3] == stamp.unit_path and stamp.root_config_stamp[3] == ""


def test_stamp_of_another_tenants_unit_is_not_found(world: World) -> None:
    with world.engine.connect() as connection, pytest.raises(RecordNotFound):
        read_stamp(connection, world.tenant.id, world.units["beta_hq"])


def test_stamp_of_an_unknown_tenant_says_to_sign_in_again(world: World) -> None:
    with world.engine.connect() as connection, pytest.raises(InvalidOperation, match="sign in"):
        read_stamp(connection, 999_999, world.units["hq"])


def test_stamped_effective_configuration_needs_no_query_once_cached(world: World) -> None:
    with world.engine.connect() as connection:
        stamp = read_stamp(connection, world.tenant.id, world.units["bu"])
    first = world.store.effective_at(stamp.config_stamp, "acme", "bu")
    with statements_sent(world.engine) as sent:
        again = world.store.effective_at(stamp.config_stamp, "acme", "bu")
    assert again is first and queries(sent) == []
    assert again is world.store.effective("acme", "bu")


def test_stamped_describe_answers_like_describe_without_reading_the_tenant(world: World) -> None:
    alice = world.principal("alice")
    keys = ["account", "contact", "product"]
    fresh = world.service.describe_all(alice, keys)
    with world.engine.connect() as connection:
        stamp = read_stamp(connection, world.tenant.id, alice.unit_id or 0)
    with statements_sent(world.engine) as sent:
        stamped = world.service.describe_all(alice, keys, stamp)
    assert stamped == fresh
    assert queries(sent) == []  # the policy's compiled access is cached under the same versions


def test_a_stamp_of_another_principal_is_refused(world: World) -> None:
    with world.engine.connect() as connection:
        stamp = read_stamp(connection, world.tenant.id, world.units["sib"])
    with pytest.raises(InvalidOperation, match="does not describe the principal"):
        world.service.describe(world.principal("alice"), "account", stamp)


def test_a_stamp_keeps_its_configuration_and_the_next_stamp_sees_a_publish(world: World) -> None:
    with world.engine.connect() as connection:
        before = read_stamp(connection, world.tenant.id, world.units["hq"])
    old = world.store.effective_at(before.config_stamp, "acme", "hq")
    renamed = {**ACCOUNT_VIEW, "label": {"en": "Renamed view"}}
    world.store.publish("acme", None, "test", documents=[*DOCUMENTS[:-1], renamed])
    with world.engine.connect() as connection:
        after = read_stamp(connection, world.tenant.id, world.units["hq"])

    assert after.tenant.config_version == before.tenant.config_version + 1
    new = world.store.effective_at(after.config_stamp, "acme", "hq")
    assert new.list_views["accounts_by_name"].label["en"] == "Renamed view"
    # A request that read the old stamp stays on the configuration it started with.
    assert old.list_views["accounts_by_name"].label["en"] == "Accounts by name"
