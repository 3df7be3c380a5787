"""Signing in and out, CSRF, lockout, security headers, languages and the error pages."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blueprints.app import create_app
from crm_platform.runtime import users
from crm_platform.runtime.records import RecordService
from tests.web.conftest import HTTP_ONLY, PASSWORD, Org, csrf_token, post, sign_in


@HTTP_ONLY
def test_pages_require_sign_in(client: FlaskClient, acme: Org) -> None:
    for path in ("/", "/designer/", "/admin/", "/api/", "/api/regions"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in"), path


@HTTP_ONLY
def test_sign_in_page_preselects_the_only_organisation(client: FlaskClient, acme: Org) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert '<option value="acme" selected>Acme Group</option>' in page
    assert 'name="email"' in page and 'name="password"' in page


def test_sign_in_and_out(client: FlaskClient, acme: Org) -> None:
    response = sign_in(client, acme.rep_a)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Rep A" in home.get_data(as_text=True)
    out = post(client, "/sign-out", {})
    assert out.status_code == 302
    assert client.get("/").status_code == 302


@HTTP_ONLY
def test_session_cookie_is_http_only_and_same_site_lax(client: FlaskClient, acme: Org) -> None:
    response = sign_in(client, acme.rep_a)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@HTTP_ONLY
def test_session_cookie_is_secure_over_https(client: FlaskClient, acme: Org) -> None:
    token = csrf_token(client)
    response = client.post(
        "/sign-in",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/sign-in"},
        data={
            "csrf_token": token,
            "organisation": "acme",
            "email": acme.rep_a,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_and_unknown_email_get_the_same_message(
    client: FlaskClient, acme: Org
) -> None:
    wrong = sign_in(client, acme.rep_a, "not the password")
    unknown = sign_in(client, "nobody@acme.cn", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    message = "The organisation, email or password is not correct."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_five_failures_lock_the_account_even_for_the_right_password(
    client: FlaskClient, acme: Org
) -> None:
    for _ in range(5):
        assert sign_in(client, acme.rep_a, "wrong password").status_code == 401
    locked = sign_in(client, acme.rep_a)
    assert locked.status_code == 429
    assert "Sign-in is blocked for 15 minutes" in locked.get_data(as_text=True)
    assert client.get("/").status_code == 302
    # Another address is not locked out by someone else's guessing.
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert sign_in(client, acme.rep_a).status_code == 302


def test_lockout_does_not_reveal_whether_the_account_exists(client: FlaskClient, acme: Org) -> None:
    for _ in range(5):
        sign_in(client, "ghost@acme.cn", "wrong password")
    locked = sign_in(client, "ghost@acme.cn", "wrong password")
    assert locked.status_code == 429


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sign-in", {"organisation": "acme", "email": "rep.a@acme.cn", "password": PASSWORD}),
        ("/language", {"language": "en"}),
        ("/sign-out", {}),
    ],
)
@HTTP_ONLY
def test_post_without_csrf_token_is_refused(
    client: FlaskClient, acme: Org, path: str, data: dict[str, str]
) -> None:
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)


@HTTP_ONLY
def test_signed_in_post_without_csrf_token_is_refused(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.matrix)
    response = client.post("/unit-context", data={"unit_id": str(acme.bu)})
    assert response.status_code == 400


@HTTP_ONLY
def test_security_headers_on_every_page(client: FlaskClient, acme: Org) -> None:
    for response in (client.get("/sign-in"), client.get("/no-such-page")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers
    secure = client.get("/sign-in", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


@HTTP_ONLY
def test_pages_have_no_inline_scripts_or_styles(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    pages = {"/sign-in": client.get("/sign-in")}
    sign_in(client, acme.admin)
    pages.update((path, client.get(path)) for path in ("/", "/admin/", "/designer/"))
    for path, response in pages.items():
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", page) is None, path
        assert " style=" not in page and "<style" not in page, path
        assert re.search(r"\son[a-z]+=", page) is None, path


@HTTP_ONLY
def test_language_follows_the_browser_before_sign_in(client: FlaskClient, acme: Org) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-TW,zh;q=0.8"
    assert "登入" in client.get("/sign-in").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9,en;q=0.5"
    assert "登录" in client.get("/sign-in").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB"
    assert "Sign in" in client.get("/sign-in").get_data(as_text=True)


@HTTP_ONLY
def test_language_chosen_before_sign_in_is_kept_in_the_session(
    client: FlaskClient, acme: Org
) -> None:
    response = post(client, "/language", {"language": "zh-Hant", "next": "/sign-in"}, "/sign-in")
    assert response.headers["Location"] == "/sign-in"
    assert '<html lang="zh-Hant">' in client.get("/sign-in").get_data(as_text=True)


def test_signed_in_user_language_is_their_setting_and_switching_stores_it(
    app: Flask, acme: Org
) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, acme.bu_head)  # their setting is zh-Hans although the browser asks for en
    assert '<html lang="zh-Hans">' in client.get("/").get_data(as_text=True)
    post(client, "/language", {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    # Stored on the user: a new session in a Chinese browser still gets English.
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    sign_in(other, acme.bu_head)
    assert '<html lang="en">' in other.get("/").get_data(as_text=True)


@HTTP_ONLY
def test_unknown_language_is_a_bad_request(client: FlaskClient, acme: Org) -> None:
    assert post(client, "/language", {"language": "fr"}, "/sign-in").status_code == 400


@HTTP_ONLY
def test_language_switch_never_redirects_off_site(client: FlaskClient, acme: Org) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = post(client, "/language", {"language": "en", "next": target}, "/sign-in")
        assert "evil" not in response.headers["Location"]


@HTTP_ONLY
def test_next_after_sign_in_stays_on_site(client: FlaskClient, acme: Org) -> None:
    token = csrf_token(client)
    response = client.post(
        "/sign-in?next=https://evil.example/",
        data={
            "csrf_token": token,
            "organisation": "acme",
            "email": acme.rep_a,
            "password": PASSWORD,
        },
    )
    assert response.headers["Location"] == "/"


def test_unit_chooser_for_a_user_with_several_units(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.matrix)
    page = client.get("/").get_data(as_text=True)
    assert 'name="unit_id"' in page
    assert "Branch A" in page and "BU East" in page
    response = post(client, "/unit-context", {"unit_id": str(acme.bu), "next": "/"})
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert re.search(rf'<option value="{acme.bu}" selected>BU East</option>', page)


@HTTP_ONLY
def test_unit_chooser_refuses_a_unit_the_user_has_no_role_at(
    client: FlaskClient, acme: Org
) -> None:
    sign_in(client, acme.matrix)
    assert post(client, "/unit-context", {"unit_id": str(acme.branch_b)}).status_code == 400


@HTTP_ONLY
def test_user_with_one_unit_gets_no_chooser(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.rep_a)
    assert 'name="unit_id"' not in client.get("/").get_data(as_text=True)


@HTTP_ONLY
def test_unknown_page_is_a_friendly_404(client: FlaskClient, acme: Org) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


@HTTP_ONLY
def test_500_page_shows_a_reference_and_logs_the_details(
    web_engine, database_url: str, acme: Org, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(
        {"SECRET_KEY": "s", "DATABASE_URL": database_url, "ENGINE": web_engine,
         "PROPAGATE_EXCEPTIONS": False}
    )  # fmt: skip

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("the details")

    with caplog.at_level(logging.ERROR, logger="crm_platform.web"):
        response = app.test_client().get("/boom", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    reference = re.search(r'id="error-reference">([0-9a-f]{12})<', page)
    assert reference is not None
    assert "the details" not in page
    logged = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "the details" in str(logged[0].exc_info[1])


@HTTP_ONLY
def test_hostile_tenant_name_is_escaped(client: FlaskClient, web_engine, acme: Org) -> None:
    from crm_platform.runtime.tenants import create_tenant

    create_tenant(web_engine, "evil", {"en": "<script>alert(1)</script>"})
    page = client.get("/sign-in").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@HTTP_ONLY
def test_regions_api_serves_the_picker(client: FlaskClient, acme: Org) -> None:
    sign_in(client, acme.rep_a)
    provinces = client.get("/api/regions").get_json()["regions"]
    assert any(item["code"] == "110000" for item in provinces)
    path = client.get("/api/regions/110101/path").get_json()["path"]
    assert [item["code"] for item in path][0] == "110000"
    assert path[-1]["code"] == "110101"


def test_language_picked_on_the_sign_in_page_is_kept_on_the_account(
    client: FlaskClient, acme: Org
) -> None:
    post(client, "/language", {"language": "zh-Hant", "next": "/sign-in"}, "/sign-in")
    sign_in(client, acme.bu_head)  # their stored language was zh-Hans
    assert '<html lang="zh-Hant">' in client.get("/").get_data(as_text=True)
    post(client, "/sign-out", {})
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, acme.bu_head)
    assert '<html lang="zh-Hant">' in client.get("/").get_data(as_text=True)


def test_language_left_behind_by_sign_out_does_not_change_the_next_account(
    client: FlaskClient, acme: Org
) -> None:
    sign_in(client, acme.bu_head)  # zh-Hans
    post(client, "/sign-out", {})
    sign_in(client, acme.rep_a)  # en
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


@HTTP_ONLY
def test_administrator_sees_and_opens_the_designer_and_administration(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.admin)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/designer/"' in home and 'href="/admin/"' in home
    assert "branch_a" in client.get("/admin/").get_data(as_text=True)
    assert client.get("/designer/").status_code == 200


@HTTP_ONLY
@pytest.mark.parametrize("who", ["rep_a", "bu_head", "matrix"])
def test_designer_and_administration_are_404_without_an_administering_role(
    client: FlaskClient, acme: Org, published: RecordService, who: str
) -> None:
    sign_in(client, getattr(acme, who))
    home = client.get("/").get_data(as_text=True)
    assert 'href="/designer/"' not in home and 'href="/admin/"' not in home
    assert client.get("/designer/").status_code == 404
    assert client.get("/admin/").status_code == 404


@HTTP_ONLY
def test_administering_role_held_below_the_root_unit_does_not_administer(
    client: FlaskClient, acme: Org, published: RecordService, web_engine
) -> None:
    with web_engine.begin() as connection:
        users.assign_role(connection, acme.user_ids["rep_a"], "administrator", acme.branch_a)
    sign_in(client, acme.rep_a)
    assert client.get("/admin/").status_code == 404
    assert client.get("/designer/").status_code == 404


def test_deactivated_user_is_signed_out_on_the_next_request(
    client: FlaskClient, web_engine, acme: Org
) -> None:
    sign_in(client, acme.rep_a)
    assert client.get("/").status_code == 200
    with web_engine.begin() as connection:
        users.set_active(connection, acme.user_ids["rep_a"], False)
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_session_naming_the_user_under_another_tenant_is_signed_out(
    client: FlaskClient, web_engine, acme: Org
) -> None:
    from crm_platform.runtime.tenants import create_tenant

    other = create_tenant(web_engine, "other", {"en": "Other"})
    sign_in(client, acme.rep_a)
    with client.session_transaction() as session:
        session["_user_id"] = f"{other.id}:{acme.user_ids['rep_a']}"
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_session_of_a_dropped_tenant_is_signed_out(
    client: FlaskClient, web_engine, acme: Org
) -> None:
    from crm_platform.runtime.tenants import drop_tenant

    sign_in(client, acme.rep_a)
    assert client.get("/").status_code == 200
    drop_tenant(web_engine, "acme")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


@HTTP_ONLY
@pytest.mark.parametrize("reference", ["7", "a:b", "1:2:3", ""])
def test_malformed_session_reference_is_signed_out(
    client: FlaskClient, acme: Org, reference: str
) -> None:
    sign_in(client, acme.rep_a)
    with client.session_transaction() as session:
        session["_user_id"] = reference
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
