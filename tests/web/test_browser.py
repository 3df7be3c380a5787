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
