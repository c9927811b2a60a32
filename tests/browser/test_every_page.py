"""Every page each kind of user can open, in a real browser: it renders (200), axe-core finds no
serious or critical accessibility violation, and its screenshot is kept (var/screenshots/).

The pages are the access matrix's rows (tests/test_access_matrix.py) that a user GETs and may
see: a page added to the site enters the matrix, and so this sweep, by itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.browser import assert_accessible, screenshot
from tests.test_access_matrix import MATRIX, World, world  # noqa: F401 (the fixture)

ROLES = ("trustee_a", "auditor_a", "caseworker_a", "admin_a")
# Downloads (a PDF, a document, JSON) are not pages to look at.
NOT_PAGES = {
    "report-download",
    "document-download",
    "audit-checkpoint",
    "audit-bundle",
    "beneficiary-views-pdf",
    # Answers for load balancers and monitoring, in JSON (tests/test_operations.py).
    "healthz",
    "readyz",
}
# The API answers JSON; its page for people is /api/docs/ (Redoc), swept below. Swagger UI
# (/api/swagger/, to try calls) is a third-party page with known axe findings (nested controls,
# contrast) that we cannot fix from here; docs/api.md says so.
API_PAGES = {"api-docs"}


def sign_in(context: Any, user: Any, live_url: str) -> None:
    """Put a session of ``user`` in the browser (the sign-in form has its own test)."""
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_url,
            }
        ]
    )


@pytest.mark.parametrize("who", ROLES)
def test_every_page_a_user_may_open_is_accessible(
    world: World,  # noqa: F811 (the fixture)
    browser: Any,
    live_url: str,
    who: str,
) -> None:
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 800})
    try:
        sign_in(context, world.users[who], live_url)
        page = context.new_page()
        seen = []
        for name, cell in sorted(MATRIX.items()):
            json_only = name.startswith("api-") and name not in API_PAGES
            if (
                cell.method != "get"
                or name in NOT_PAGES
                or json_only
                or cell.status.get(who) != 200
            ):
                continue
            url = reverse(name, kwargs=cell.kwargs(world))
            response = page.goto(url)
            assert response is not None and response.status == 200, f"{who} {url}"
            title = page.title()
            assert title and len(title) < 150 and "<" not in title, f"{url}: {title!r}"
            screenshot(page, f"every-page-{who}-{name}")
            assert_accessible(page)
            seen.append(name)
        assert "home" in seen and len(seen) >= 4, seen
    finally:
        context.close()
