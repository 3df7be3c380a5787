"""The pickers' JSON endpoints: users and org units of the signed-in user's organisation only."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from crm_platform.runtime import users
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.tenants import create_tenant
from tests.web.conftest import HTTP_ONLY, Org, add_user, sign_in


def _results(client: FlaskClient, path: str) -> list[dict]:
    response = client.get(path)
    assert response.status_code == 200, path
    results: list[dict] = response.get_json()["results"]
    return results


def test_user_picker_finds_colleagues_by_name_or_email_with_the_email_as_detail(
    client: FlaskClient, acme: Org
) -> None:
    sign_in(client, acme.rep_a)
    by_name = _results(client, "/api/users?q=rep")
    assert [(r["title"], r["detail"]) for r in by_name] == [
        ("Rep A", "rep.a@acme.cn"),
        ("Rep B", "rep.b@acme.cn"),
    ]
    assert by_name[0]["id"] == acme.user_ids["rep_a"]
    by_email = _results(client, "/api/users?q=HEAD@ACME")
    assert [r["title"] for r in by_email] == ["BU Head"]


def test_user_picker_leaves_out_other_tenants_and_deactivated_users(
    client: FlaskClient, acme: Org, web_engine: Engine
) -> None:
    other = create_tenant(web_engine, "other", {"en": "Other"})
    with web_engine.begin() as connection:
        unit = create_unit(connection, other.id, "hq", {"en": "HQ"}, "group")
        add_user(connection, other.id, "rep.c@other.cn", "Rep C", unit.id)
        users.set_active(connection, acme.user_ids["rep_b"], False)
    sign_in(client, acme.rep_a)
    assert [r["title"] for r in _results(client, "/api/users?q=rep")] == ["Rep A"]


def test_unit_picker_names_the_path_above_each_unit(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.rep_a)
    found = _results(client, "/api/org-units?q=branch")
    assert [(r["title"], r["detail"], r["key"]) for r in found] == [
        ("Branch A", "Group / BU East", "branch_a"),
        ("Branch B", "Group / BU East", "branch_b"),
    ]
    assert found[0]["id"] == acme.branch_a
    assert [r["key"] for r in _results(client, "/api/org-units?q=BRANCH_B")] == ["branch_b"]


def test_unit_picker_leaves_out_other_tenants_units(
    client: FlaskClient, acme: Org, web_engine: Engine
) -> None:
    other = create_tenant(web_engine, "other", {"en": "Other"})
    with web_engine.begin() as connection:
        create_unit(connection, other.id, "branch_z", {"en": "Branch Z"}, "group")
    sign_in(client, acme.rep_a)
    assert "branch_z" not in [r["key"] for r in _results(client, "/api/org-units?q=branch")]


@HTTP_ONLY
def test_picker_searches_need_sign_in(client: FlaskClient, acme: Org) -> None:
    for path in ("/api/users?q=rep", "/api/org-units?q=branch"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"], path


@HTTP_ONLY
def test_overlong_search_text_is_cut_to_the_search_length_not_refused(
    client: FlaskClient, acme: Org
) -> None:
    sign_in(client, acme.rep_a)
    assert _results(client, "/api/users?q=" + "rep" * 200) == []
    assert _results(client, "/api/org-units?q=" + "x" * 500) == []


@HTTP_ONLY
def test_api_index_lists_the_picker_endpoints(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.rep_a)
    endpoints = {e["name"]: e["url"] for e in client.get("/api/").get_json()["endpoints"]}
    assert endpoints["users"] == "/api/users"
    assert endpoints["org_units"] == "/api/org-units"
