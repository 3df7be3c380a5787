"""The web application in a real browser: Playwright driving Debian's Chromium.

Runs against a live server (werkzeug, in a thread, on a random port) over an
SQLite database with the test organisation and configuration of this package.
Chromium comes from `CHROMIUM_PATH` (DEVELOPERS.md); without it the tests are
skipped locally and fail in CI. Each main screen is saved under
``test-output/screenshots/`` for a reviewer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from werkzeug.serving import make_server

from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.store import MetadataStore
from tests.web.conftest import PASSWORD, Org, make_acme, make_app
from tests.web.world import DOCUMENTS, create_tables

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH", "")
    in_ci = bool(os.environ.get("CI"))
    if not path:
        if in_ci:
            pytest.fail("CHROMIUM_PATH is not set and CI is: the browser tests must run", False)
        pytest.skip("CHROMIUM_PATH is not set (see DEVELOPERS.md)")
    if not Path(path).exists():
        message = f"CHROMIUM_PATH={path} does not exist"
        if in_ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Org, str]]:
    """An SQLite database with acme, its users and the published test configuration."""
    _chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'crm.sqlite3'}"
    engine = make_engine(url)
    create_platform_tables(engine)
    acme = make_acme(engine)
    MetadataStore(engine, hooks=[create_tables]).publish("acme", None, "test", documents=DOCUMENTS)
    yield engine, acme, url
    engine.dispose()


@pytest.fixture(scope="module")
def live_server(world: tuple[Engine, Org, str]) -> Iterator[str]:
    """The app served on 127.0.0.1 at a random port; yields its base URL."""
    engine, acme, url = world
    app = make_app(engine, url, MetadataStore(engine), acme)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium, headless, started once for the module."""
    from playwright.sync_api import sync_playwright

    path = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server: str) -> Iterator[object]:
    """A fresh browser context (no cookies) preferring English, with the base URL set."""
    context = browser.new_context(base_url=live_server, locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def shoot(page, name: str) -> None:
    """Save a full-page screenshot for the reviewer."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, email: str) -> None:
    """Sign in through the form as a person would."""
    page.goto("/sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/")


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
