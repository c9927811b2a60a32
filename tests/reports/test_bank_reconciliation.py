"""The bank reconciliation as a document: made from the figures as signed off (never recomputed),
asked for when a reconciliation is signed off, refused without a signed-off reconciliation, the
same bytes for the same reconciliation, kept from caseworkers; and the account to the court's
bank section, with and without a signed-off reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from reports.documents import render_document
from reports.models import Kind, Report
from reports.periods import Period
from reports.selectors import bank_reconciliation_figures
from reports.services import report_generate, report_request, report_verify_code
from tests.disbursements.test_requests import make_world
from tests.reports.scenario import Case, build_case, reconcile, usd
from tests.reports.test_documents import generate, money, row_amount, text_of
from trust.access import can, visible_reports
from trust.audit.checkpoints import audit_checkpoint
from trust.bank.models import Reconciliation, StatementLine
from trust.bank.services.matching import match_undo
from trust.models import Account, AuditEvent, EntryKind
from trust.roles import Action
from trust.services.ledger import Leg, entry_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def case() -> Case:
    return build_case()


def test_the_document_prints_the_signed_figures(case: Case) -> None:
    rec = reconcile(case, note="Checked against the paper statement")
    report = generate(case, Kind.BANK_RECONCILIATION, reconciliation=rec)
    text = text_of(report)
    figures = rec.figures
    assert row_amount(text, "Bank's closing balance on") == money(figures["bank_closing_minor"])
    assert row_amount(text, "Adjusted bank balance") == money(figures["adjusted_bank_minor"])
    assert row_amount(text, "Unexplained difference") == money(0)
    assert row_amount(text, "Held for the beneficiaries (sub-ledgers)") == money(
        next(total for role, _, total in figures["held"] if role == Account.Role.SUB_LEDGER)
    )
    assert row_amount(text, "Difference") == money(0)
    assert rec.figures_sha256 in text.replace("\n", "")
    assert case.trustee.username in text and "Checked against the paper statement" in text
    assert "Changes after sign-off" in text and "None recorded." in text
    assert f"Bank account: Invented Bank {rec.bank_account.number}" in text
    assert report.period_start == report.period_end == rec.as_of
    event = AuditEvent.objects.get(action="report.generated", object_id=str(report.uid))
    assert b"bank_reconciliation" in bytes(event.data)


def test_the_figures_are_those_signed_never_recomputed(case: Case) -> None:
    rec = reconcile(case)
    bank = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    sub1 = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)
    # An entry dated in the reconciled period, after sign-off: today's books differ.
    entry_post(
        trust=case.trust,
        actor=None,
        effective_date=rec.as_of - timedelta(days=1),
        legs=[Leg(bank, usd("25.00")), Leg(sub1, usd("-25.00"))],
        idempotency_key="late-entry",
        memo="Recorded after the sign-off",
        kind=EntryKind.ADJUSTMENT,
    )
    text = text_of(generate(case, Kind.BANK_RECONCILIATION, reconciliation=rec))
    assert row_amount(text, "Ledger's bank account") == money(rec.figures["ledger_bank_minor"])
    assert row_amount(text, "Adjusted bank balance") == money(rec.figures["adjusted_bank_minor"])


def test_a_change_after_sign_off_is_printed_and_makes_a_new_document(case: Case) -> None:
    rec = reconcile(case)
    first = generate(case, Kind.BANK_RECONCILIATION, reconciliation=rec)
    # Asked again: the document already made (signed-off figures do not change).
    again = report_request(
        kind=Kind.BANK_RECONCILIATION,
        trust=case.trust,
        actor=case.trustee,
        reconciliation=rec,
        enqueue=False,
    )
    assert again.pk == first.pk
    line = StatementLine.objects.filter(match__isnull=False).order_by("pk").first()
    match_undo(actor=case.trustee, match=line.match, reason="Matched with the wrong entry")
    second = generate(case, Kind.BANK_RECONCILIATION, reconciliation=rec)
    assert second.pk != first.pk
    text = text_of(second)
    assert "Matched with the wrong entry" in text and "None recorded." not in text
    assert "should be reconciled again" in " ".join(text.split())
    # The first document's code no longer matches: a change was recorded against it.
    assert report_verify_code(code=first.verification_code, actor=None).matches_books is False


def test_the_same_reconciliation_renders_to_the_same_bytes(case: Case) -> None:
    rec = reconcile(case)
    figures = bank_reconciliation_figures(reconciliation_id=rec.pk)
    checkpoint = audit_checkpoint()
    now = timezone.now()
    one, two = (
        render_document(
            Kind.BANK_RECONCILIATION,
            bank_reconciliation_figures(reconciliation_id=rec.pk) if n else figures,
            code="cd" * 32,
            checkpoint=checkpoint,
            closed=False,
            generated_at=now,
        )
        for n in range(2)
    )
    assert one.pdf == two.pdf


def test_signing_off_asks_for_the_document_once_it_commits(
    case: Case, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        rec = reconcile(case)
    report = Report.objects.get(kind=Kind.BANK_RECONCILIATION)
    assert report.reconciliation_id == rec.pk
    assert report.requested_by_id == case.trustee.pk
    # The generation task ran once the request committed (inline in tests).
    assert report.status == Report.Status.DONE, report.error
    assert AuditEvent.objects.filter(action="report.requested", object_id=str(report.uid)).exists()


def test_signing_off_without_a_commit_asks_for_nothing(case: Case) -> None:
    reconcile(case)  # the test's transaction never commits
    assert not Report.objects.filter(kind=Kind.BANK_RECONCILIATION).exists()


@pytest.mark.parametrize("bad", ["missing", "draft", "other_trust", "wrong_kind"])
def test_bad_requests_are_refused(case: Case, bad: str) -> None:
    rec = reconcile(case)
    kwargs = {"kind": Kind.BANK_RECONCILIATION, "reconciliation": rec}
    if bad == "missing":
        kwargs["reconciliation"] = None
    elif bad == "draft":
        Reconciliation.objects.filter(pk=rec.pk).update(status=Reconciliation.Status.DRAFT)
        rec.refresh_from_db()
    elif bad == "other_trust":
        kwargs["trust"] = make_world("other").trust
    else:
        kwargs["kind"] = Kind.ORDER_STATUS
    kwargs.setdefault("trust", case.trust)
    with pytest.raises(ValidationError):
        report_request(actor=None, enqueue=False, **kwargs)
    assert not Report.objects.exists()


def test_caseworkers_do_not_see_it(case: Case) -> None:
    rec = reconcile(case)
    report = generate(case, Kind.BANK_RECONCILIATION, reconciliation=rec)
    caseworker = case.world.caseworker
    assert not visible_reports(caseworker).filter(pk=report.pk).exists()
    assert not can(caseworker, Action.REPORT_VIEW, report)
    assert visible_reports(case.trustee).filter(pk=report.pk).exists()


def test_court_account_without_a_signed_off_reconciliation_says_so(case: Case) -> None:
    text = text_of(generate(case, Kind.COURT_ACCOUNT))
    assert "No bank reconciliation was signed off for this period" in text
    # The ledger's own reconciliation is still there.
    bank = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    assert row_amount(text, "Held in the bank (per the ledger)") == money(bank.balance_minor)


def test_court_account_shows_the_latest_signed_off_reconciliation(case: Case) -> None:
    rec = reconcile(case)
    report = generate(case, Kind.COURT_ACCOUNT)
    text = text_of(report)
    assert "No bank reconciliation was signed off" not in text
    assert "Bank reconciliation signed off (USD)" in text
    assert f"signed off by {case.trustee.username}" in " ".join(text.split())
    assert row_amount(text, "Bank's closing balance on") == money(rec.bank_closing_minor)
    assert row_amount(text, "Adjusted bank balance") == money(rec.adjusted_bank_minor)
    assert row_amount(text, "Held in the bank (per the ledger)") == money(rec.ledger_bank_minor)
    assert row_amount(text, "Unexplained difference") == money(0)
    assert rec.figures_sha256[:16] in text
    for secret in ("Invented Childname", "Secretsurname"):
        assert secret not in text
    # The reconciliation is part of what the code covers.
    assert report.figures["figures"]["currencies"][0]["bank"][0][1]["reconciliation"] == rec.pk


def test_court_account_of_an_earlier_period_does_not_show_a_later_reconciliation(
    case: Case,
) -> None:
    rec = reconcile(case)
    earlier = Period(case.period.start - timedelta(days=30), rec.as_of - timedelta(days=1))
    report = report_generate(
        report_id=report_request(
            kind=Kind.COURT_ACCOUNT,
            trust=case.trust,
            actor=case.trustee,
            period=earlier,
            enqueue=False,
        ).pk
    )
    assert "No bank reconciliation was signed off for this period" in text_of(report)
