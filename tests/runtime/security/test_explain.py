"""explain_access and explain_fields: every source named, and never at odds with enforcement."""

from __future__ import annotations

import pytest

from crm_platform.runtime.access import share_record
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.explain import explain_access, explain_fields
from tests.runtime.security.test_conformance_rules import DOCUMENTS as RULE_DOCUMENTS
from tests.runtime.security.world import SecurityWorld, ids_with

DOCUMENTS = RULE_DOCUMENTS


@pytest.fixture(scope="module")
def cast(world: SecurityWorld) -> SecurityWorld:
    world.add_user("bystander", "mid")
    world.add_user("deep", "mid", [("all_unit_and_below", "mid"), ("all_own", "far")])
    world.add_user("ruled", "sibling", [("all_own", "sibling")])
    world.add_user("restricted", "mid", [("all_tenant", "mid"), ("all_unit", "far")])
    world.add_user("fields", "mid", [("all_tenant", "mid"), ("fs_reader", "mid")])
    return world


def _sources(explanation, privilege, kind):
    return [s for s in explanation.privileges[privilege].sources if s.kind == kind]


def test_role_sources_name_the_role_unit_and_level(cast):
    record_id = cast.account("child", "bystander")["id"]
    explained = explain_access(cast.service, cast.principal("deep"), "account", record_id)
    read = explained.privileges["read"]
    assert read.granted and read.level == "unit_and_below"
    roles = {(s.key, s.unit_key, s.level, s.applies) for s in _sources(explained, "read", "role")}
    assert roles == {
        ("all_unit_and_below", "mid", "unit_and_below", True),
        ("all_own", "far", "own", False),
    }
    assert explained.granted("create") and explained.granted("delete")


def test_a_share_is_named_with_its_target_and_access(cast):
    record_id = cast.account("far", "bystander")["id"]
    share = share_record(
        cast.service, cast.system(), "account", record_id, "unit", cast.units["mid"], "read"
    )
    explained = explain_access(cast.service, cast.principal("deep"), "account", record_id)
    (source,) = _sources(explained, "read", "share")
    assert source.key == str(share.id) and source.unit_key == "mid" and source.applies
    assert explained.granted("read") and not explained.granted("update")
    assert _sources(explained, "update", "share") == []


def test_a_sharing_rule_is_named_when_it_reaches_the_record(cast):
    shared = cast.account("parent", "bystander", tier="a")["id"]
    other = cast.account("parent", "bystander", tier="b")["id"]
    principal = cast.principal("ruled")
    yes = explain_access(cast.service, principal, "account", shared)
    no = explain_access(cast.service, principal, "account", other)
    assert [(s.key, s.applies) for s in _sources(yes, "read", "sharing_rule")] == [
        ("tier_a_to_sibling", True)
    ]
    assert yes.granted("read") and not no.granted("read")
    assert [(s.key, s.applies) for s in _sources(no, "read", "sharing_rule")] == [
        ("tier_a_to_sibling", False)
    ]


def test_a_restriction_is_named_as_restricting_even_where_roles_grant(cast):
    record_id = cast.account("mid", "bystander", secret="classified")["id"]
    explained = explain_access(cast.service, cast.principal("restricted"), "account", record_id)
    read = explained.privileges["read"]
    assert read.level == "tenant" and not read.granted
    (restriction,) = _sources(explained, "read", "restriction_rule")
    assert restriction.key == "classified_accounts"
    assert restriction.applies and restriction.effect == "restricts"
    assert "role all_unit" in restriction.detail


@pytest.mark.parametrize("user", ["deep", "ruled", "restricted", "fields", "bystander"])
def test_explanations_agree_with_enforcement_on_every_record(cast, user):
    principal = cast.principal(user)
    for unit in ("mid", "child", "sibling", "far"):
        cast.account(unit, "bystander", tier="a", secret="classified")
    for privilege in ("read", "update", "delete", "export"):
        allowed = ids_with(cast.service, principal, "account", privilege)
        every = ids_with(cast.service, cast.system(), "account", "read")
        for record_id in sorted(every)[-12:]:
            explained = explain_access(cast.service, principal, "account", record_id)
            assert explained.granted(privilege) is (record_id in allowed)


def test_explaining_a_missing_record_is_not_found(cast):
    with pytest.raises(RecordNotFound):
        explain_access(cast.service, cast.principal("deep"), "account", 10**8)


def test_the_system_principal_is_explained_as_system(cast):
    record_id = cast.account("mid")["id"]
    explained = explain_access(cast.service, cast.system(), "account", record_id)
    assert all(explained.granted(p) for p in explained.privileges)
    assert explained.privileges["read"].sources[0].kind == "system"


def test_explain_fields_gives_each_fields_level_and_the_profiles_behind_it(cast):
    explained = explain_fields(cast.service, cast.principal("fields"), "account")
    assert explained.level("secret") == "read"
    assert [(s.role, s.profile) for s in explained.fields["secret"].sources] == [
        ("fs_reader", "reader_fields")
    ]
    assert explained.level("mobile") == "masked"
    assert explained.level("name") == "edit"
    name_sources = explained.fields["name"].sources
    assert [(s.role, s.profile) for s in name_sources] == [("fs_reader", None)]
    assert "no profile" in name_sources[0].describe()
    assert explained.level("tier") == "edit"
