"""Searching users for a picker: tenant-scoped, active only, by name or email, limited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine

from crm_platform.runtime import org, users
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.tenants import create_tenant
from tests.statement_log import statements_sent


@dataclass
class People:
    tenant_id: int
    other_tenant_id: int
    ids: dict[str, int]


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~0.1 s a hash; these tests are about searching, not hashing strength."""
    monkeypatch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def people(engine: Engine) -> Iterator[tuple[Connection, People]]:
    """Acme with a few people (one inactive) and another tenant with a namesake."""
    acme = create_tenant(engine, "acme", {"en": "Acme"})
    other = create_tenant(engine, "other", {"en": "Other"})
    with engine.begin() as connection:
        hq = org.create_unit(connection, acme.id, "hq", {"en": "HQ"}, "group")
        elsewhere = org.create_unit(connection, other.id, "hq", {"en": "HQ"}, "group")
        ids = {}
        for email, name in [
            ("wang.wei@acme.cn", "王伟"),
            ("li.na@acme.cn", "李娜"),
            ("zhang.wei@acme.cn", "张伟"),
            ("ops_team@acme.cn", "Ops 100% Team"),
            ("Lucy.Smith@Acme.cn", "Lucy Smith"),
            ("amy.wang@acme.cn", "Amy Wang"),
            ("gone@acme.cn", "王伟 (left)"),
        ]:
            user = users.create_user(connection, acme.id, email, name, "pa55word", hq.id)
            ids[email.lower()] = user.id
        users.set_active(connection, ids["gone@acme.cn"], False)
        users.create_user(
            connection, other.id, "wang.wei@other.cn", "王伟", "pa55word", elsewhere.id
        )
    with engine.begin() as connection:
        yield connection, People(acme.id, other.id, ids)


def _emails(matches: list[users.UserMatch]) -> list[str]:
    return [match.email for match in matches]


def test_user_search_finds_a_chinese_name_by_any_character(people) -> None:
    connection, found = people
    matches = users.search_users(connection, found.tenant_id, "伟")
    assert set(_emails(matches)) == {"wang.wei@acme.cn", "zhang.wei@acme.cn"}
    assert {m.display_name for m in matches} == {"王伟", "张伟"}


def test_user_search_matches_email_and_name_in_any_case(people) -> None:
    connection, found = people
    assert _emails(users.search_users(connection, found.tenant_id, "LI.NA@")) == ["li.na@acme.cn"]
    assert _emails(users.search_users(connection, found.tenant_id, "lucy sm")) == [
        "lucy.smith@acme.cn"
    ]


def test_user_search_leaves_out_inactive_users_and_other_tenants(people) -> None:
    connection, found = people
    matches = users.search_users(connection, found.tenant_id, "王伟")
    assert _emails(matches) == ["wang.wei@acme.cn"]
    assert matches[0].id == found.ids["wang.wei@acme.cn"]
    others = users.search_users(connection, found.other_tenant_id, "wang")
    assert _emails(others) == ["wang.wei@other.cn"]


def test_user_search_puts_names_and_emails_starting_with_the_text_first(people) -> None:
    connection, found = people
    # By name alone "Amy Wang" would come before "王伟"; wang.wei's email starts with "wang".
    assert _emails(users.search_users(connection, found.tenant_id, "wang")) == [
        "wang.wei@acme.cn",
        "amy.wang@acme.cn",
    ]
    assert _emails(users.search_users(connection, found.tenant_id, "lu")) == ["lucy.smith@acme.cn"]


def test_user_search_takes_like_wildcards_literally(people) -> None:
    connection, found = people
    assert _emails(users.search_users(connection, found.tenant_id, "100%")) == ["ops_team@acme.cn"]
    assert _emails(users.search_users(connection, found.tenant_id, "s_t")) == ["ops_team@acme.cn"]
    # As wildcards, "%" would match everyone and "y_s" both of Lucy Smith's name and email.
    assert _emails(users.search_users(connection, found.tenant_id, "%")) == ["ops_team@acme.cn"]
    assert users.search_users(connection, found.tenant_id, "y_s") == []


def test_empty_user_search_lists_active_users_by_name_up_to_the_limit(people) -> None:
    connection, found = people
    everyone = users.search_users(connection, found.tenant_id, "  ")
    names = [m.display_name for m in everyone]
    # Latin names sort the same under every collation; the Chinese ones follow the database's.
    assert names[:3] == ["Amy Wang", "Lucy Smith", "Ops 100% Team"]
    assert sorted(names[3:]) == sorted(["张伟", "李娜", "王伟"])
    assert len(users.search_users(connection, found.tenant_id, "", limit=2)) == 2


@pytest.mark.parametrize(
    ("query", "limit", "message"),
    [
        ("x" * 101, 20, "101 characters long; use at most 100"),
        ("wang", 0, "between 1 and 100 matches; 0 was asked"),
        ("wang", 101, "between 1 and 100 matches; 101 was asked"),
    ],
)
def test_user_search_refuses_overlong_text_and_unusable_limits(
    people, query: str, limit: int, message: str
) -> None:
    connection, found = people
    with pytest.raises(InvalidOperation, match=message):
        users.search_users(connection, found.tenant_id, query, limit=limit)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_user_search_reaches_the_tenant_through_an_index(people) -> None:
    connection, found = people
    with statements_sent(connection) as sent:
        users.search_users(connection, found.tenant_id, "wei")
    [search] = sent
    plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + search.sql, search.parameters).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH users USING INDEX" in details, details
    assert "SCAN users" not in details, details
