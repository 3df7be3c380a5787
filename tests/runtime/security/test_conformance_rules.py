"""Conformance past Dynamics: shares, sharing rules, restrictions, master data, field security.

Shares and sharing rules add to what roles grant, but only for privileges the
roles give at ``own`` or above (as Dynamics shares do); restriction rules cut
across every grant and share; field security takes the most permissive level
of the roles that give access to the entity.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crm_platform.runtime.access import revoke_share, share_record
from crm_platform.runtime.errors import AccessDenied, RecordInvalid, RecordNotFound
from tests.runtime.security.world import BASE_DOCUMENTS, SecurityWorld, ids_with, label, role

CLASSIFIED = {"field": "secret", "op": "eq", "value": "classified"}

DOCUMENTS = [
    *BASE_DOCUMENTS,
    role("fs_reader", {"account": {"read": "unit"}}),
    role("bystander_role", {"product": {"update": "tenant"}}),
    {
        "kind": "sharing_rule",
        "key": "tier_a_to_sibling",
        "label": label("Tier A accounts to the sibling unit"),
        "entity": "account",
        "condition": {"field": "tier", "op": "eq", "value": "a"},
        "target": {"unit": "sibling"},
        "access": "read",
    },
    {
        "kind": "sharing_rule",
        "key": "tier_b_to_far",
        "label": label("Tier B accounts to far and below"),
        "entity": "account",
        "condition": {"field": "tier", "op": "eq", "value": "b"},
        "target": {"unit": "far", "include_subtree": True},
        "access": "edit",
    },
    {
        "kind": "restriction_rule",
        "key": "classified_accounts",
        "label": label("Classified accounts"),
        "entity": "account",
        "condition": CLASSIFIED,
        "applies_to": {
            "roles": ["all_unit"],
            "units": [{"unit": "child", "include_subtree": True}],
        },
    },
    {
        "kind": "restriction_rule",
        "key": "wholesale_from_sibling",
        "label": label("Wholesale products hidden from the sibling unit"),
        "entity": "product",
        "condition": {"field": "channel", "op": "eq", "value": "wholesale"},
        "applies_to": {"units": [{"unit": "sibling", "include_subtree": True}]},
    },
    {
        "kind": "field_security",
        "key": "tenant_fields",
        "role": "all_tenant",
        "entity": "account",
        "fields": {
            "secret": "hidden",
            "mobile": "masked",
            "email": "masked",
            "amount": "masked",
            "name": "read",
        },
    },
    {
        "kind": "field_security",
        "key": "reader_fields",
        "role": "fs_reader",
        "entity": "account",
        "fields": {"secret": "read", "mobile": "hidden", "email": "masked"},
    },
    {
        "kind": "field_security",
        "key": "bystander_fields",
        "role": "bystander_role",
        "entity": "account",
        "fields": {"secret": "edit", "mobile": "edit"},
    },
]


@pytest.fixture(scope="module")
def cast(world: SecurityWorld) -> SecurityWorld:
    world.add_user("bystander", "mid")
    return world


_names = iter(range(10**6))


def _user(world: SecurityWorld, unit: str, roles, memberships=()) -> str:
    name = f"u{next(_names)}"
    world.add_user(name, unit, roles, memberships)
    return name


def _try(world: SecurityWorld, user: str, privilege: str, record_id: int, unit=None) -> str:
    """``ok``, ``not_found`` or ``denied`` for one privilege through the record service."""
    principal = world.principal(user, unit)
    service = world.service
    try:
        if privilege == "read":
            service.get(principal, "account", record_id)
        elif privilege == "update":
            version = world.current("account", record_id)["version"]
            service.update(principal, "account", record_id, {"name": "Changed"}, version)
        elif privilege == "delete":
            service.delete(principal, "account", record_id)
        else:
            return (
                "ok"
                if record_id in ids_with(world.service, principal, "account", privilege)
                else "no"
            )
    except RecordNotFound:
        return "not_found"
    except AccessDenied:
        return "denied"
    return "ok"


# -- manual shares --------------------------------------------------------------------------------

SHARE_CASES = [
    # (target type, target unit or "me", access, user's level, privilege, outcome)
    ("user", "me", "read", "own", "read", "ok"),
    ("user", "me", "read", "own", "update", "denied"),
    ("user", "me", "read", "own", "export", "ok"),
    ("user", "me", "edit", "own", "update", "ok"),
    ("user", "me", "edit", "own", "delete", "denied"),
    ("user", "me", "read", "none", "read", "not_found"),
    ("user", "me", "edit", "unit", "update", "ok"),
    ("team", "crew", "read", "own", "read", "ok"),
    ("team", "squad", "read", "own", "read", "not_found"),
    ("unit", "mid", "read", "own", "read", "ok"),
    ("unit", "parent", "read", "own", "read", "not_found"),
    ("unit_subtree", "parent", "read", "own", "read", "ok"),
    ("unit_subtree", "root", "edit", "own", "update", "ok"),
    ("unit_subtree", "sibling", "read", "own", "read", "not_found"),
]


@pytest.mark.parametrize(("target", "unit", "access", "level", "privilege", "outcome"), SHARE_CASES)
def test_manual_share_cell(cast, target, unit, access, level, privilege, outcome):
    user = _user(cast, "mid", [(f"all_{level}", "mid")], memberships=["crew"])
    record_id = int(cast.account("far", "bystander")["id"])
    target_id = cast.users[user] if unit == "me" else cast.units[unit]
    share_record(cast.service, cast.system(), "account", record_id, target, target_id, access)
    expected = "no" if privilege == "export" and outcome != "ok" else outcome
    assert _try(cast, user, privilege, record_id) == expected


def test_expired_share_gives_nothing(cast):
    user = _user(cast, "mid", [("all_own", "mid")])
    record_id = int(cast.account("far", "bystander")["id"])
    past = datetime.now(UTC) - timedelta(minutes=1)
    share_record(
        cast.service, cast.system(), "account", record_id, "user", cast.users[user], "read", past
    )
    assert _try(cast, user, "read", record_id) == "not_found"


def test_revoking_a_share_takes_access_away(cast):
    user = _user(cast, "mid", [("all_own", "mid")])
    record_id = int(cast.account("far", "bystander")["id"])
    share = share_record(
        cast.service, cast.system(), "account", record_id, "user", cast.users[user], "read"
    )
    assert _try(cast, user, "read", record_id) == "ok"
    revoke_share(cast.service, cast.system(), "account", share.id)
    assert _try(cast, user, "read", record_id) == "not_found"


def test_sharing_needs_the_share_privilege_and_hides_unreadable_records(cast):
    reader = _user(cast, "mid", [("fs_reader", "mid")])
    sharer = _user(cast, "mid", [("all_own", "mid")])
    mine = int(cast.account("mid", sharer)["id"])
    theirs = int(cast.account("far", "bystander")["id"])
    unit_record = int(cast.account("mid", "bystander")["id"])
    principal = cast.principal(sharer)
    share = share_record(
        cast.service, principal, "account", mine, "user", cast.users[reader], "read"
    )
    assert share.shared_by == cast.users[sharer]
    with pytest.raises(RecordNotFound):
        share_record(cast.service, principal, "account", theirs, "user", cast.users[reader], "read")
    with pytest.raises(AccessDenied):
        share_record(
            cast.service, cast.principal(reader), "account", unit_record, "unit", 1, "read"
        )


def test_share_with_a_unit_of_another_tenant_is_refused(cast):
    record_id = int(cast.account("mid", "bystander")["id"])
    with pytest.raises(RecordInvalid) as refused:
        share_record(
            cast.service,
            cast.system(),
            "account",
            record_id,
            "unit",
            cast.units["beta_root"],
            "read",
        )
    assert "target_id" in refused.value.errors


# -- sharing rules --------------------------------------------------------------------------------

RULE_CASES = [
    # (user's unit, level, tier, privilege, outcome)
    ("sibling", "own", "a", "read", "ok"),
    ("sibling", "own", "a", "update", "denied"),
    ("sibling", "none", "a", "read", "not_found"),
    ("child", "own", "a", "read", "not_found"),
    ("sibling", "own", "b", "read", "not_found"),
    ("far", "own", "b", "read", "ok"),
    ("far", "own", "b", "update", "ok"),
    ("far", "own", "b", "delete", "denied"),
    ("far", "own", "a", "read", "not_found"),
]


@pytest.mark.parametrize(("unit", "level", "tier", "privilege", "outcome"), RULE_CASES)
def test_sharing_rule_cell(cast, unit, level, tier, privilege, outcome):
    user = _user(cast, unit, [(f"all_{level}", unit)])
    record_id = int(cast.account("parent", "bystander", tier=tier)["id"])
    assert _try(cast, user, privilege, record_id) == outcome


# -- restriction rules ----------------------------------------------------------------------------

RESTRICTION_CASES = [
    # (roles, working unit, secret, visible)
    ([("all_tenant", "mid")], None, "classified", True),
    ([("all_tenant", "mid")], None, "open", True),
    ([("all_tenant", "mid")], "child", "classified", False),
    ([("all_tenant", "child")], None, "classified", False),
    ([("all_tenant", "mid"), ("all_unit", "far")], None, "classified", False),
    ([("all_tenant", "mid"), ("all_unit", "far")], None, "open", True),
    ([("all_tenant", "squad")], None, "classified", False),
]


@pytest.mark.parametrize(("roles", "working_unit", "secret", "visible"), RESTRICTION_CASES)
def test_restriction_rule_cell(cast, roles, working_unit, secret, visible):
    user = _user(cast, "mid", roles)
    record_id = int(cast.account("mid", "bystander", secret=secret)["id"])
    outcome = _try(cast, user, "read", record_id, working_unit)
    assert outcome == ("ok" if visible else "not_found")


def test_creating_a_record_a_restriction_hides_from_its_creator_is_refused(cast):
    user = _user(cast, "child", [("all_unit", "child")])
    principal = cast.principal(user)
    made = cast.service.create(principal, "account", {"name": "Open", "secret": "open"})
    assert cast.service.get(principal, "account", made["id"])["secret"] == "open"
    before = len(ids_with(cast.service, cast.system(), "account", "read"))
    with pytest.raises(RecordInvalid) as caught:
        cast.service.create(principal, "account", {"name": "Hidden", "secret": "classified"})
    assert "keeps such records out of your reach" in caught.value.errors["_record"][0]
    rows = [{"name": "Fine", "secret": "open"}, {"name": "Hidden", "secret": "classified"}]
    with pytest.raises(RecordInvalid) as caught:
        cast.service.bulk_create(principal, "account", rows)
    assert set(caught.value.errors) == {"/1/_record"}
    assert len(ids_with(cast.service, cast.system(), "account", "read")) == before


def test_a_share_does_not_lift_a_restriction(cast):
    user = _user(cast, "child", [("all_own", "child")])
    record_id = int(cast.account("far", "bystander", secret="classified")["id"])
    share_record(
        cast.service, cast.system(), "account", record_id, "user", cast.users[user], "edit"
    )
    assert _try(cast, user, "read", record_id) == "not_found"


def test_master_data_is_read_tenant_wide_unless_a_restriction_narrows_it(cast):
    system = cast.system()
    retail = cast.service.create(system, "product", {"name": "R", "channel": "retail"})["id"]
    wholesale = cast.service.create(system, "product", {"name": "W", "channel": "wholesale"})["id"]
    at_mid = cast.principal(_user(cast, "mid", []))
    at_sibling = cast.principal(_user(cast, "sibling", []))
    assert {retail, wholesale} <= ids_with(cast.service, at_mid, "product", "read")
    seen = ids_with(cast.service, at_sibling, "product", "read")
    assert retail in seen and wholesale not in seen
    with pytest.raises(RecordNotFound):
        cast.service.get(at_sibling, "product", wholesale)
    with pytest.raises(AccessDenied):
        version = cast.current("product", retail)["version"]
        cast.service.update(at_mid, "product", retail, {"name": "X"}, version)


# -- field security -------------------------------------------------------------------------------

FIELD_VALUES = {
    "secret": "s3cret",
    "mobile": "+8613812345678",
    "email": "zhang.wei@example.com",
    "amount": {"amount": Decimal("1234.50"), "currency": "CNY"},
    "name": "张三丰",
}

FIELD_CASES = [
    # (roles, field, level)
    (["all_tenant"], "secret", "hidden"),
    (["all_tenant"], "mobile", "masked"),
    (["all_tenant"], "email", "masked"),
    (["all_tenant"], "amount", "masked"),
    (["all_tenant"], "name", "read"),
    (["all_tenant"], "tier", "edit"),
    (["fs_reader"], "secret", "read"),
    (["fs_reader"], "mobile", "hidden"),
    (["all_tenant", "fs_reader"], "secret", "read"),
    (["all_tenant", "fs_reader"], "mobile", "masked"),
    (["all_tenant", "fs_reader"], "email", "masked"),
    (["all_tenant", "fs_reader"], "name", "edit"),
    # a role that gives nothing on accounts does not loosen their fields
    (["all_tenant", "bystander_role"], "secret", "hidden"),
]

MASKED = {
    "mobile": "+86138****5678",
    "email": "z***@example.com",
    "amount": None,
    "name": "张**",
}


@pytest.mark.parametrize(("roles", "field", "level"), FIELD_CASES)
def test_field_security_cell(cast, roles, field, level):
    user = _user(cast, "mid", [(r, "mid") for r in roles])
    record = cast.account("mid", user, **FIELD_VALUES)
    principal = cast.principal(user)
    got = cast.service.get(principal, "account", record["id"])
    if level == "hidden":
        assert field not in got
    elif level == "masked":
        assert got[field] == MASKED[field]
    else:
        assert got[field] == record[field]
    new_value = {"tier": "b", "secret": "x", "mobile": "13900001111", "email": "a@b.cn"}.get(
        field, "新名字"
    )
    if field == "amount":
        new_value = {"amount": Decimal("1"), "currency": "CNY"}
    if roles == ["fs_reader"]:
        with pytest.raises(AccessDenied):
            cast.service.update(principal, "account", record["id"], {field: new_value}, 1)
        return
    writable = level == "edit"
    try:
        cast.service.update(principal, "account", record["id"], {field: new_value}, 1)
    except RecordInvalid as refused:
        assert not writable
        assert field in refused.errors
    else:
        assert writable


def test_hidden_fields_cannot_filter_sort_or_search(cast):
    user = _user(cast, "mid", [("all_tenant", "mid")])
    principal = cast.principal(user)
    cast.account("mid", user, secret="needle")
    with pytest.raises(Exception) as by_filter:
        cast.service.list(
            principal, "account", filter={"field": "secret", "op": "eq", "value": "needle"}
        )
    assert "secret" in str(by_filter.value)
    with pytest.raises(Exception) as by_sort:
        cast.service.list(principal, "account", sort=[("secret", "asc")])
    assert "secret" in str(by_sort.value)
    found = cast.service.list(principal, "account", search="needle").rows
    assert found == []
