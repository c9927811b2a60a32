"""In a real browser, under the site's Content-Security-Policy (docs/security.md, "Headers"): the
pages that run script (the request form's live figures, htmx's live filters) work and the browser
reports no violation; a report opens in Chromium's PDF viewer; the API's docs pages draw.

Violations are caught twice: the ``securitypolicyviolation`` events (recorded by a script Playwright
adds, which the policy does not govern) and Chromium's console messages about the policy."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from moneyed import Money

from disbursements.services import budget_set
from reports.models import Kind
from reports.services import report_generate, report_request
from tests.browser import login
from tests.disbursements.test_requests import make_world
from tests.factories import TrustFactory, appoint, person
from tests.reports.scenario import build_case
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create

PASSWORD = "browser-csp-pass-1"
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""
# Chromium's PDF viewer, a component extension: the frame it draws a PDF in.
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"


def watch(page: Any) -> list[str]:
    """Start recording the policy's violations on ``page``; the list fills as the console speaks."""
    page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return console


def violations(page: Any, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__violations || []"), *console]


def test_the_request_form_shows_its_figures_with_no_violation(page: Any) -> None:
    w = make_world("csp")
    today = timezone.localdate()
    budget_set(
        beneficiary=w.mv1,
        actor=w.trustee,
        category="education",
        period_start=today.replace(month=1, day=1),
        period_end=today.replace(month=12, day=31),
        amount=Money("500.00", "USD"),
    )
    w.caseworker.set_password(PASSWORD)
    w.caseworker.save()
    console = watch(page)
    login(page, w.caseworker.username, PASSWORD)

    response = page.goto(f"/requests/new/?beneficiary={w.mv1.pk}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Category").select_option("education")
    hint = page.locator("#funds-hint")
    hint.filter(has_text="budget is 500.00 USD").wait_for()
    assert "MV-1 has 1,000.00 USD available" in hint.inner_text()
    assert violations(page, console) == []


def test_htmx_filters_under_the_policy_with_no_violation_and_no_style_element(page: Any) -> None:
    trust = TrustFactory(caption="United States v. Policy Filters")
    for n in range(1, 13):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    trustee = appoint(person("trustee-csp"), trust)
    trustee.set_password(PASSWORD)
    trustee.save()
    console = watch(page)
    login(page, trustee.username, PASSWORD)

    page.goto("/children/")
    page.get_by_label("Pseudonym").press_sequentially("MV-1")
    rows = page.locator("#results tbody tr")
    rows.nth(4).wait_for(state="detached")  # not wait_for_function: the policy forbids eval
    assert rows.count() == 4
    # htmx 2 adds its indicator <style> unless told not to (base.html's htmx-config).
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert page.evaluate("window.sessionStorage.getItem('htmx-history-cache')") is None
    assert violations(page, console) == []


def test_a_report_opens_in_the_pdf_viewer_under_the_policy(
    page: Any, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    case = build_case()
    statement = report_generate(
        report_id=report_request(
            kind=Kind.BENEFICIARY_STATEMENT,
            trust=case.trust,
            actor=case.trustee,
            period=case.period,
            beneficiary=case.mv1,
            enqueue=False,
        ).pk
    )
    auditor = person("auditor-csp", AUDITOR, case.trust)
    auditor.set_password(PASSWORD)
    auditor.save()
    login(page, auditor.username, PASSWORD)

    url = f"/reports/{statement.uid}/pdf/?inline=1"
    # Chromium shows the viewer's own headers for the page: ours are on the response itself.
    assert "object-src 'none'" in page.request.get(url).headers["content-security-policy"]
    page.goto(url)
    for _ in range(50):  # the viewer's frame is attached as the PDF loads
        if any(frame.url.startswith(PDF_VIEWER) for frame in page.frames):
            break
        page.wait_for_timeout(100)
    assert any(frame.url.startswith(PDF_VIEWER) for frame in page.frames), [
        frame.url for frame in page.frames
    ]


def test_redoc_draws_under_its_own_policy(page: Any) -> None:
    console = watch(page)
    page.goto("/api/docs/")
    page.get_by_role("heading", name="Restitution Trust Ledger API").first.wait_for()
    # config/static/api/redoc.js ran: code blocks are reachable from the keyboard.
    page.locator("#redoc-container pre[tabindex='0']").first.wait_for()
    # Redoc's footer links Redocly's logo from their CDN: blocked, as everything from elsewhere.
    elsewhere = [v for v in violations(page, console) if "cdn.redoc.ly" not in v]
    assert elsewhere == []


def test_swagger_ui_draws_under_its_own_policy(page: Any) -> None:
    console = watch(page)
    page.goto("/api/swagger/")
    page.locator(".swagger-ui .info .title", has_text="Restitution Trust Ledger API").wait_for()
    page.locator(".opblock").first.wait_for()
    assert violations(page, console) == []
