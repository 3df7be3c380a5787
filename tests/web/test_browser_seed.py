"""The issue's scenario in a real browser, on the seed CRM with its own roles and rules.

A branch sales rep creates a customer, first with an invalid unified social
credit code (the error shows beside the field), picks its key account engineer
(a user) by name, fixes the code, adds a contact and
finds the customer in the list; a rep of a sibling branch neither lists nor
opens it (404); the business-unit head sees it with their subtree; a service
agent of the branch sees contact phones masked; the language switches to
Chinese and back. The app is built by the composition root, so the seed's
`RolePolicy` decides everything shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from blueprints.app import create_app
from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.bundles import import_bundle
from crm_platform.runtime import users
from crm_platform.runtime.org import get_unit_by_key
from crm_platform.runtime.tenants import create_tenant
from crm_platform.services import build_platform
from tests.web.browser_support import browser, chromium_path, page, serve, shoot, sign_in
from tests.web.conftest import add_user

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # fixtures used by the tests below

SEED = Path(__file__).resolve().parents[2] / "seed_configs" / "multi_org_crm"
PEOPLE = {
    # email: (name, unit, role)
    "rep.east@demo.cn": ("East Rep", "br_heavy_east", "branch_sales_rep"),
    "rep.south@demo.cn": ("South Rep", "br_heavy_south", "branch_sales_rep"),
    "head@demo.cn": ("Equipment Head", "bu_equipment", "bu_head"),
    "agent@demo.cn": ("Service Agent", "br_heavy_east", "service_agent"),
}
INVALID_USCC = "913501000000000070"
VALID_USCC = "913501000000000077"
CUSTOMER = "东方重工机械有限公司"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seed imported into tenant ``demo`` on SQLite, with one user per scenario role."""
    chromium_path()
    url = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'crm.sqlite3'}"
    engine = make_engine(url)
    create_platform_tables(engine)
    platform = build_platform(engine)
    tenant = create_tenant(engine, "demo", {"en": "Demo Group", "zh-Hans": "演示集团"})
    import_bundle(engine, "demo", SEED, author="test", hooks=platform.store.hooks)
    with engine.begin() as connection:
        for email, (name, unit_key, role) in PEOPLE.items():
            unit = get_unit_by_key(connection, tenant.id, unit_key)
            user_id = add_user(connection, tenant.id, email, name, unit.id)
            users.assign_role(connection, user_id, role, unit.id)
    app = create_app(
        {
            "SECRET_KEY": "browser",
            "DATABASE_URL": url,
            "ENGINE": engine,
            "METADATA_STORE": platform.store,
            "RECORD_SERVICE": platform.records,
        }
    )
    with serve(app) as base_url:
        yield base_url
    engine.dispose()


def test_branch_rep_creates_a_customer_fixing_its_credit_code(page) -> None:
    sign_in(page, "rep.east@demo.cn")
    page.click("nav.sidebar >> text=Customers")
    shoot(page, "seed-01-customers-empty")
    page.click("#new-record")
    page.fill("#field-name", CUSTOMER)
    page.fill("#field-uscc", INVALID_USCC)
    page.wait_for_selector("#live-error-uscc:not([hidden])")
    picker = page.locator(".region-picker select")
    picker.nth(0).locator("option[value='330000']").wait_for(state="attached")
    picker.nth(0).select_option("330000")
    picker.nth(1).locator("option[value='330100']").wait_for(state="attached")
    picker.nth(1).select_option("330100")
    # The equipment division's form names a key account engineer: a user, picked by name.
    page.fill("#field-key_account_engineer", "equipment")
    engineer = page.locator("[data-field='key_account_engineer'] .reference-results button")
    expect(engineer).to_have_count(1)  # the search has answered, not the list shown on focus
    expect(engineer).to_have_text("Equipment Head head@demo.cn")
    engineer.click()
    assert page.input_value("#field-key_account_engineer") == "Equipment Head"
    page.click("#save")
    page.wait_for_selector("#error-uscc")
    assert page.input_value("#field-key_account_engineer") == "Equipment Head"
    shoot(page, "seed-02-uscc-error-beside-field")
    page.fill("#field-uscc", VALID_USCC)
    assert page.is_hidden("#live-error-uscc")
    page.click("#save")
    page.wait_for_selector("#record-title")
    assert page.inner_text("#record-title") == CUSTOMER
    assert page.inner_text("#record-owner") == "East Rep"
    assert page.inner_text("dd[data-field='key_account_engineer']") == "Equipment Head"
    shoot(page, "seed-03-customer-record")
    # A contact of the customer, picked with the reference picker.
    page.goto("/r/contact/new")
    page.fill("#field-name", "王伟")
    page.fill("#field-customer", "东方")
    page.click(f".reference-results button >> text={CUSTOMER}")
    page.fill("#field-mobile", "13812345678")
    page.click("#save")
    page.wait_for_selector("#record-title")
    page.click("nav.sidebar >> text=Customers")
    page.fill("#q", "东方重工")
    page.click("#apply-filters")
    assert CUSTOMER in page.inner_text("#records")
    shoot(page, "seed-04-customer-list")


def test_sibling_branch_rep_does_not_see_the_customer(page) -> None:
    sign_in(page, "rep.east@demo.cn")
    page.goto("/r/customer/")
    record_url = page.get_attribute("#records tbody a", "href")
    page.click("#sign-out")
    sign_in(page, "rep.south@demo.cn")
    page.goto("/r/customer/")
    assert CUSTOMER not in page.content()
    assert page.goto(record_url).status == 404
    shoot(page, "seed-05-sibling-404")


def test_bu_head_sees_the_customer_with_the_subtree(page) -> None:
    sign_in(page, "head@demo.cn")
    page.goto("/r/customer/")
    assert CUSTOMER in page.inner_text("#records")
    shoot(page, "seed-06-bu-head-customers")


def test_service_agent_sees_contact_phones_masked(page) -> None:
    sign_in(page, "agent@demo.cn")
    page.click("nav.sidebar >> text=Contacts")
    table = page.inner_text("#records")
    assert "王伟" in table
    assert "13812345678" not in table and "5678" in table
    shoot(page, "seed-07-agent-contacts-masked")


def test_language_switches_to_chinese_and_back(page) -> None:
    sign_in(page, "rep.east@demo.cn")
    page.click("button.lang[value='zh-Hans']")
    page.wait_for_selector("html[lang='zh-Hans']")
    page.click("nav.sidebar >> text=客户")
    assert CUSTOMER in page.inner_text("#records")
    shoot(page, "seed-08-customers-zh-hans")
    page.click("button.lang[value='zh-Hant']")
    page.wait_for_selector("html[lang='zh-Hant']")
    shoot(page, "seed-09-customers-zh-hant")
    page.click("button.lang[value='en']")
    page.wait_for_selector("html[lang='en']")
    assert "Customers" in page.inner_text("nav.sidebar")
