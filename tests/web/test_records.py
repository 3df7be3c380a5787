"""Generated screens: navigation, list, form, record page, conflicts, scope and field security."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.users import principal_for
from tests.web.conftest import Org, csrf_token, sign_in
from tests.web.world import DOCUMENTS, HOSTILE

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(serial: int) -> str:
    """A valid unified social credit code for a serial number."""
    body = "91350100" + f"{serial:09d}"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def principal(service: RecordService, user_id: int) -> Principal:
    with service.engine.connect() as connection:
        return principal_for(connection, user_id)


def create(service: RecordService, acme: Org, user: str, entity: str = "account", **values: Any):
    return service.create(principal(service, acme.user_ids[user]), entity, values)


def text(response) -> str:
    return response.get_data(as_text=True)


def form_post(client: FlaskClient, path: str, data: dict[str, Any], token_from: str):
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **data})


# -- navigation and lists --------------------------------------------------------------------------


def test_navigation_lists_entities_in_order_with_localized_labels(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    page = text(client.get("/"))
    nav = page[page.index('class="sidebar"') :]
    assert nav.index("Accounts") < nav.index("Contacts")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    # The user's own setting (en) wins over the browser.
    assert "Accounts" in text(client.get("/"))


def test_hostile_entity_label_is_shown_as_text(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.admin)
    for path in ("/", "/r/account/new", "/designer/"):
        response = client.get(path)
        assert response.status_code == 200, path
        page = text(response)
        assert HOSTILE not in page, path
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text(client.get("/"))


def test_unknown_entity_is_404(client: FlaskClient, acme: Org, published: RecordService) -> None:
    sign_in(client, acme.rep_a)
    assert client.get("/r/nothing/").status_code == 404
    assert client.get("/r/nothing/1").status_code == 404


def test_new_form_has_sections_widgets_and_conditions(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    page = text(client.get("/r/account/new"))
    assert "Basics" in page and "More" in page
    assert re.search(r'<select id="field-stage" name="stage"', page)
    assert 'name="amount_currency"' in page
    assert 'type="date" id="field-founded"' in page
    assert "data-uscc" in page and "data-region-code" in page
    # The lost reason is shown only for lost deals, live in the browser.
    block = re.search(r'<div class="field[^"]*" data-field="lost_reason"[^>]*>', page)
    assert block and "hidden" in block.group(0)
    assert "data-visible-when=" in block.group(0)
    locked = re.search(r'data-field="amount"[^>]*data-readonly-when="([^"]+)"', page)
    assert locked and "&#34;won&#34;" in locked.group(1)


def test_list_shows_configured_columns_and_count(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_a", name="Alpha Trading", city="Hangzhou")
    sign_in(client, acme.rep_a)
    page = text(client.get("/r/account/"))
    headers = re.findall(r"<th scope=\"col\"[^>]*>\s*(?:<a [^>]*>)?([^<]+)", page)
    assert [h.strip() for h in headers] == [
        "Name", "Credit code", "Stage", "Amount", "City", "Phone", "Secret", "Owner",
        "Owning unit", "Updated at",
    ]  # fmt: skip
    assert "Alpha Trading" in page
    assert re.search(r'id="record-count">\s*1 record\b', page)


def _record_id(response) -> int:
    found = re.search(r"/r/\w+/(\d+)$", response.headers["Location"])
    assert found, response.headers.get("Location")
    return int(found.group(1))


def test_create_shows_validation_messages_beside_fields_then_saves(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    bad = form_post(
        client,
        "/r/account/new",
        {"name": "", "uscc": "91350100000000001X", "stage": "open", "employees": "many"},
        "/r/account/new",
    )
    assert bad.status_code == 422
    page = text(bad)
    for key in ("name", "uscc", "employees"):
        assert re.search(
            rf'<p class="field-error" id="error-{key}" role="alert">[^<]+</p>', page
        ), key
    # What the user typed is kept.
    assert 'value="91350100000000001X"' in page and 'value="many"' in page
    good = form_post(
        client,
        "/r/account/new",
        {"name": "Beta Machinery", "uscc": uscc(7), "stage": "open", "amount": "1,200.50",
         "amount_currency": "USD", "region": "330106", "founded": "2019-05-04"},
        "/r/account/new",
    )  # fmt: skip
    assert good.status_code == 302
    shown = text(client.get(good.headers["Location"]))
    assert "Beta Machinery" in shown and uscc(7) in shown
    assert '<dd data-field="amount">$1,200.50</dd>' in shown
    assert "Zhejiang / Hangzhou / Xihu District" in shown
    assert "May 4, 2019" in shown
    assert re.search(r'id="record-owner">Rep A<', shown)
    assert re.search(r'id="record-unit">Branch A<', shown)


def test_record_of_a_sibling_branch_is_404_by_list_url_and_picker(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Gamma Secret Works")
    sign_in(client, acme.rep_b)
    assert "Gamma Secret Works" not in text(client.get("/r/account/"))
    for path in (f"/r/account/{record['id']}", f"/r/account/{record['id']}/edit"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Gamma" not in text(response)
    assert client.get("/api/lookup/account?q=Gamma").get_json() == {"results": []}
    token = csrf_token(client, "/r/account/")
    update = client.post(
        f"/r/account/{record['id']}/edit",
        data={"csrf_token": token, "_version": "1", "name": "Stolen"},
    )
    assert update.status_code == 404
    assert (
        published.get(principal(published, acme.user_ids["rep_a"]), "account", record["id"])["name"]
        == "Gamma Secret Works"
    )


def test_bu_head_sees_the_records_of_the_branches_below(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_a", name="Delta A")
    create(published, acme, "rep_b", name="Delta B")
    sign_in(client, acme.bu_head)
    page = text(client.get("/r/account/"))
    assert "Delta A" in page and "Delta B" in page
    lookup = client.get("/api/lookup/account?q=Delta").get_json()["results"]
    assert sorted(item["title"] for item in lookup) == ["Delta A", "Delta B"]


def test_unit_context_changes_what_the_list_shows(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_b", name="Epsilon B")
    sign_in(client, acme.matrix)  # works at branch A by default, also holds a role at the BU
    assert "Epsilon B" not in text(client.get("/r/account/"))
    form_post(client, "/unit-context", {"unit_id": str(acme.bu)}, "/")
    assert "Epsilon B" in text(client.get("/r/account/"))


def test_field_security_hidden_masked_and_read_only_in_html(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(
        published, acme, "rep_a", name="Zeta", phone="13812345678", city="Ningbo", secret="s3cr3t"
    )
    sign_in(client, acme.restricted)
    listing = text(client.get("/r/account/"))
    assert "Secret" not in listing and "s3cr3t" not in listing
    assert "138****5678" in listing and "13812345678" not in listing
    shown = text(client.get(f"/r/account/{record['id']}"))
    assert "s3cr3t" not in shown and "Secret" not in shown
    assert '<dd data-field="phone" class="masked">138****5678</dd>' in shown
    form = text(client.get(f"/r/account/{record['id']}/edit"))
    assert 'name="secret"' not in form and "s3cr3t" not in form
    assert 'name="city"' not in form and 'name="phone"' not in form
    assert re.search(r'id="field-city" data-readonly[^>]*>Ningbo<', form)
    assert "13812345678" not in form


def test_fields_the_user_may_not_edit_are_never_written(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Eta", city="Ningbo", secret="keep")
    sign_in(client, acme.restricted)
    path = f"/r/account/{record['id']}/edit"
    response = form_post(
        client,
        path,
        {"_version": "1", "name": "Eta Renamed", "city": "Hacked", "secret": "leaked",
         "_orig": '{"name": "Eta"}'},
        path,
    )  # fmt: skip
    assert response.status_code == 302
    stored = published.get(principal(published, acme.user_ids["rep_a"]), "account", record["id"])
    assert (stored["name"], stored["city"], stored["secret"]) == ("Eta Renamed", "Ningbo", "keep")


def test_conditions_are_enforced_on_the_server(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(
        published, acme, "rep_a", name="Theta", stage="won",
        amount={"amount": "100", "currency": "CNY"},
    )  # fmt: skip
    sign_in(client, acme.rep_a)
    path = f"/r/account/{record['id']}/edit"
    form = text(client.get(path))
    assert re.search(r'data-field="amount"[^>]*>', form)
    response = form_post(
        client, path,
        {"_version": "1", "name": "Theta", "stage": "won", "amount": "999",
         "amount_currency": "CNY", "lost_reason": "sneaked in"},
        path,
    )  # fmt: skip
    assert response.status_code == 302
    stored = published.get(principal(published, acme.user_ids["rep_a"]), "account", record["id"])
    assert stored["amount"]["amount"] == 100
    assert stored["lost_reason"] is None


def test_stale_version_shows_a_conflict_page_and_merges(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Iota", city="Ningbo", employees=10)
    sign_in(client, acme.rep_a)
    path = f"/r/account/{record['id']}/edit"
    form = text(client.get(path))
    original = re.search(r'name="_orig" value="([^"]+)"', form).group(1)
    original = original.replace("&#34;", '"')
    # Someone else saves first.
    other = principal(published, acme.user_ids["bu_head"])
    published.update(other, "account", record["id"], {"city": "Wenzhou", "employees": 20}, 1)
    token = csrf_token(client, path)
    mine = {"csrf_token": token, "_version": "1", "_orig": original, "name": "Iota",
            "city": "Shaoxing", "employees": "10"}  # fmt: skip
    conflict = client.post(path, data=mine)
    assert conflict.status_code == 409
    page = text(conflict)
    assert "Wenzhou" in page and "Shaoxing" in page
    assert 'name="merge.city"' in page and 'name="merge.employees"' not in page
    stored = published.get(other, "account", record["id"])
    assert stored["city"] == "Wenzhou"  # nothing was overwritten
    version = re.search(r'name="_version" value="(\d+)"', page).group(1)
    merged = client.post(
        path,
        data={**mine, "csrf_token": csrf_token(client, path), "_version": version,
              "merge.city": "theirs"},
    )  # fmt: skip
    assert merged.status_code == 302
    stored = published.get(other, "account", record["id"])
    assert (stored["city"], stored["employees"]) == ("Wenzhou", 20)
    kept_mine = client.post(
        path,
        data={**mine, "csrf_token": csrf_token(client, path), "_version": str(stored["version"]),
              "merge.city": "mine"},
    )  # fmt: skip
    assert kept_mine.status_code == 302
    assert published.get(other, "account", record["id"])["city"] == "Shaoxing"


def test_hostile_values_are_shown_as_text(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name=HOSTILE, notes=HOSTILE)
    sign_in(client, acme.rep_a)
    for path in ("/r/account/", f"/r/account/{record['id']}", f"/r/account/{record['id']}/edit"):
        page = text(client.get(path))
        assert HOSTILE not in page, path
        assert "&lt;script&gt;" in page, path


def test_keyset_pages_forward_and_back(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    for number in range(7):
        create(published, acme, "rep_a", name=f"Page {number}")
    sign_in(client, acme.rep_a)
    first = text(client.get("/r/account/"))
    assert first.count('name="selected"') == 5
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(client.get(next_link))
    assert second.count('name="selected"') == 2
    assert 'rel="next"' not in second
    prev_link = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    back = text(client.get(prev_link))
    assert re.findall(r'data-id="(\d+)"', back) == re.findall(r'data-id="(\d+)"', first)


def test_count_is_capped(
    client: FlaskClient, acme: Org, published: RecordService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blueprints import list_page

    for number in range(4):
        create(published, acme, "rep_a", name=f"Count {number}")
    monkeypatch.setattr(list_page, "COUNT_CAP", 3)
    sign_in(client, acme.rep_a)
    assert re.search(r'id="record-count">\s*3\+ records', text(client.get("/r/account/")))


def test_search_filters_and_sort(client: FlaskClient, acme: Org, published: RecordService) -> None:
    create(published, acme, "rep_a", name="Kappa", city="Hangzhou", stage="won",
           amount={"amount": "500", "currency": "CNY"}, founded="2020-01-01")  # fmt: skip
    create(published, acme, "rep_a", name="Lambda", city="Suzhou", stage="open",
           amount={"amount": "50", "currency": "CNY"}, founded="2010-01-01")  # fmt: skip
    sign_in(client, acme.rep_a)

    def names(query: str) -> list[str]:
        page = text(client.get("/r/account/?" + query))
        return re.findall(r'<a href="/r/account/\d+">([^<]+)</a>', page)

    assert names("q=hangzhou") == ["Kappa"]
    assert names("f.stage=open") == ["Lambda"]
    assert names("f.amount.min=100") == ["Kappa"]
    assert names("f.amount.max=100&f.stage=won") == []
    assert names("sort=updated_at") == ["Kappa", "Lambda"]
    assert names("sort=-updated_at") == ["Lambda", "Kappa"]
    # A column that is not indexed cannot be sorted: the parameter is ignored.
    assert names("sort=city") == ["Lambda", "Kappa"]
    assert names("scope=mine") == ["Lambda", "Kappa"]
    assert names("f.owner_user_id=me") == ["Lambda", "Kappa"]
    assert names(f"f.owning_unit_id={acme.branch_a}") == ["Lambda", "Kappa"]
    assert names(f"f.owning_unit_id={acme.branch_b}") == []
    page = text(client.get("/r/account/"))
    assert 'data-sort="updated_at"' in page and 'data-sort="city"' not in page


def test_record_page_lists_related_records_and_history(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    account = create(published, acme, "rep_a", name="Mu Holdings", stage="open")
    create(published, acme, "rep_a", "contact", name="Wang Wei", account=account["id"])
    rep = principal(published, acme.user_ids["rep_a"])
    published.update(rep, "account", account["id"], {"stage": "won"}, 1)
    sign_in(client, acme.rep_a)
    page = text(client.get(f"/r/account/{account['id']}"))
    related = page[page.index('data-related="contact"') :]
    assert "Wang Wei" in related
    history = page[page.index('id="history"') :]
    assert "Changed" in history and "Created" in history
    assert re.search(
        r"Stage: <span class=\"change-old\">Open</span> → <span class=\"change-new\">Won", history
    )
    contact_form = text(client.get("/r/contact/new"))
    assert 'data-lookup-url="/api/lookup/account"' in contact_form


def test_delete_removes_the_record_from_the_list(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Nu Deleted")
    sign_in(client, acme.rep_a)
    path = f"/r/account/{record['id']}"
    response = form_post(client, path + "/delete", {"_version": "1"}, path)
    assert response.status_code == 302
    assert "Nu Deleted" not in text(client.get("/r/account/"))
    assert client.get(path).status_code == 404


def test_zh_locale_formats_amounts_and_labels(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "bu_head", name="Xi", stage="won",
                    amount={"amount": "123456789.5", "currency": "CNY"})  # fmt: skip
    sign_in(client, acme.bu_head)  # their language is zh-Hans
    page = text(client.get(f"/r/account/{record['id']}"))
    assert "¥123,456,789.50" in page
    assert "赢单" in page and "基本信息" in page


def test_navigation_leaves_out_entities_the_roles_do_not_let_the_user_read(
    web_engine, database_url: str, acme: Org
) -> None:
    from blueprints.app import create_app
    from crm_platform.runtime import users

    app = create_app({"SECRET_KEY": "s", "DATABASE_URL": database_url, "ENGINE": web_engine})
    role = {
        "kind": "role",
        "key": "account_reader",
        "label": {"en": "Account reader"},
        "privileges": {"account": {"read": "unit"}},
    }
    app.extensions["crm_platform"].store.publish("acme", None, "test", documents=[*DOCUMENTS, role])
    with web_engine.begin() as connection:
        users.assign_role(connection, acme.user_ids["rep_a"], "account_reader", acme.branch_a)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, acme.rep_a)
    nav = text(client.get("/"))
    nav = nav[nav.index('class="sidebar"') :]
    assert "Accounts" in nav and "Contacts" not in nav
    assert client.get("/r/contact/").status_code == 404
    assert client.get("/r/account/").status_code == 200


def test_unit_layer_form_applies_to_its_unit_only(
    client: FlaskClient, acme: Org, published: RecordService, store
) -> None:
    branch_form = {
        "kind": "form",
        "key": "account_branch_a",
        "entity": "account",
        "label": {"en": "Branch A account"},
        "default": True,
        "sections": [
            {"key": "quick", "label": {"en": "Quick entry"}, "columns": [[{"field": "name"}]]}
        ],
    }
    store.publish("acme", "branch_a", "test", documents=[branch_form])
    sign_in(client, acme.rep_a)
    mine = text(client.get("/r/account/new"))
    assert "Quick entry" in mine and 'name="uscc"' not in mine
    form_post(client, "/sign-out", {}, "/")
    sign_in(client, acme.rep_b)
    theirs = text(client.get("/r/account/new"))
    assert "Quick entry" not in theirs and 'name="uscc"' in theirs


def test_record_routes_require_sign_in_and_csrf(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Omicron")
    base = f"/r/account/{record['id']}"
    for path in ("/r/account/", "/r/account/new", base, base + "/edit", "/api/lookup/account"):
        response = client.get(path)
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"], path
    sign_in(client, acme.rep_a)
    for path in ("/r/account/new", base + "/edit", base + "/delete"):
        assert client.post(path, data={"_version": "1", "name": "x"}).status_code == 400, path
    assert published.get(principal(published, acme.user_ids["rep_a"]), "account", record["id"])


def test_edit_without_a_version_is_a_bad_request(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    record = create(published, acme, "rep_a", name="Pi")
    sign_in(client, acme.rep_a)
    path = f"/r/account/{record['id']}/edit"
    response = form_post(client, path, {"name": "Pi 2"}, path)
    assert response.status_code == 400
    assert "missing or malformed" in text(response)


def test_owner_and_unit_subtree_filters(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_a", name="Rho A")
    create(published, acme, "rep_b", name="Rho B")
    create(published, acme, "bu_head", name="Rho Head")
    sign_in(client, acme.bu_head)

    def names(query: str) -> list[str]:
        page = text(client.get("/r/account/?" + query))
        return sorted(re.findall(r'<a href="/r/account/\d+">([^<]+)</a>', page))

    assert names("") == ["Rho A", "Rho B", "Rho Head"]
    assert names("f.owner_user_id=me") == ["Rho Head"]
    assert names(f"f.owning_unit_id={acme.branch_b}") == ["Rho B"]
    assert names(f"f.owning_unit_id={acme.bu}") == ["Rho A", "Rho B", "Rho Head"]
    page = text(client.get("/r/account/"))
    unit_filter = re.search(r'<select id="f-owning_unit_id".*?</select>', page, re.S)
    assert unit_filter and f'value="{acme.bu}"' in unit_filter.group(0)
    assert "BU East 及下级" in unit_filter.group(0)  # their language is zh-Hans
