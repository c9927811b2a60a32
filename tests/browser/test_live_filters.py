"""In a real browser: a list's filters apply as the user types (htmx swaps the results in place;
the page is not reloaded and the address keeps the filter, so Back and a shared link work), and
the same form still works as a plain submit."""

from __future__ import annotations

from typing import Any

from tests.browser import login
from tests.factories import TrustFactory, appoint, person
from trust.services.people import beneficiary_create
from trust.services.trusts import trust_update

PASSWORD = "browser-filters-pass-1"


def test_the_children_list_filters_as_the_trustee_types_without_a_reload(page: Any) -> None:
    trust = TrustFactory(caption="United States v. Browser Filters")
    for n in range(1, 13):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    trustee = appoint(person("trustee-filters"), trust)
    trustee.set_password(PASSWORD)
    trustee.save()
    trust_update(trust=trust, actor=trustee, time_zone="Asia/Manila")
    login(page, trustee.username, PASSWORD)

    page.goto("/children/")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 12
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Pseudonym").press_sequentially("MV-1")
    # MV-1, MV-10, MV-11, MV-12 match; the swap happens in place.
    # A locator's wait: wait_for_function would evaluate a string, which the site's
    # Content-Security-Policy forbids (no 'unsafe-eval').
    rows.nth(4).wait_for(state="detached")
    assert rows.count() == 4
    assert page.evaluate("window.__sameDocument === true")
    assert "q=MV-1" in page.url
    assert page.get_by_label("Pseudonym").input_value() == "MV-1"  # what was typed stays

    page.get_by_label("Pseudonym").fill("nobody")
    page.locator("#results", has_text="No child matches").wait_for()
    assert page.evaluate("window.__sameDocument === true")

    # The trust's own pages show times in its zone.
    page.goto(f"/trusts/{trust.pk}/")
    page.locator("footer", has_text="times in Asia/Manila").wait_for()
