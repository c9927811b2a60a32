"""Each document generated end to end (figures, PDF, storage, audit event), its text extracted
with pypdf and checked against the ledger, its first page rendered to PNG, and no child's
identity anywhere in it."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from django.core.files.storage import default_storage

from reports.models import Kind, Report
from reports.services import report_generate, report_request
from tests.reports.scenario import LEGAL_NAME, PURPOSE, Case, build_case, reconcile
from trust.models import Account, AuditEvent
from trust.selectors import account_balance_as_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def case() -> Case:
    return build_case()


def generate(case: Case, kind: str, **subject) -> Report:  # type: ignore[no-untyped-def]
    period = case.period if kind in (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT) else None
    report = report_request(
        kind=kind, trust=case.trust, actor=case.trustee, period=period, enqueue=False, **subject
    )
    report = report_generate(report_id=report.pk)
    assert report.status == Report.Status.DONE, report.error
    return report


def pdf_bytes(report: Report) -> bytes:
    with default_storage.open(report.file.name, "rb") as handle:
        return handle.read()


def text_of(report: Report) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes(report)))
    return "\n".join(page.extract_text() for page in reader.pages)


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def row_amount(text: str, label: str) -> str:
    """The amount printed at the end of the line that starts with ``label``."""
    match = re.search(rf"^{re.escape(label)}.*?(-?[\d,]+\.\d\d)\s*$", text, re.MULTILINE)
    assert match, f"no line {label!r} in:\n{text[:3000]}"
    return match.group(1)


def balance_at_end(case: Case, account: Account) -> int:
    return int(account_balance_as_of(account=account, as_of=case.period.end).amount * 100)


def test_beneficiary_statement_matches_the_ledger(case: Case) -> None:
    report = generate(case, Kind.BENEFICIARY_STATEMENT, beneficiary=case.mv1)
    text = text_of(report)
    sub = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)
    opening = int(account_balance_as_of(account=sub, as_of=case.period.day_before).amount * 100)
    closing = balance_at_end(case, sub)
    assert row_amount(text, "Opening balance on") == money(opening)
    assert row_amount(text, "Closing balance on") == money(closing)
    # Reserved: the shelter request approved and not paid (205.00); available = closing - that.
    assert row_amount(text, "Reserved for approved requests") == money(-20500)
    assert row_amount(text, "Available to spend") == money(closing - 20500)
    # Every movement of the sub-ledger in the period is a line with its entry number.
    postings = sub.postings.filter(
        effective_date__gte=case.period.start, effective_date__lte=case.period.end
    )
    for entry_id in set(postings.values_list("entry_id", flat=True)):
        assert f"#{entry_id}" in text
    assert "Disbursement, request #" in text and "Education" in text
    assert "Returned by the bank" in text
    assert "Exchange result on the returned payment" in text
    assert "Beneficiary: MV-1" in text
    assert case.trust.case_number in text and case.trust.caption in text
    assert re.search(r"Page 1 of \d+", text)
    assert "Verification code:" in text


def test_court_account_reconciles_to_the_cent(case: Case) -> None:
    report = generate(case, Kind.COURT_ACCOUNT)
    text = text_of(report)
    funds = Account.objects.filter(
        trust=case.trust,
        currency="USD",
        role__in=[Account.Role.SUB_LEDGER, Account.Role.UNALLOCATED, Account.Role.ADMINISTRATION],
    )
    opening = sum(
        int(account_balance_as_of(account=a, as_of=case.period.day_before).amount * 100)
        for a in funds
    )
    closing = sum(balance_at_end(case, a) for a in funds)
    bank = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    charges = row_amount(text, "Total charges")
    assert charges == row_amount(text, "Total credits")
    assert row_amount(text, "Balance on hand on") == money(opening)
    # Receipts: 3,000.00 in the period less the bounced 1,000.00 received and reversed.
    assert row_amount(text, "Receipts") == money(300000)
    assert row_amount(text, "Interest") == money(1234)
    # Fees: 12.00 on the first transfer, from the administration fund.
    assert row_amount(text, "Fees and expenses") == money(1200)
    # The returned transfer: 500.00 sent, 480.00 back: an exchange loss of 20.00.
    assert row_amount(text, "Exchange losses") == money(2000)
    # Disbursements by category: education 1,000.00; medical 500.00 paid and 500.00 returned.
    assert row_amount(text, "Disbursements: Education") == money(100000)
    assert row_amount(text, "Disbursements: Medical") == money(0)
    expected = opening + 300000 + 1234
    assert charges == money(expected)
    assert expected == closing + 100000 + 1200 + 2000
    assert row_amount(text, "Held in the bank (per the ledger)") == money(
        balance_at_end(case, bank)
    )
    assert row_amount(text, "Balance on hand (as above)") == money(closing)
    assert "Schedule D (USD): Disbursements" in text
    assert "50,000.00 PHP at 50.000000" in text
    assert "Reversal of entry" in text and "Cheque returned unpaid" in text
    assert "Signature of the trustee" in text
    # The table per beneficiary ends at the sub-ledgers' balances.
    mv1 = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)
    assert re.search(rf"^MV-1 .*{re.escape(money(balance_at_end(case, mv1)))}\s*$", text, re.M)


def test_remittance_advice_and_order_status(case: Case) -> None:
    advice = text_of(generate(case, Kind.REMITTANCE_ADVICE, payment=case.paid))
    assert "TRF-1" in advice and "50,000.00 PHP" in advice and "1,000.00 USD" in advice
    assert "Care partner: " + case.world.partner.name in advice
    status = text_of(generate(case, Kind.ORDER_STATUS))
    assert "Invented Defendant One" in status and "MV-2" in status
    # MV-2's line is 6,000.00 under the amended judgment.
    assert re.search(r"^MV-2 USD 6,000\.00", status, re.M), status


def test_audit_certificate_carries_the_checkpoint(case: Case) -> None:
    report = generate(case, Kind.AUDIT_CERTIFICATE)
    text = text_of(report)
    checkpoint = report.checkpoint
    assert f"{checkpoint.size:,} events" in text
    root = bytes(checkpoint.root).hex()
    assert root[:8] in text
    assert "PASSED" in text
    assert "report.requested" in text


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_first_page_renders_and_no_identity_is_printed(
    case: Case, kind: str, tmp_path: Path
) -> None:
    subject = {
        Kind.BENEFICIARY_STATEMENT: {"beneficiary": case.mv1},
        Kind.REMITTANCE_ADVICE: {"payment": case.paid},
    }.get(kind, {})
    if kind == Kind.BANK_RECONCILIATION:
        subject = {"reconciliation": reconcile(case)}
    report = generate(case, kind, **subject)
    data = pdf_bytes(report)
    assert hashlib.sha256(data).hexdigest() == report.sha256
    image = pypdfium2.PdfDocument(data)[0].render(scale=1).to_pil()
    image.save(tmp_path / f"{kind}.png")
    dark = sum(image.convert("L").histogram()[:128])
    assert dark > 2000, f"page 1 of the {kind} looks blank"
    text = text_of(report)
    for secret in (LEGAL_NAME, "Secretsurname", PURPOSE, "Secret Academy"):
        assert secret not in text
        assert secret.encode() not in data
    # The generation was recorded, with the file's hash and the code, in the same transaction.
    event = AuditEvent.objects.filter(action="report.generated", object_id=str(report.uid)).get()
    changes = json.loads(bytes(event.data))["changes"]
    assert changes["sha256"] == report.sha256
    assert changes["verification_code"] == report.verification_code
    assert LEGAL_NAME not in bytes(event.data).decode()
