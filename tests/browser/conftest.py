"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, never a downloaded
browser) against pytest-django's live server.

The known dataset of the dashboard tests is built once for the module and committed (the live
server's threads read it through their own connections), then the database is flushed when
the module ends; the clock of the process is on the dataset's TODAY while the browser runs. ``transactional_db`` is overridden here so that the live server does not flush
it after every test. Playwright's sync API runs an event loop in the main thread, so
``DJANGO_ALLOW_ASYNC_UNSAFE`` is set while the browser runs, for these tests only.

Screenshots go to ``reports/artifacts/browser/`` (ignored by git). With ``CI=true`` a missing
Chromium fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import IN_CI, PASSWORD
from tests.monitoring.dashboard.conftest import FAST_HASHER, NOW, build_known

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "reports" / "artifacts" / "browser"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright")


@pytest.fixture(scope="module")
def browser_dataset(django_db_setup, django_db_blocker):
    """The known dataset, committed for the live server; flushed when the module ends."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        try:
            yield build_known()
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def transactional_db(browser_dataset, django_db_blocker):
    """Database access for the test and the live server, without a flush after each test."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def on_today(browser_dataset):
    """The clock (of every thread, the live server's included) on the dataset's TODAY."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(scope="module")
def chromium(browser_dataset, on_today):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def known(browser_dataset):
    return browser_dataset


@pytest.fixture
def open_as(chromium, live_server):
    """``open_as(persona)``: a new browser page logged in through the login form."""
    contexts = []

    def login(persona: str):
        context = chromium.new_context(
            base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/dashboard/login/")
        page.fill("input[name=username]", persona)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    yield login
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
