"""In a real browser: a trustee imports an order's lines and a bank's receipts from CSV files,
each with one bad row first (nothing written, the row named), then the corrected file (checked,
then recorded as checked); an auditor then finds the receipt's entry in the journal and the
children's shares in its postings, with no button that changes anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser import assert_accessible, login, screenshot
from tests.factories import TrustFactory, appoint, person
from tests.trust.test_imports import CASE, COURT, D1, D2
from trust.models import Receipt, RestitutionOrder
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create, defendant_create

PASSWORD = "browser-imports-pass-1"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HEADER = "received_on,amount,currency,source,payer,bank_account,bank_reference,key,memo\n"


def _world() -> tuple[Any, Any, Any]:
    trust = TrustFactory(caption="United States v. Browser Imports")
    defendant_create(trust=trust, name=D1)
    defendant_create(trust=trust, name=D2)
    for n in (1, 2, 3):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}")
    trustee = appoint(person("trustee-imports"), trust)
    auditor = person("auditor-imports", AUDITOR, trust)
    for user in (trustee, auditor):
        user.set_password(PASSWORD)
        user.save()
    return trust, trustee, auditor


def _file(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


def test_csv_imports_refuse_a_bad_row_then_record_and_an_auditor_reads_the_books(
    page: Any,
) -> None:
    trust, trustee, auditor = _world()
    login(page, trustee.username, PASSWORD)

    # The order: a line for an unknown child first.
    page.goto(f"/trusts/{trust.pk}/orders/import/")
    bad = "beneficiary,amount,currency,defendants,liability\nMV-9,100.00,USD,Nobody,\n"
    page.locator("input[type=file]").set_input_files(files=[_file("bad.csv", bad)])
    page.get_by_label("Court").fill(COURT)
    page.get_by_label("Case number").fill(CASE)
    page.get_by_label("Judgment date").fill("2025-03-01")
    page.locator("#id_total_0").fill("100.00")
    page.get_by_role("button", name="Check the file").click()
    page.locator(".error", has_text="row 2").first.wait_for()
    assert not RestitutionOrder.objects.exists()
    screenshot(page, "trustee-order-import-refused")

    good = (EXAMPLES / "order_lines.csv").read_text()
    page.locator("input[type=file]").set_input_files(files=[_file("lines.csv", good)])
    page.locator("#id_total_0").fill("17500.00")
    page.get_by_role("button", name="Check the file").click()
    page.get_by_text("3 line(s) would be recorded").wait_for()
    assert not RestitutionOrder.objects.exists()
    assert_accessible(page)
    page.get_by_role("button", name="Record this order").click()
    page.get_by_role("heading", name="Order of 2025-03-01, version 1").wait_for()
    assert RestitutionOrder.objects.count() == 1

    # The receipts: a negative amount on row 3 first, then the corrected file.
    page.goto(f"/trusts/{trust.pk}/receipts/import/")
    row = f"2025-06-02,300.00,USD,clerk,{D1},,WIRE-77,,"
    broken = HEADER + row + "\n2025-06-03,-5,USD,clerk,,,,,\n"
    page.locator("input[type=file]").set_input_files(files=[_file("bank.csv", broken)])
    page.get_by_role("button", name="Check the file").click()
    page.locator(".error", has_text="row 3").first.wait_for()
    assert not Receipt.objects.exists()
    page.locator("input[type=file]").set_input_files(files=[_file("bank.csv", HEADER + row + "\n")])
    page.get_by_role("button", name="Check the file").click()
    page.get_by_text("1 receipts would be recorded").wait_for()
    page.get_by_role("button", name="Record these receipts").click()
    page.get_by_role("heading", name="Receipts").wait_for()
    receipt = Receipt.objects.get()
    assert receipt.unallocated_minor == 0

    # The auditor finds the receipt's entry and its postings to the children.
    page.context.clear_cookies()
    login(page, auditor.username, PASSWORD)
    page.goto(f"/trusts/{trust.pk}/journal/")
    page.get_by_role("link", name=f"#{receipt.entry_id}").click()
    page.get_by_role("heading", name=f"Entry #{receipt.entry_id}: Receipt").wait_for()
    postings = page.locator("table").inner_text()
    assert "1000-BANK" in postings and "2100-MV-1" in postings and "300.00 USD" in postings
    assert page.locator("form[method=post] button").count() == 1  # signing out, nothing else
    screenshot(page, "auditor-entry")
    assert_accessible(page)
