"""A disbursement from request to confirmation, in a real browser, by the people who do it.

A caseworker (on a phone) asks for 300.00 USD for MV-1 and attaches a PDF invoice; above the
trust's threshold (100.00 USD) two trustees approve; the second records the payment from the
bank's advice; the caseworker says 290.00 USD arrived, with the bank's note; an auditor reads the
request with no button to change it; a caseworker of another partner gets "not found". Each
page is photographed (var/screenshots/) and checked with axe-core.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from moneyed import Money

from disbursements.models import DisbursementRequest, Status
from disbursements.services import (
    budget_set,
    caseworker_add,
    policy_set_dual_approval,
    request_draft,
    request_submit,
)
from tests.browser import assert_accessible, login, screenshot
from tests.disbursements.test_requests import World, make_world
from tests.factories import appoint, clean_pdf, person
from trust.roles import AUDITOR

PASSWORD = "browser-workflow-pass-1"
PDF = clean_pdf()


def _world() -> tuple[World, Any, Any]:
    w = make_world("browser")
    w.partner.payout_currency = "USD"
    w.partner.save(update_fields=["payout_currency"])
    policy_set_dual_approval(trust=w.trust, actor=w.trustee, threshold=Money("100", "USD"))
    today = timezone.localdate()
    budget_set(
        beneficiary=w.mv1,
        actor=w.trustee,
        category="education",
        period_start=today.replace(month=1, day=1),
        period_end=today.replace(month=12, day=31),
        amount=Money("500.00", "USD"),
    )
    auditor = appoint(person("auditor-browser"), w.trust, AUDITOR)
    stranger = person("caseworker-other")
    caseworker_add(partner=w.other_partner, user=stranger, actor=w.trustee)
    for user in (w.caseworker, w.trustee, w.trustee2, auditor, stranger):
        user.set_password(PASSWORD)
        user.save()
    return w, auditor, stranger


def _message(page: Any, text: str) -> None:
    page.locator(".messages li", has_text=text).wait_for()


def test_a_request_from_the_phone_to_two_approvals_payment_and_confirmation(
    browser: Any, live_url: str, page: Any, phone: Any
) -> None:
    w, auditor, stranger = _world()

    # The caseworker, on a phone: ask for money, then attach the invoice.
    login(phone, w.caseworker.username, PASSWORD)
    phone.goto(f"/requests/new/?beneficiary={w.mv1.pk}")
    assert_accessible(phone)
    phone.get_by_label("Category").select_option("education")
    hint = phone.locator("#funds-hint").inner_text()  # told as they choose
    assert "MV-1 has 1,000.00 USD available" in hint and "budget is 500.00 USD" in hint
    phone.locator("#id_amount_0").fill("300.00")
    phone.locator("#id_amount_1").select_option("USD")
    phone.get_by_label("Purpose").fill("School fees, second term")
    screenshot(phone, "caseworker-request-form")
    phone.get_by_role("button", name="Submit to the trustees").click()
    _message(phone, "submitted")
    request = DisbursementRequest.objects.get()
    assert request.status == Status.SUBMITTED
    phone.get_by_label("Kind").select_option("invoice")
    phone.locator("input[type=file]").set_input_files(
        files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    phone.get_by_role("button", name="Attach").click()
    _message(phone, "Document attached")
    assert phone.get_by_role("link", name="Invoice: invoice.pdf").is_visible()
    screenshot(phone, "caseworker-request")
    assert_accessible(phone)

    # The first trustee finds it waiting and approves: one of two.
    login(page, w.trustee.username, PASSWORD)
    page.goto("/requests/")
    page.get_by_role("heading", name="Waiting for your decision").wait_for()
    screenshot(page, "trustee-requests")
    assert_accessible(page)
    page.get_by_role("link", name=f"#{request.pk}").first.click()
    screenshot(page, "trustee-request")
    assert_accessible(page)
    page.get_by_role("button", name="Approve").click()
    _message(page, "First approval")

    # The second trustee approves (funds reserved) and records the payment from the advice.
    second = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 800})
    other = second.new_page()
    login(other, w.trustee2.username, PASSWORD)
    other.goto(f"/requests/{request.pk}/")
    other.get_by_role("button", name="Approve").click()
    _message(other, "approved: funds reserved")
    other.locator("#id_sent_0").fill("300.00")
    other.get_by_label("Reference").fill("TRF-BROWSER-1")
    other.get_by_role("button", name="Record the payment").click()
    _message(other, "Payment recorded")
    request.refresh_from_db()
    assert request.status == Status.PAID
    second.close()

    # The caseworker: less arrived. Without a note it is refused and what was typed stays.
    phone.goto(f"/requests/{request.pk}/")
    phone.locator("#id_arrived_0").fill("290.00")
    phone.get_by_role("button", name="Confirm what arrived").click()
    assert phone.locator("#id_arrived_0").input_value() == "290.00"
    assert phone.locator(".error").count() >= 1
    phone.get_by_label("Note").fill("The correspondent bank kept 10.00 USD")
    phone.get_by_role("button", name="Confirm what arrived").click()
    _message(phone, "what arrived is recorded")
    assert phone.get_by_text("short by 10.00 USD").is_visible()
    screenshot(phone, "caseworker-acknowledged")
    request.refresh_from_db()
    assert request.status == Status.ACKNOWLEDGED

    # The auditor reads it all and has no button that changes anything.
    page.context.clear_cookies()
    login(page, auditor.username, PASSWORD)
    page.goto(f"/requests/{request.pk}/")
    page.get_by_role("heading", name=f"Request #{request.pk} for MV-1").wait_for()
    assert page.locator("form[method=post] button", has_text="Approve").count() == 0
    assert page.get_by_role("cell", name="Acknowledged", exact=False).count() >= 1
    screenshot(page, "auditor-request")
    assert_accessible(page)

    # A caseworker of another partner: the request is simply not there.
    page.context.clear_cookies()
    login(page, stranger.username, PASSWORD)
    response = page.goto(f"/requests/{request.pk}/")
    assert response is not None and response.status == 404
    page.goto("/requests/")
    assert page.get_by_text(f"#{request.pk}").count() == 0


def test_over_the_budget_a_trustee_approves_only_with_a_reason(page: Any) -> None:
    w, _, _ = _world()  # MV-1's education budget: 500.00 USD this year
    policy_set_dual_approval(trust=w.trust, actor=w.trustee, threshold=Money("5000", "USD"))
    request = request_submit(
        request=request_draft(
            actor=w.caseworker,
            beneficiary=w.mv1,
            category="education",
            amount=Money("600.00", "USD"),
            purpose="Boarding school, first term",
            idempotency_key="over-budget",
        ),
        actor=w.caseworker,
    )
    login(page, w.trustee.username, PASSWORD)
    page.goto(f"/requests/{request.pk}/")
    page.get_by_role("button", name="Approve").click()
    page.locator(".error", has_text="budget").first.wait_for()  # refused, said why
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED
    page.get_by_label("Budget override reason").fill("The court allowed boarding school (ECF 91)")
    page.get_by_role("button", name="Approve").click()
    _message(page, "approved: funds reserved")
    request.refresh_from_db()
    assert request.status == Status.APPROVED
    assert "ECF 91" in request.budget_override_reason
    screenshot(page, "trustee-budget-override")
