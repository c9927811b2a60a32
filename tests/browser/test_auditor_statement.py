"""In a real browser, an auditor finds a child's statement among the reports, downloads the PDF,
and its closing balance is the balance the child's page shows; the account's history page shows
the same figure after its last posting. Another trust's trustee finds neither."""

from __future__ import annotations

import io
import re
from typing import Any

import pypdf

from reports.models import Kind
from reports.services import report_generate, report_request
from tests.browser import assert_accessible, login, screenshot
from tests.factories import TrustFactory, person
from tests.reports.scenario import build_case
from trust.models import Account
from trust.money import format_money
from trust.roles import AUDITOR, TRUSTEE

PASSWORD = "browser-statement-pass-1"


def _closing(text: str) -> str:
    match = re.search(r"^Closing balance on.*?(-?[\d,]+\.\d\d)\s*$", text, re.MULTILINE)
    assert match, text[:2000]
    return match.group(1)


def test_an_auditor_downloads_a_statement_that_matches_the_pages(
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
    auditor = person("auditor-statement", AUDITOR, case.trust)
    outsider = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    for user in (auditor, outsider):
        user.set_password(PASSWORD)
        user.save()
    sub = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)

    login(page, auditor.username, PASSWORD)
    page.goto("/reports/")
    assert_accessible(page)
    page.goto(f"/reports/{statement.uid}/")
    with page.expect_download() as download:
        page.locator(f"a[href='/reports/{statement.uid}/pdf/']").first.click()
    pdf = download.value.path().read_bytes()
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    closing = _closing(text)

    page.goto(f"/trusts/{case.trust.pk}/beneficiaries/{case.mv1.pk}/")
    shown = page.locator("dd", has_text="2100-MV-1").inner_text()
    assert f"{closing} USD" in shown, (closing, shown)
    assert format_money(sub.balance).replace(" USD", "") == closing
    page.goto(f"/trusts/{case.trust.pk}/accounts/{sub.pk}/")
    latest = page.locator("tbody tr").first.locator("td").last.inner_text()
    assert latest == f"{closing} USD"
    screenshot(page, "auditor-account-history")

    page.context.clear_cookies()
    login(page, outsider.username, PASSWORD)
    assert page.request.get(f"/reports/{statement.uid}/pdf/").status == 404
    assert page.goto(f"/trusts/{case.trust.pk}/beneficiaries/{case.mv1.pk}/").status == 404
