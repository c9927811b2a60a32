"""End-to-end tests in a real browser: Playwright (sync API) driving Debian's Chromium.

The fixtures (``browser``, ``live_url``, ``page``, ``phone``) are in ``conftest.py``; the helpers a
test calls are here: ``login`` signs in through the form like a person, ``screenshot`` keeps a PNG
under ``var/screenshots/`` (CI keeps ``var/`` as its artifacts) and ``assert_accessible`` runs
axe-core (shipped inside the ``axe-playwright-python`` wheel: nothing is fetched) on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, service_missing

SCREENSHOTS = REPO / "var" / "screenshots"
# axe-core's impacts that fail a page; "moderate" and "minor" are left to review.
FAILING_IMPACTS = ("serious", "critical")
HOME = re.compile(r"^https?://[^/]+/$")


def login(page: Any, username: str, password: str) -> None:
    """Sign in through ``/login/`` as a person would, and wait for the home page."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(HOME)
    page.get_by_role("heading", name="Trusts").wait_for()


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``var/screenshots/<name>.png`` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        service_missing("browser", 'install the dev dependencies: pip install -e ".[dev]"')
    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in FAILING_IMPACTS]


def describe(violations: Iterable[dict[str, Any]]) -> str:
    """One line per violation: rule id, impact, what it asks, the first targets."""
    lines = []
    for v in violations:
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"][:3]]
        more = f" (+{len(v['nodes']) - 3} more)" if len(v["nodes"]) > 3 else ""
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(targets)}{more}")
    return "\n".join(lines)


def assert_accessible(page: Any, known: Iterable[str] = ()) -> None:
    """Fail listing axe-core's serious or critical violations on the current page.

    ``known`` names the rule ids of violations already in the templates and reported for a fix:
    when they are all that is found the test is marked xfail, listing them (so call it last in a
    test); anything else fails. A known rule that no longer fires fails too, to have it removed.
    """
    found = accessibility_violations(page)
    known = set(known)
    unexpected = [v for v in found if v["id"] not in known]
    if unexpected:
        pytest.fail(f"accessibility violations on {page.url}:\n{describe(unexpected)}")
    if fixed := known - {v["id"] for v in found}:
        pytest.fail(f"fixed on {page.url}, remove from the known violations: {sorted(fixed)}")
    if found:
        pytest.xfail(f"known accessibility violations on {page.url}:\n{describe(found)}")
