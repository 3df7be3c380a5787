"""Driving Debian's Chromium with Playwright against a live server of the app.

Chromium comes from `CHROMIUM_PATH` (DEVELOPERS.md); without it browser tests
are skipped locally and fail in CI. The app is served by werkzeug in a thread on
127.0.0.1 at a random port. Screens are saved under ``test-output/screenshots/``
so a reviewer can look at them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.web.conftest import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    """Chromium's executable; skips (or fails in CI) when it is not there."""
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


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 at a random port in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, headless, started once per module."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) preferring English, on the module's live server."""
    context = browser.new_context(base_url=live_server, locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot for the reviewer."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, email: str, organisation: str | None = None) -> None:
    """Sign in through the form as a person would."""
    page.goto("/sign-in")
    if organisation is not None:
        page.select_option("#organisation", organisation)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/")
