"""A request's tenant stamp: read once (with the session's user), then configurations and
capabilities need no read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_platform.runtime import users
from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.record_capabilities import read_stamp
from crm_platform.runtime.session_reads import read_session
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


def test_session_start_is_the_user_row_with_the_stamp_at_their_primary_unit(world: World) -> None:
    with world.engine.connect() as connection:
        start = read_session(connection, world.tenant.id, world.users["tom"], None)
        stamp = read_stamp(connection, world.tenant.id, world.units["team"])
        assert start is not None
        assert start.user == users.SessionUser(
            id=world.users["tom"],
            tenant_id=world.tenant.id,
            tenant_key="acme",
            email="tom@example.com",
            display_name="Tom",
            locale="en",
            primary_unit_id=world.units["team"],
            active=True,
        )
        assert start.stamp == stamp
        # The principal built from the session's row is the one built from the full row.
        assert users.principal_of(connection, start.user) == users.principal_for(
            connection, world.users["tom"]
        )


def test_session_start_is_one_statement(world: World) -> None:
    with world.engine.connect() as connection, statements_sent(world.engine) as sent:
        read_session(connection, world.tenant.id, world.users["alice"], world.units["hq"])
    assert len(queries(sent)) == 1


def test_session_start_at_a_chosen_unit_stamps_that_unit(world: World) -> None:
    with world.engine.connect() as connection:
        start = read_session(connection, world.tenant.id, world.users["alice"], world.units["hq"])
        assert start is not None and start.stamp is not None
        assert start.stamp == read_stamp(connection, world.tenant.id, world.units["hq"])


def test_session_start_at_another_tenants_or_a_missing_unit_has_no_stamp(world: World) -> None:
    with world.engine.connect() as connection:
        for unit_id in (world.units["beta_hq"], 999_999):
            start = read_session(connection, world.tenant.id, world.users["alice"], unit_id)
            assert start is not None and start.user.id == world.users["alice"]
            assert start.stamp is None


def test_session_start_of_another_tenant_or_an_unknown_user_is_none(world: World) -> None:
    with world.engine.connect() as connection:
        assert read_session(connection, world.other_tenant.id, world.users["alice"], None) is None
        assert read_session(connection, world.tenant.id, 999_999, None) is None


def test_session_start_of_an_inactive_user_says_so(world: World) -> None:
    with world.engine.connect() as connection:  # never committed: the world stays as it was
        users.set_active(connection, world.users["sam"], False)
        start = read_session(connection, world.tenant.id, world.users["sam"], None)
        assert start is not None and start.user.active is False
