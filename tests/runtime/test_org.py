"""Org tree structural operations: closure-based subtrees stay right, cycles refused, audited."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, func, select, update

from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import OrgUnitClosure, Tenant
from crm_platform.runtime import org, users
from crm_platform.runtime.errors import InvalidOperation, RecordNotFound
from crm_platform.runtime.principal import RoleGrant
from crm_platform.runtime.tables import AuditEntry
from crm_platform.runtime.tenants import create_tenant, get_tenant
from tests.runtime.migration_support import customer


@dataclass
class Tree:
    tenant_id: int
    hq: int
    bu1: int
    bu2: int
    sub: int
    team: int


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~0.1 s a hash; these tests are about users, not hashing strength."""
    monkeypatch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def tree(engine: Engine) -> Iterator[tuple[Connection, Tree]]:
    """hq > {bu1 > sub > team, bu2}, inside one open transaction."""
    tenant = create_tenant(engine, "acme", {"en": "Acme"})
    with engine.begin() as connection:
        hq = org.create_unit(connection, tenant.id, "hq", {"en": "HQ"}, "group")
        bu1 = org.create_unit(connection, tenant.id, "bu1", {"en": "BU 1"}, "bu", hq.id)
        bu2 = org.create_unit(connection, tenant.id, "bu2", {"en": "BU 2"}, "bu", hq.id)
        sub = org.create_unit(
            connection, tenant.id, "sub", {"en": "Sub"}, "sub", bu1.id, legal_entity=True
        )
        team = org.create_unit(connection, tenant.id, "team", {"en": "Team"}, "team", sub.id)
        yield connection, Tree(tenant.id, hq.id, bu1.id, bu2.id, sub.id, team.id)


def _audit(connection: Connection, unit_id: int) -> list[tuple[str, dict]]:
    rows = connection.execute(
        select(AuditEntry.action, AuditEntry.changes)
        .where(AuditEntry.entity == "org_unit", AuditEntry.record_id == unit_id)
        .order_by(AuditEntry.id)
    )
    return [(row.action, row.changes) for row in rows]


def _closure_pairs(connection: Connection, tenant_id: int) -> set[tuple[int, int, int]]:
    rows = connection.execute(
        select(
            OrgUnitClosure.ancestor_id, OrgUnitClosure.descendant_id, OrgUnitClosure.depth
        ).where(OrgUnitClosure.tenant_id == tenant_id)
    )
    return {tuple(row) for row in rows}


def test_create_builds_path_depth_and_closure(tree) -> None:
    connection, t = tree
    team = org.get_unit(connection, t.tenant_id, t.team)
    assert team.path == f"/{t.hq}/{t.bu1}/{t.sub}/{t.team}/"
    assert team.depth == 3
    assert org.subtree_ids(connection, t.bu1) == sorted([t.bu1, t.sub, t.team])
    assert org.ancestors(connection, t.team) == [t.hq, t.bu1, t.sub]
    assert _audit(connection, t.team)[0][0] == "create"


def test_unit_kind_must_be_a_configured_kind(tree) -> None:
    connection, t = tree
    with pytest.raises(InvalidOperation, match="not one of the tenant's unit kinds"):
        org.create_unit(
            connection, t.tenant_id, "x", {"en": "X"}, "galaxy", t.hq, kinds={"bu", "team"}
        )


def test_move_is_immediately_visible_to_subtree_queries(tree) -> None:
    connection, t = tree
    version = get_tenant(connection, "acme").security_version
    org.move_unit(connection, t.tenant_id, t.sub, t.bu2, actor_id=None)
    assert org.subtree_ids(connection, t.bu1) == [t.bu1]
    assert org.subtree_ids(connection, t.bu2) == sorted([t.bu2, t.sub, t.team])
    assert org.ancestors(connection, t.team) == [t.hq, t.bu2, t.sub]
    team = org.get_unit(connection, t.tenant_id, t.team)
    assert (team.path, team.depth) == (f"/{t.hq}/{t.bu2}/{t.sub}/{t.team}/", 3)
    assert get_tenant(connection, "acme").security_version > version
    assert _audit(connection, t.sub)[-1] == ("move", {"parent": ["bu1", "bu2"]})


def test_move_keeps_closure_equal_to_a_fresh_build(tree) -> None:
    connection, t = tree
    org.move_unit(connection, t.tenant_id, t.team, t.bu2)
    org.move_unit(connection, t.tenant_id, t.sub, t.bu2)
    org.move_unit(connection, t.tenant_id, t.team, t.sub)
    expected = set()
    parents = {t.hq: None, t.bu1: t.hq, t.bu2: t.hq, t.sub: t.bu2, t.team: t.sub}
    for unit in parents:
        depth, current = 0, unit
        while current is not None:
            expected.add((current, unit, depth))
            current, depth = parents[current], depth + 1
    assert _closure_pairs(connection, t.tenant_id) == expected


@pytest.mark.parametrize("target", ["sub", "team"])
def test_move_under_itself_or_its_descendant_is_refused(tree, target: str) -> None:
    connection, t = tree
    with pytest.raises(InvalidOperation, match="cycle"):
        org.move_unit(connection, t.tenant_id, t.sub, getattr(t, target))
    assert org.ancestors(connection, t.team) == [t.hq, t.bu1, t.sub]


def test_rename_keeps_the_key_and_is_audited(tree) -> None:
    connection, t = tree
    renamed = org.rename_unit(connection, t.tenant_id, t.bu2, {"en": "East", "zh-Hans": "华东"})
    assert (renamed.key, renamed.name["zh-Hans"]) == ("bu2", "华东")
    assert _audit(connection, t.bu2)[-1] == (
        "rename",
        {"name": [{"en": "BU 2"}, {"en": "East", "zh-Hans": "华东"}]},
    )


def test_deactivate_is_refused_while_children_are_active(tree) -> None:
    connection, t = tree
    with pytest.raises(InvalidOperation, match="active child units"):
        org.deactivate_unit(connection, t.tenant_id, t.sub)
    org.deactivate_unit(connection, t.tenant_id, t.team)
    assert not org.get_unit(connection, t.tenant_id, t.team).active
    assert _audit(connection, t.team)[-1] == ("deactivate", {"active": [True, False]})


def test_merge_moves_children_members_roles_and_records(tree) -> None:
    connection, t = tree
    records = Table(
        "merge_records",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("owning_unit_id", Integer),
    )
    records.create(connection)
    connection.execute(records.insert(), [{"owning_unit_id": t.sub}] * 3)

    def move_records(conn: Connection, tenant: Tenant, from_id: int, to_id: int) -> int:
        assert tenant.key == "acme"
        moved = conn.execute(
            update(records).where(records.c.owning_unit_id == from_id).values(owning_unit_id=to_id)
        )
        return moved.rowcount

    rep = users.create_user(connection, t.tenant_id, "rep@a.cn", "Rep", "pa55word", t.sub)
    both = users.create_user(connection, t.tenant_id, "both@a.cn", "Both", "pa55word", t.bu2)
    users.add_membership(connection, both.id, t.sub)
    users.assign_role(connection, rep.id, "sales_rep", t.sub)
    users.assign_role(connection, both.id, "sales_rep", t.sub)
    users.assign_role(connection, both.id, "sales_rep", t.bu2)

    survivor = org.merge_units(
        connection, t.tenant_id, t.sub, into=t.bu2, move_records=move_records
    )

    assert survivor.key == "bu2"
    merged = org.get_unit(connection, t.tenant_id, t.sub)
    assert (merged.active, merged.merged_into_id) == (False, t.bu2)
    assert org.ancestors(connection, t.team) == [t.hq, t.bu2]
    assert org.subtree_ids(connection, t.bu2) == sorted([t.bu2, t.team])
    assert users.principal_for(connection, rep.id).unit_id == t.bu2
    assert users.principal_for(connection, rep.id).assignments == (RoleGrant("sales_rep", t.bu2),)
    assert users.principal_for(connection, both.id).team_ids == (t.bu2,)
    assert users.role_assignments(connection, both.id) == [RoleGrant("sales_rep", t.bu2)]
    owned = connection.execute(
        select(func.count()).where(records.c.owning_unit_id == t.bu2)
    ).scalar_one()
    assert owned == 3
    action, changes = _audit(connection, t.sub)[-1]
    assert action == "merge"
    assert changes["merged_into"] == [None, "bu2"]
    assert changes["records_moved"] == [None, 3]
    assert changes["children_moved"] == [None, ["team"]]


def test_merge_into_own_descendant_is_refused(tree) -> None:
    connection, t = tree
    with pytest.raises(InvalidOperation, match="cycle"):
        org.merge_units(connection, t.tenant_id, t.bu1, into=t.team, move_records=_no_records)


def test_unit_of_another_tenant_is_not_found(engine: Engine, tree) -> None:
    connection, t = tree
    with pytest.raises(RecordNotFound):
        org.move_unit(connection, t.tenant_id + 1, t.sub, t.bu2)


def _no_records(connection: Connection, tenant: Tenant, from_id: int, to_id: int) -> int:
    return 0


def test_kind_must_be_configured_once_the_tenant_has_published(engine: Engine) -> None:
    tenant = create_tenant(engine, "kinds", {"en": "Kinds"})
    with engine.begin() as connection:
        group = org.create_unit(connection, tenant.id, "group", {"en": "G"}, "group")
    MetadataStore(engine).publish("kinds", None, "tester", documents=[customer()])
    with engine.begin() as connection:
        with pytest.raises(InvalidOperation, match="not one of the tenant's unit kinds"):
            org.create_unit(connection, tenant.id, "x", {"en": "X"}, "galaxy", group.id)
        team = org.create_unit(connection, tenant.id, "t1", {"en": "T"}, "team", group.id)
    assert team.kind == "team"


def test_random_moves_keep_closure_paths_and_depths_consistent(engine: Engine) -> None:
    rng = random.Random(20261124)
    tenant = create_tenant(engine, "moves", {"en": "Moves"})
    with engine.begin() as connection:
        ids = [org.create_unit(connection, tenant.id, "u0", {"en": "U0"}, "group").id]
        for number in range(1, 16):
            parent = rng.choice(ids)
            unit = org.create_unit(connection, tenant.id, f"u{number}", {"en": "U"}, "x", parent)
            ids.append(unit.id)
        refused = 0
        for _ in range(25):
            unit_id, parent_id = rng.choice(ids[1:]), rng.choice(ids)
            try:
                org.move_unit(connection, tenant.id, unit_id, parent_id)
            except InvalidOperation:
                refused += 1
                assert parent_id in org.subtree_ids(connection, unit_id)
        parents = {u: org.get_unit(connection, tenant.id, u).parent_id for u in ids}
        expected = set()
        for unit in ids:
            depth, current = 0, unit
            while current is not None:
                expected.add((current, unit, depth))
                current, depth = parents[current], depth + 1
        assert _closure_pairs(connection, tenant.id) == expected
        for unit in ids:
            row = org.get_unit(connection, tenant.id, unit)
            chain = [*org.ancestors(connection, unit), unit]
            assert row.path == "/" + "".join(f"{u}/" for u in chain)
            assert row.depth == len(chain) - 1
    assert 0 < refused < 25


def test_get_units_reads_many_units_and_leaves_out_unknown_and_foreign_ids(tree) -> None:
    connection, units = tree
    wanted = [units.team, units.bu1, units.team, 999_999]
    found = org.get_units(connection, units.tenant_id, wanted)
    assert {unit_id: (unit.key, unit.name["en"]) for unit_id, unit in found.items()} == {
        units.team: ("team", "Team"),
        units.bu1: ("bu1", "BU 1"),
    }
    assert org.get_units(connection, units.tenant_id + 1, wanted) == {}  # another tenant's view
    assert org.get_units(connection, units.tenant_id, []) == {}
