"""The web application in a real browser, on the test configuration of this package.

Runs against a live server over an SQLite database with the test organisation
(`conftest.make_acme`) and configuration (`world.DOCUMENTS`); the seed CRM's
scenario is in `test_browser_seed.py`. See `browser_support` for Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.store import MetadataStore
from tests.web.browser_support import browser, chromium_path, page, serve, shoot, sign_in
from tests.web.conftest import Org, make_acme, make_app
from tests.web.picker_documents import PICKER_DOCUMENTS
from tests.web.world import create_tables

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures used by the tests below


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Org, str]]:
    """An SQLite database with acme, its users and the test configuration with visits."""
    chromium_path()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'crm.sqlite3'}"
    engine = make_engine(url)
    create_platform_tables(engine)
    acme = make_acme(engine)
    MetadataStore(engine, hooks=[create_tables]).publish(
        "acme", None, "test", documents=PICKER_DOCUMENTS
    )
    yield engine, acme, url
    engine.dispose()


@pytest.fixture(scope="module")
def live_server(world: tuple[Engine, Org, str]) -> Iterator[str]:
    """The app served on 127.0.0.1 at a random port; yields its base URL."""
    engine, acme, url = world
    with serve(make_app(engine, url, MetadataStore(engine), acme)) as base_url:
        yield base_url


def test_sign_in_and_switch_language_to_chinese_and_back(page, world) -> None:
    _engine, acme, _url = world
    page.goto("/sign-in")
    assert page.inner_text("h1") == "Sign in"
    shoot(page, "01-sign-in")
    page.fill("#email", acme.rep_a)
    page.fill("#password", "wrong password")
    page.click("#sign-in")
    assert "not correct" in page.inner_text(".error-summary")
    sign_in(page, acme.rep_a)
    assert "Rep A" in page.inner_text(".user-name")
    shoot(page, "02-home-en")
    page.click("button.lang[value='zh-Hans']")
    page.wait_for_selector("html[lang='zh-Hans']")
    assert page.inner_text("#sign-out") == "退出登录"
    shoot(page, "03-home-zh-hans")
    page.click("button.lang[value='zh-Hant']")
    page.wait_for_selector("html[lang='zh-Hant']")
    assert page.inner_text("#sign-out") == "登出"
    page.click("button.lang[value='en']")
    page.wait_for_selector("html[lang='en']")
    assert page.inner_text("#sign-out") == "Sign out"


def test_no_console_errors_or_csp_violations(page, world) -> None:
    _engine, acme, _url = world
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    sign_in(page, acme.rep_a)
    page.goto("/r/account/new")
    page.select_option("#field-stage", "lost")
    assert page.is_visible("#field-lost_reason")
    assert problems == []


VALID_USCC = "913501000000000077"
INVALID_USCC = "913501000000000070"


def test_rep_creates_customer_fixing_an_invalid_uscc_then_finds_it(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.rep_a)
    page.click("nav.sidebar >> text=Accounts")
    page.click("#new-record")
    page.fill("#field-name", "Browser Trading Co")
    page.fill("#field-uscc", INVALID_USCC)
    # Checked live, before saving.
    page.wait_for_selector("#live-error-uscc:not([hidden])")
    page.select_option("#field-stage", "open")
    page.fill("#field-amount", "88000")
    page.fill("#field-phone", "13900001111")
    # The region picker: province, then city, then district.
    picker = page.locator(".region-picker select")
    picker.nth(0).locator("option[value='330000']").wait_for(state="attached")
    picker.nth(0).select_option("330000")
    picker.nth(1).locator("option[value='330100']").wait_for(state="attached")
    picker.nth(1).select_option("330100")
    picker.nth(2).locator("option[value='330106']").wait_for(state="attached")
    picker.nth(2).select_option("330106")
    shoot(page, "04-new-customer-invalid-uscc")
    page.click("#save")
    page.wait_for_selector("#error-uscc")
    assert page.is_visible("#error-uscc")
    shoot(page, "05-server-error-beside-field")
    page.fill("#field-uscc", VALID_USCC)
    assert page.is_hidden("#live-error-uscc")
    page.click("#save")
    page.wait_for_selector("#record-title")
    assert page.inner_text("#record-title") == "Browser Trading Co"
    assert "Xihu District" in page.inner_text("dd[data-field='region']")
    shoot(page, "06-customer-record")
    page.click("nav.sidebar >> text=Accounts")
    page.fill("#q", "Browser")
    page.click("#apply-filters")
    page.wait_for_selector("#records")
    assert "Browser Trading Co" in page.inner_text("#records")
    page.check("input[data-select-all]")
    assert page.inner_text("[data-selection-count]") == "1 selected"
    shoot(page, "07-customer-list")


def test_rep_links_a_contact_with_the_reference_picker(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.rep_a)
    page.goto("/r/contact/new")
    page.fill("#field-name", "Li Ming")
    page.fill("#field-account", "Browser")
    page.click(".reference-results button >> text=Browser Trading Co")
    page.click("#save")
    page.wait_for_selector("#record-title")
    assert "Browser Trading Co" in page.inner_text("dd[data-field='account']")
    shoot(page, "08-contact-record")
    page.click("dd[data-field='account'] a")
    page.wait_for_selector("[data-related='contact']")
    assert "Li Ming" in page.inner_text("[data-related='contact']")
    shoot(page, "09-customer-with-related-contact")


def test_rep_picks_a_host_and_a_hosting_unit_for_a_visit(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.rep_a)
    page.goto("/r/visit/new")
    page.fill("#field-subject", "Plant tour")
    page.fill("#field-host", "head@")
    hosts = page.locator("[data-field='host'] .reference-results button")
    expect(hosts).to_have_count(1)  # the search by email has answered
    hosts.click()
    page.fill("#field-hosting_unit", "branch b")
    unit = page.locator("[data-field='hosting_unit'] .reference-results button")
    expect(unit).to_have_count(1)
    expect(unit).to_have_text("Branch B Group / BU East")  # the path tells namesakes apart
    shoot(page, "13-visit-unit-picker-with-path")
    unit.click()
    assert page.input_value("#field-hosting_unit") == "Branch B"
    page.click("#save")
    page.wait_for_selector("#record-title")
    assert page.inner_text("dd[data-field='host']") == "BU Head"
    assert page.inner_text("dd[data-field='hosting_unit']") == "Branch B"
    page.click("#edit-record")
    assert page.input_value("#field-host") == "BU Head"
    assert page.input_value("#field-hosting_unit") == "Branch B"
    shoot(page, "14-visit-edit-shows-names")


def test_admin_explains_a_reps_access_after_picking_the_rep(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.admin)
    page.goto("/r/account/?q=Browser")
    page.click("#records tbody a")
    page.click("#explain-link")
    page.wait_for_selector("#explained-access")
    assert "Access of Admin to this record:" in page.inner_text("#explained-user")
    page.fill("#explain-user", "rep a")
    found = page.locator("#explain-access .reference-results button")
    expect(found).to_have_count(1)
    expect(found).to_have_text("Rep A rep.a@acme.cn")
    found.click()
    page.click("#explain-submit")
    page.wait_for_selector("#explained-user >> text=Access of Rep A to this record:")
    assert page.input_value("#explain-user") == "Rep A"
    assert page.is_visible("#explained-fields")
    shoot(page, "15-admin-explains-rep-access")


def test_sibling_branch_rep_neither_lists_nor_opens_the_customer(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.rep_a)
    page.goto("/r/account/?q=Browser")
    record_url = page.get_attribute("#records tbody a", "href")
    page.click("#sign-out")
    sign_in(page, acme.rep_b)
    page.goto("/r/account/")
    assert "Browser Trading Co" not in page.content()
    response = page.goto(record_url)
    assert response.status == 404
    shoot(page, "10-sibling-branch-404")


def test_bu_head_sees_the_customer_in_the_subtree(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.bu_head)
    page.goto("/r/account/?q=Browser")
    assert "Browser Trading Co" in page.inner_text("#records")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    shoot(page, "11-bu-head-list-zh")


def test_service_agent_sees_phones_masked(page, world) -> None:
    _engine, acme, _url = world
    sign_in(page, acme.restricted)
    page.goto("/r/account/?q=Browser")
    table = page.inner_text("#records")
    assert "138****5678" in table and "13900001111" not in table
    assert "Secret" not in table
    shoot(page, "12-service-agent-masked")


TYPES = {
    "stage": "choice",
    "name": "text",
    "amount": "money",
    "employees": "integer",
    "founded": "date",
    "tags": "multi_choice",
    "active": "boolean",
    "owner_user_id": "user",
}
CONDITION_CASES = [
    ({"field": "stage", "op": "eq", "value": "won"}, {"stage": "won"}),
    ({"field": "stage", "op": "eq", "value": "won"}, {"stage": None}),
    ({"field": "stage", "op": "ne", "value": "won"}, {"stage": None}),
    ({"field": "stage", "op": "in", "value": ["won", "lost"]}, {"stage": "lost"}),
    ({"field": "stage", "op": "not_in", "value": ["won", "lost"]}, {"stage": None}),
    ({"field": "stage", "op": "is_empty"}, {"stage": ""}),
    ({"field": "name", "op": "contains", "value": "ACME"}, {"name": "Big acme Ltd"}),
    ({"field": "name", "op": "starts_with", "value": "big"}, {"name": "Big acme Ltd"}),
    ({"field": "name", "op": "contains", "value": "东方"}, {"name": "东方重工"}),
    ({"field": "amount", "op": "gt", "value": 100}, {"amount": 150}),
    ({"field": "amount", "op": "gte", "value": 100}, {"amount": None}),
    ({"field": "employees", "op": "between", "value": [10, 20]}, {"employees": 20}),
    ({"field": "founded", "op": "lt", "value": "2020-01-01"}, {"founded": "2019-12-31"}),
    ({"field": "founded", "op": "gte", "value": "$today"}, {"founded": "2000-01-01"}),
    ({"field": "tags", "op": "eq", "value": "a"}, {"tags": ["a", "b"]}),
    ({"field": "tags", "op": "in", "value": ["c", "b"]}, {"tags": ["a", "b"]}),
    ({"field": "tags", "op": "is_empty"}, {"tags": []}),
    ({"field": "active", "op": "eq", "value": True}, {"active": False}),
    ({"field": "owner_user_id", "op": "eq", "value": "$user.id"}, {"owner_user_id": 7}),
    ({"field": "employees", "op": "gt", "value": "$record.amount"}, {"employees": 5, "amount": 3}),
    (
        {"any": [{"not": {"field": "stage", "op": "eq", "value": "won"}},
                 {"all": [{"field": "amount", "op": "lt", "value": 10},
                          {"field": "name", "op": "is_not_empty"}]}]},
        {"stage": "won", "amount": 5, "name": "x"},
    ),
]  # fmt: skip


def _python_value(key: str, value: object) -> object:
    if TYPES[key] == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if TYPES[key] == "multi_choice" and isinstance(value, list):
        return tuple(value)
    return value


def test_browser_conditions_agree_with_the_server_evaluator(browser, live_server: str) -> None:
    from crm_platform.metadata.conditions import ConditionContext, evaluate

    today = date(2026, 11, 24)
    context = ConditionContext(user_id=7, unit_id=3, unit_ids=(3,), today=today)
    js_context = {"user": {"id": 7, "unit": 3, "units": [3]}, "today": today.isoformat()}
    # Only this test turns the CSP off: it calls the evaluator directly, not through a page.
    session = browser.new_context(base_url=live_server, bypass_csp=True)
    page = session.new_page()
    page.goto("/sign-in")
    for condition, record in CONDITION_CASES:
        expected = evaluate(
            condition, {k: _python_value(k, v) for k, v in record.items()}, TYPES, context
        )
        got = page.evaluate(
            "([c, r, t, x]) => window.CRMConditions.evaluate(c, r, t, x)",
            [condition, record, TYPES, js_context],
        )
        assert got is expected, (condition, record)
    session.close()
