"""Attacks: forged ids, hidden fields, mass assignment, lookups, stale caches in other processes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_platform.db import make_engine
from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime import users as users_module
from crm_platform.runtime.access import RolePolicy, share_record
from crm_platform.runtime.audit import SYSTEM_ACCESS
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.errors import AccessDenied, RecordInvalid, RecordNotFound
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.org import move_unit
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tables import AuditEntry
from tests.runtime.security.test_conformance_rules import DOCUMENTS as RULE_DOCUMENTS
from tests.runtime.security.world import SecurityWorld, _create_tables

DOCUMENTS = RULE_DOCUMENTS


@pytest.fixture(scope="module")
def cast(world: SecurityWorld) -> SecurityWorld:
    world.add_user("bystander", "mid")
    world.add_user("rep", "mid", [("all_unit", "mid")])
    world.add_user("boss", "mid", [("all_tenant", "mid")])
    world.add_user(
        "beta_boss", "beta_root", [("all_tenant", "beta_root")], tenant=world.other_tenant
    )
    return world


def test_a_forged_id_from_a_sibling_unit_is_not_found_for_every_operation(cast):
    record_id = cast.account("sibling", "bystander")["id"]
    rep = cast.principal("rep")
    service = cast.service
    for attempt in (
        lambda: service.get(rep, "account", record_id),
        lambda: service.update(rep, "account", record_id, {"name": "x"}, 1),
        lambda: service.delete(rep, "account", record_id),
        lambda: service.history(rep, "account", record_id),
        lambda: share_record(service, rep, "account", record_id, "user", cast.users["rep"], "read"),
    ):
        with pytest.raises(RecordNotFound):
            attempt()


def test_a_forged_id_from_another_tenant_is_not_found(cast):
    record_id = cast.account("mid", "bystander")["id"]
    beta_boss = cast.principal("beta_boss")
    with pytest.raises(RecordNotFound):
        cast.service.get(beta_boss, "account", record_id)
    with pytest.raises(RecordNotFound):
        cast.service.update(beta_boss, "account", record_id, {"name": "x"}, 1)
    assert cast.current("account", record_id)["name"] != "x"


def test_a_principal_claiming_another_tenant_reaches_nothing(cast):
    record_id = cast.account("mid", "bystander")["id"]
    forged = cast.principal("boss").__class__(
        tenant_id=cast.other_tenant.id, user_id=cast.users["boss"], unit_id=cast.units["mid"]
    )
    with pytest.raises(RecordNotFound):
        cast.service.get(forged, "account", record_id)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"secret": "smuggled"}, "secret"),
        ({"name": "renamed"}, "name"),
        ({"mobile": "13912345678"}, "mobile"),
        ({"version": 99}, "version"),
        ({"created_by": 1}, "created_by"),
    ],
)
def test_mass_assignment_of_hidden_read_only_or_system_fields_is_refused(cast, values, field):
    boss = cast.principal("boss")
    with pytest.raises(RecordInvalid) as created:
        cast.service.create(boss, "account", {"name": "N", **values} if field != "name" else values)
    assert field in created.value.errors
    record = cast.account("mid", "boss")
    with pytest.raises(RecordInvalid) as updated:
        cast.service.update(boss, "account", record["id"], values, record["version"])
    assert field in updated.value.errors


def test_hidden_fields_cannot_be_used_to_count_export_or_infer(cast):
    boss = cast.principal("boss")
    secret_filter = {"field": "secret", "op": "is_not_empty"}
    for run in (
        lambda: cast.service.count(boss, "account", filter=secret_filter),
        lambda: list(cast.service.export(boss, "account", filter=secret_filter)),
        lambda: cast.service.list(boss, "account", filter={"not": secret_filter}),
    ):
        with pytest.raises(Exception) as refused:
            run()
        assert "secret" in str(refused.value)
    exported = list(cast.service.export(boss, "account"))
    assert exported and all("secret" not in row for row in exported)
    assert all("*" in row["mobile"] for row in exported if row.get("mobile"))


def test_lookups_offer_only_readable_records(cast):
    visible = cast.account("mid", "bystander", name="Lookup visible")
    hidden = cast.account("sibling", "bystander", name="Lookup hidden")
    offered = {
        item["id"] for item in cast.service.lookup(cast.principal("rep"), "account", "Lookup")
    }
    assert visible["id"] in offered and hidden["id"] not in offered


def test_a_reference_to_an_invisible_record_is_refused_like_a_missing_one(cast):
    rep = cast.principal("rep")
    invisible = cast.account("sibling", "bystander")["id"]
    visible = cast.account("mid", "bystander")["id"]
    with pytest.raises(RecordInvalid) as to_invisible:
        cast.service.create(rep, "account", {"name": "Child", "parent_account": invisible})
    with pytest.raises(RecordInvalid) as to_missing:
        cast.service.create(rep, "account", {"name": "Child", "parent_account": 10**8})
    assert to_invisible.value.errors == to_missing.value.errors
    created = cast.service.create(rep, "account", {"name": "Child", "parent_account": visible})
    assert created["parent_account"] == visible


def test_a_readable_but_not_deletable_record_is_forbidden_not_hidden(cast):
    cast.add_user("reader", "mid", [("fs_reader", "mid")])
    record_id = cast.account("mid", "bystander")["id"]
    with pytest.raises(AccessDenied):
        cast.service.delete(cast.principal("reader"), "account", record_id)


def test_system_principal_access_is_audited(cast):
    record_id = cast.account("mid")["id"]
    cast.service.get(cast.system(), "account", record_id)
    table = AuditEntry.__table__
    with cast.engine.connect() as connection:
        reasons = connection.execute(
            select(table.c.changes).where(
                table.c.tenant_id == cast.tenant.id, table.c.action == SYSTEM_ACCESS
            )
        ).scalars()
        assert any(c.get("reason", [None, None])[1] == "security test fixture" for c in reasons)


def test_an_inactive_user_reaches_nothing(cast):
    cast.add_user("leaver", "mid", [("all_tenant", "mid")])
    record_id = cast.account("mid", "bystander")["id"]
    leaver = cast.principal("leaver")
    assert cast.service.get(leaver, "account", record_id)["id"] == record_id
    with cast.engine.begin() as connection:
        users_module.set_active(connection, cast.users["leaver"], False)
    with pytest.raises(RecordNotFound):
        cast.service.get(leaver, "account", record_id)


@pytest.fixture
def second_process(cast):
    """Another engine, store, service and policy on the same database: a second process."""
    engine = make_engine(cast.engine.url.render_as_string(hide_password=False))
    store = MetadataStore(engine, hooks=[_create_tables])
    service = RecordService(engine, store, EntityTables(store), RolePolicy(), EventBus())
    yield service
    engine.dispose()


def test_role_changes_shares_and_unit_moves_take_effect_in_a_second_process(cast, second_process):
    cast.add_user("mover", "mid", [("all_unit", "mid")])
    record_id = cast.account("sibling", "bystander")["id"]
    mover = cast.principal("mover")
    other = second_process
    with pytest.raises(RecordNotFound):
        other.get(mover, "account", record_id)
    with cast.engine.begin() as connection:
        users_module.assign_role(connection, cast.users["mover"], "all_unit", cast.units["sibling"])
    assert other.get(mover, "account", record_id)["id"] == record_id
    with cast.engine.begin() as connection:
        users_module.revoke_role(connection, cast.users["mover"], "all_unit", cast.units["sibling"])
    with pytest.raises(RecordNotFound):
        other.get(mover, "account", record_id)
    share = share_record(
        cast.service, cast.system(), "account", record_id, "user", cast.users["mover"], "read"
    )
    assert other.get(mover, "account", record_id)["id"] == share.record_id


def test_a_unit_move_changes_subtree_scope_in_a_second_process(cast, second_process):
    cast.add_user("deep_boss", "parent", [("all_unit_and_below", "parent")])
    record_id = cast.account("far", "bystander")["id"]
    boss = cast.principal("deep_boss")
    with pytest.raises(RecordNotFound):
        second_process.get(boss, "account", record_id)
    with cast.engine.begin() as connection:
        move_unit(connection, cast.tenant.id, cast.units["far"], cast.units["parent"])
    try:
        assert second_process.get(boss, "account", record_id)["id"] == record_id
    finally:
        with cast.engine.begin() as connection:
            move_unit(connection, cast.tenant.id, cast.units["far"], cast.units["root"])
    with pytest.raises(RecordNotFound):
        second_process.get(boss, "account", record_id)
