"""Users: unique emails, authentication, memberships, unit-bound roles, principals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine

from crm_platform.metadata.model import Configuration, RoleDef
from crm_platform.runtime import org, users
from crm_platform.runtime.errors import RecordInvalid, RecordNotFound
from crm_platform.runtime.principal import RoleGrant
from crm_platform.runtime.tenants import create_tenant, get_tenant


@dataclass
class Org:
    tenant_id: int
    hq: int
    bu: int
    sub: int
    other_tenant_id: int
    other_unit: int


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~0.1 s a hash; these tests are about users, not hashing strength."""
    monkeypatch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def tree(engine: Engine) -> Iterator[tuple[Connection, Org]]:
    """Acme (hq > bu > sub) and a second tenant with one unit; a connection in a transaction."""
    tenant = create_tenant(engine, "acme", {"en": "Acme"})
    other = create_tenant(engine, "other", {"en": "Other"})
    with engine.begin() as connection:
        hq = org.create_unit(connection, tenant.id, "hq", {"en": "HQ"}, "group")
        bu = org.create_unit(connection, tenant.id, "bu", {"en": "BU"}, "bu", hq.id)
        sub = org.create_unit(connection, tenant.id, "sub", {"en": "Sub"}, "sub", bu.id)
        foreign = org.create_unit(connection, other.id, "hq", {"en": "HQ"}, "group")
    with engine.begin() as connection:
        yield connection, Org(tenant.id, hq.id, bu.id, sub.id, other.id, foreign.id)


def test_email_is_unique_per_tenant_regardless_of_case(tree) -> None:
    connection, units = tree
    users.create_user(connection, units.tenant_id, "Li.Lei@Acme.cn", "Li Lei", "pa55word", units.bu)
    with pytest.raises(RecordInvalid) as caught:
        users.create_user(
            connection, units.tenant_id, "li.lei@acme.CN", "Other", "pa55word", units.bu
        )
    assert list(caught.value.errors) == ["email"]
    assert "already used" in caught.value.errors["email"][0]


def test_same_email_is_allowed_in_another_tenant(tree) -> None:
    connection, units = tree
    users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    user = users.create_user(
        connection, units.other_tenant_id, "a@b.cn", "A", "pa55word", units.other_unit
    )
    assert user.tenant_id == units.other_tenant_id


def test_create_user_reports_every_invalid_field(tree) -> None:
    connection, units = tree
    with pytest.raises(RecordInvalid) as caught:
        users.create_user(connection, units.tenant_id, "nope", " ", "short", 99999)
    assert set(caught.value.errors) == {"email", "display_name", "password", "primary_unit_id"}


def test_authenticate_checks_password_and_active_flag(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    assert users.authenticate(connection, units.tenant_id, "A@B.cn", "pa55word").id == user.id
    assert users.authenticate(connection, units.tenant_id, "a@b.cn", "wrong-pass") is None
    assert users.authenticate(connection, units.tenant_id, "ghost@b.cn", "pa55word") is None
    users.set_password(connection, user.id, "n3w-password")
    assert users.authenticate(connection, units.tenant_id, "a@b.cn", "pa55word") is None
    assert users.authenticate(connection, units.tenant_id, "a@b.cn", "n3w-password") is not None
    users.set_active(connection, user.id, False)
    assert users.authenticate(connection, units.tenant_id, "a@b.cn", "n3w-password") is None


def test_matrix_roles_and_memberships_make_the_principal(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    users.assign_role(connection, user.id, "bu_head", units.bu)
    users.assign_role(connection, user.id, "sales_rep", units.sub)
    users.assign_role(connection, user.id, "sales_rep", units.sub)
    users.add_membership(connection, user.id, units.sub)
    principal = users.principal_for(connection, user.id)
    assert principal.tenant_id == units.tenant_id
    assert principal.unit_id == units.bu
    assert principal.locale == "zh-Hans"
    assert principal.assignments == (
        RoleGrant("bu_head", units.bu),
        RoleGrant("sales_rep", units.sub),
    )
    assert principal.team_ids == (units.bu, units.sub)
    at_sub = users.principal_for(connection, user.id, unit_id=units.sub, locale="en")
    assert (at_sub.unit_id, at_sub.locale) == (units.sub, "en")
    users.revoke_role(connection, user.id, "bu_head", units.bu)
    users.remove_membership(connection, user.id, units.sub)
    principal = users.principal_for(connection, user.id)
    assert principal.assignments == (RoleGrant("sales_rep", units.sub),)
    assert principal.team_ids == (units.bu,)


def test_principal_of_a_user_already_read_equals_principal_for(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    users.assign_role(connection, user.id, "sales_rep", units.sub)
    users.add_membership(connection, user.id, units.sub)
    read = users.get_user(connection, units.tenant_id, user.id)
    assert users.principal_of(connection, read) == users.principal_for(connection, user.id)
    assert users.principal_of(connection, read, units.sub, "en") == users.principal_for(
        connection, user.id, unit_id=units.sub, locale="en"
    )
    with pytest.raises(RecordNotFound):
        users.principal_of(connection, read, unit_id=units.other_unit)


def test_display_names_of_many_users_leave_out_unknown_and_foreign_ids(tree) -> None:
    connection, units = tree
    li = users.create_user(connection, units.tenant_id, "li@b.cn", "Li Lei", "pa55word", units.bu)
    han = users.create_user(connection, units.tenant_id, "han@b.cn", "Han", "pa55word", units.sub)
    foreign = users.create_user(
        connection, units.other_tenant_id, "x@b.cn", "X", "pa55word", units.other_unit
    )
    wanted = [li.id, han.id, li.id, foreign.id, 999_999]
    names = users.display_names(connection, units.tenant_id, wanted)
    assert names == {li.id: "Li Lei", han.id: "Han"}
    assert users.display_names(connection, units.tenant_id, []) == {}


def test_display_names_across_several_chunks_find_every_known_user(tree) -> None:
    connection, units = tree
    li = users.create_user(connection, units.tenant_id, "li@b.cn", "Li Lei", "pa55word", units.bu)
    many = [li.id, *range(1_000_000, 1_000_000 + 2 * users._NAMES_PER_QUERY)]
    assert users.display_names(connection, units.tenant_id, many) == {li.id: "Li Lei"}
    assert users.display_names(connection, units.tenant_id, [li.id]) == {li.id: "Li Lei"}


def test_role_and_membership_changes_bump_security_version(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    before = get_tenant(connection, "acme").security_version
    users.assign_role(connection, user.id, "rep", units.bu)
    users.add_membership(connection, user.id, units.sub)
    users.revoke_role(connection, user.id, "rep", units.bu)
    users.remove_membership(connection, user.id, units.sub)
    assert get_tenant(connection, "acme").security_version == before + 4


def test_role_at_a_unit_of_another_tenant_is_not_found(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    with pytest.raises(RecordNotFound):
        users.assign_role(connection, user.id, "rep", units.other_unit)
    with pytest.raises(RecordNotFound):
        users.get_user(connection, units.other_tenant_id, user.id)


def test_chosen_locale_is_kept_and_becomes_the_principals_language(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    users.set_locale(connection, user.id, "zh-Hant")
    assert users.get_user(connection, units.tenant_id, user.id).locale == "zh-Hant"
    assert users.principal_for(connection, user.id).locale == "zh-Hant"


@pytest.mark.parametrize("locale", ["fr", "zh-CN", "", "en" * 20])
def test_unsupported_locale_is_refused_and_nothing_changes(tree, locale: str) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    with pytest.raises(RecordInvalid) as caught:
        users.set_locale(connection, user.id, locale)
    assert list(caught.value.errors) == ["locale"]
    assert "zh-Hans" in caught.value.errors["locale"][0]
    assert users.get_user(connection, units.tenant_id, user.id).locale == "zh-Hans"


def test_setting_the_locale_of_an_unknown_user_is_not_found(tree) -> None:
    connection, _ = tree
    with pytest.raises(RecordNotFound):
        users.set_locale(connection, 999999, "en")


def _roles(**administer: bool) -> Configuration:
    return Configuration(
        roles={
            key: RoleDef(key=key, label={"en": key}, privileges={}, administer=flag)
            for key, flag in administer.items()
        }
    )


def test_role_marked_administer_at_the_root_unit_administers(tree) -> None:
    connection, units = tree
    user = users.create_user(connection, units.tenant_id, "a@b.cn", "A", "pa55word", units.bu)
    configuration = _roles(admin=True, clerk=False)
    users.assign_role(connection, user.id, "clerk", units.hq)
    assert not users.may_administer(connection, user.id, configuration)
    users.assign_role(connection, user.id, "admin", units.bu)
    assert not users.may_administer(connection, user.id, configuration)
    users.assign_role(connection, user.id, "admin", units.hq)
    assert users.may_administer(connection, user.id, configuration)
    assert not users.may_administer(connection, user.id, _roles(admin=False))
    users.set_active(connection, user.id, False)
    assert not users.may_administer(connection, user.id, configuration)
