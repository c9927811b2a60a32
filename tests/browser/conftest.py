"""Fixtures of the browser tests: one headless Chromium per test process, the site on a live server.

Debian's Chromium (``apt-get install -y chromium``) is driven by Playwright; no browser is ever
downloaded (``playwright install`` is not used). Without Chromium or the ``playwright`` package the
tests skip on a laptop, saying how to run them, and fail under ``CI=true`` (the CI installs
Chromium itself). ``TRUST_CHROMIUM`` names another Chromium binary (``/nonexistent`` shows the
skip, or under ``CI=true`` the failure).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_missing

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("TRUST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to run as root (CI) with its sandbox
    "--disable-gpu",
    # Without these Chromium keeps calling home (updates, sync, field trials) on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HOW = "apt-get install -y chromium (Debian's; never `playwright install`), then run the tests again"
TIMEOUT_MS = 15_000


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test in this folder is a browser test (``-m "not browser"`` leaves them out).
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


# One browser for all the tests of this folder in a test process: launched by the first, closed
# after the last (package scope: under xdist ``--dist loadfile`` a process runs this folder's files
# one after another). It must not outlive them: while Playwright's sync API is started, its event
# loop is marked as running in the main thread (playwright/_impl/_greenlets.py, wait_for_future), so
# Django refuses ORM calls there ("SynchronousOnlyOperation") and ``asyncio.run`` or asgiref's
# ``async_to_sync`` would fail in the tests that come next. For exactly as long as the browser is up,
# DJANGO_ALLOW_ASYNC_UNSAFE lets the test's own database work (factories, the flush) run beside it;
# the pages themselves are served by the live server's thread, where no loop runs.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched once per test process for this folder's tests."""
    if not os.access(CHROMIUM, os.X_OK):
        service_missing("browser", f"{CHROMIUM} not found: {HOW}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("browser", 'the playwright package is missing: pip install -e ".[dev]"')
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    # Users here have real passwords and sign in through the form: a fast hasher (as in
    # tests/test_web.py) keeps each test to its browser work. The live server reads these settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def live_url(live_server: Any) -> str:
    """The site (with its static files) on a threaded server over the test database.

    ``live_server`` serves ``/static/`` from the finders (``django.contrib.staticfiles`` is
    installed), so ``config/static/ledger.css`` loads without ``collectstatic``."""
    return live_server.url


def _page(browser: Any, live_url: str, **options: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    """A fresh browser context and page (1280x800) on the live site; ``page.goto("/login/")``."""
    yield from _page(browser, live_url, viewport={"width": 1280, "height": 800})


@pytest.fixture
def phone(browser: Any, live_url: str) -> Iterator[Any]:
    """The same on a phone-sized screen (390x844, touch), as a caseworker in the field has."""
    yield from _page(
        browser,
        live_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
