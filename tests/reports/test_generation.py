"""Generating: one document per request however often it is asked or delivered, reproducible
closed periods (same figures, same code), the checkpoint a document is built on, refusals that
write nothing, failures recorded with their reason, and the verification code checked back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.utils import timezone

from reports.models import Kind, Report, ReportBatch
from reports.periods import Period
from reports.services import (
    batch_progress,
    report_batch_create,
    report_checkpoint,
    report_generate,
    report_request,
    report_verify_code,
)
from tests.reports.scenario import Case, build_case, usd
from tests.reports.test_documents import text_of
from trust.audit.checkpoints import audit_checkpoint
from trust.models import Account, AuditCheckpoint, AuditEvent, EntryKind
from trust.services.ledger import Leg, entry_post
from trust.services.trusts import trust_set_lock_date

pytestmark = pytest.mark.django_db


@pytest.fixture
def case() -> Case:
    return build_case()


def statement(case: Case, **extra) -> Report:  # type: ignore[no-untyped-def]
    report = report_request(
        kind=Kind.BENEFICIARY_STATEMENT,
        trust=case.trust,
        actor=case.trustee,
        period=extra.pop("period", case.period),
        beneficiary=extra.pop("beneficiary", case.mv1),
        enqueue=False,
        **extra,
    )
    return report_generate(report_id=report.pk)


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def close_period(case: Case) -> None:
    trust_set_lock_date(trust=case.trust, lock_date=case.period.end, actor=case.trustee)
    case.trust.refresh_from_db()


def test_generating_twice_makes_one_document(case: Case) -> None:
    report = statement(case)
    name, code = report.file.name, report.verification_code
    again = report_generate(report_id=report.pk)  # a task delivered twice
    assert (again.file.name, again.verification_code) == (name, code)
    assert events("report.generated") == 1
    assert default_storage.exists(name)
    assert name.startswith("reports/") and "MV-1" not in name  # nothing about the child in a path


def test_the_same_operation_id_returns_the_same_report(case: Case) -> None:
    first = statement(case, operation_id="form-123")
    second = statement(case, operation_id="form-123")
    assert first.pk == second.pk
    assert Report.objects.count() == 1
    with pytest.raises(ValidationError, match="another report"):
        statement(case, operation_id="form-123", beneficiary=case.mv2)


def test_open_period_is_provisional_and_a_new_request_is_a_new_document(case: Case) -> None:
    first = statement(case)
    second = statement(case)
    assert first.pk != second.pk
    assert not first.closed_period
    assert "PROVISIONAL" in text_of(first)


def test_closed_period_gives_the_same_figures_and_code(case: Case) -> None:
    close_period(case)
    first = statement(case)
    assert first.closed_period
    assert "PROVISIONAL" not in text_of(first)
    # Asked again: the same document (reproducible, so it is not made twice).
    assert statement(case).pk == first.pk
    # Made again from scratch, later, after more activity and newer checkpoints: same code.
    audit_checkpoint()
    statement(case, beneficiary=case.mv2)
    audit_checkpoint()
    again = statement(case, operation_id="regenerate")
    assert again.pk != first.pk
    assert again.checkpoint_id == first.checkpoint_id
    assert again.verification_code == first.verification_code
    assert again.figures == first.figures
    assert (
        text_of(again).split("Verification code")[0] == text_of(first).split("Verification code")[0]
    )


def test_closed_period_is_built_on_the_first_checkpoint_after_the_lock(case: Case) -> None:
    before = audit_checkpoint()
    close_period(case)
    checkpoint, closed = report_checkpoint(trust=case.trust, period=case.period)
    assert closed and checkpoint.size > before.size
    lock = AuditEvent.objects.get(action="trust.lock_date_set", trust_id=case.trust.pk)
    assert checkpoint.size >= lock.sealed
    audit_checkpoint()
    assert report_checkpoint(trust=case.trust, period=case.period) == (checkpoint, True)


def test_identical_inputs_give_identical_bytes(case: Case) -> None:
    """reportlab's invariant mode: the file depends only on what is printed."""
    from reports.documents import render_document
    from reports.selectors import beneficiary_statement_figures

    figures = beneficiary_statement_figures(beneficiary=case.mv1, period=case.period)
    checkpoint = audit_checkpoint()
    now = timezone.now()
    one, two = (
        render_document(
            Kind.BENEFICIARY_STATEMENT,
            figures,
            code="ab" * 32,
            checkpoint=checkpoint,
            closed=True,
            generated_at=now,
        )
        for _ in range(2)
    )
    assert one.pdf == two.pdf


def test_the_code_changes_when_a_figure_changes(case: Case) -> None:
    first = statement(case)
    sub1 = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)
    bank = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    entry_post(
        trust=case.trust,
        actor=None,
        effective_date=case.period.start + timedelta(days=1),
        legs=[Leg(bank, usd("0.01")), Leg(sub1, usd("-0.01"))],
        idempotency_key="one-cent",
        memo="A cent",
        kind=EntryKind.ADJUSTMENT,
    )
    second = report_generate(
        report_id=report_request(
            kind=Kind.BENEFICIARY_STATEMENT,
            trust=case.trust,
            actor=case.trustee,
            period=case.period,
            beneficiary=case.mv1,
            enqueue=False,
        ).pk,
        checkpoint=first.checkpoint,
    )
    assert second.verification_code != first.verification_code
    # Checking the first document's code now says the books moved on (the period is open).
    check = report_verify_code(code=first.code_display, actor=case.trustee)
    assert check.report == first and check.matches_books is False
    assert "open" in check.message
    assert report_verify_code(code=second.code_display, actor=case.trustee).matches_books


def test_a_printed_code_is_checked_against_the_books(case: Case) -> None:
    close_period(case)
    report = statement(case)
    typed = report.code_display.lower().replace(" ", "-")
    check = report_verify_code(code=typed, actor=case.trustee)
    assert check.matches_books is True and check.report == report
    assert events("report.code_checked") == 1
    assert report_verify_code(code="1234", actor=None).report is None
    assert report_verify_code(code="0" * 64, actor=None).matches_books is None


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "balance_sheet"},
        {"kind": Kind.BENEFICIARY_STATEMENT, "beneficiary": None},
        {"kind": Kind.COURT_ACCOUNT, "beneficiary": "mv1"},
        {"kind": Kind.COURT_ACCOUNT, "period": None},
        {"kind": Kind.COURT_ACCOUNT, "future": True},
        {"kind": Kind.REMITTANCE_ADVICE, "payment": None},
        {"kind": Kind.BENEFICIARY_STATEMENT, "other_trust": True},
    ],
)
def test_bad_requests_are_refused_and_write_nothing(case: Case, bad: dict) -> None:
    from tests.disbursements.test_requests import make_world

    kwargs = {
        "kind": bad["kind"],
        "trust": case.trust,
        "actor": case.trustee,
        "period": case.period,
        "beneficiary": case.mv1,
        "enqueue": False,
    }
    if "beneficiary" in bad:
        kwargs["beneficiary"] = case.mv1 if bad["beneficiary"] == "mv1" else None
    if "period" in bad:
        kwargs["period"] = None
    if bad.get("future"):
        later = timezone.localdate() + timedelta(days=10)
        kwargs["period"] = Period(later, later + timedelta(days=30))
    if "payment" in bad:
        kwargs["beneficiary"] = None
    if bad.get("other_trust"):
        kwargs["beneficiary"] = make_world("x").mv1
    before = (Report.objects.count(), events("report.requested"))
    with pytest.raises(ValidationError):
        report_request(**kwargs)
    assert (Report.objects.count(), events("report.requested")) == before


def test_a_court_account_that_does_not_reconcile_is_refused(case: Case) -> None:
    """The daily totals and the postings disagree (a damaged database): no PDF, a clear reason."""
    from trust.db import ledger_guard_suspended
    from trust.models import AccountDay

    sub1 = case.mv1.accounts.get(role=Account.Role.SUB_LEDGER)
    with ledger_guard_suspended():
        AccountDay.objects.filter(account=sub1).update(net_minor=0)
    report = report_request(
        kind=Kind.COURT_ACCOUNT,
        trust=case.trust,
        actor=case.trustee,
        period=case.period,
        enqueue=False,
    )
    report = report_generate(report_id=report.pk)
    assert report.status == Report.Status.FAILED
    assert "does not reconcile" in report.error and "check_ledger" in report.error
    assert not report.file
    assert events("report.failed") == 1 and events("report.generated") == 0


def test_a_transient_error_leaves_the_report_to_retry(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = report_request(
        kind=Kind.ORDER_STATUS, trust=case.trust, actor=case.trustee, enqueue=False
    )
    import reports.services.generation as generation

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(generation, "report_checkpoint", down)
    with pytest.raises(OperationalError):
        report_generate(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == Report.Status.QUEUED and not report.file
    assert events("report.generated") == events("report.failed") == 0
    monkeypatch.undo()
    done = report_generate(report_id=report.pk)
    assert done.status == Report.Status.DONE and done.attempts == 1


def test_batch_of_every_beneficiary(case: Case) -> None:
    batch = report_batch_create(
        trust=case.trust,
        period=case.period,
        actor=case.trustee,
        operation_id="b1",
        enqueue=False,
    )
    assert batch.total == 2
    assert (
        report_batch_create(
            trust=case.trust,
            period=case.period,
            actor=case.trustee,
            operation_id="b1",
            enqueue=False,
        )
        == batch
    )
    assert ReportBatch.objects.count() == 1 and Report.objects.count() == 2
    assert batch_progress(batch).percent == 0
    for report in batch.reports.all():
        report_generate(report_id=report.pk)
    progress = batch_progress(batch)
    assert (progress.done, progress.finished, progress.percent) == (2, True, 100)
    pseudonyms = sorted(r.beneficiary.pseudonym for r in batch.reports.all())
    assert pseudonyms == ["MV-1", "MV-2"]
    with pytest.raises(ValidationError):
        report_batch_create(
            trust=case.trust,
            period=case.period,
            actor=None,
            operation_id="b1",
            kind=Kind.COURT_ACCOUNT,
            enqueue=False,
        )


def test_the_schedule_asks_once_per_trust_and_period(case: Case) -> None:
    from reports.tasks import schedule_statements_task

    first = schedule_statements_task.run(kind=Kind.BENEFICIARY_STATEMENT)
    again = schedule_statements_task.run(kind=Kind.BENEFICIARY_STATEMENT)
    assert first == again
    assert ReportBatch.objects.count() == 1
    batch = ReportBatch.objects.get()
    assert batch.period_end < timezone.localdate().replace(day=1)
    assert schedule_statements_task.run(kind=Kind.COURT_ACCOUNT)["period"].endswith(
        ("Q1", "Q2", "Q3", "Q4")
    )


def test_the_beat_schedule_names_the_report_tasks() -> None:
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "reports.tasks.schedule_statements_task" in tasks


def test_checkpoint_is_made_when_none_exists(case: Case) -> None:
    assert not AuditCheckpoint.objects.exists()
    checkpoint, closed = report_checkpoint(trust=case.trust, period=case.period)
    assert checkpoint.size > 0 and not closed


@pytest.mark.postgres
def test_two_workers_on_one_report_make_one_document(postgres_tx: None) -> None:
    """A message delivered to two workers at once: the second waits on the report's row and
    finds it done."""
    from tests.trust.test_receipts_concurrency import run_together

    case = build_case()
    report = report_request(
        kind=Kind.COURT_ACCOUNT,
        trust=case.trust,
        actor=case.trustee,
        period=case.period,
        enqueue=False,
    )
    results = run_together([lambda: report_generate(report_id=report.pk)] * 4)
    assert all(isinstance(r, Report) for r in results), results
    assert {r.verification_code for r in results} == {results[0].verification_code}
    assert events("report.generated") == 1
    report.refresh_from_db()
    assert report.status == Report.Status.DONE and report.attempts >= 1


def test_a_batch_made_open_and_closed_before_generation_uses_the_closed_checkpoint(
    case: Case,
) -> None:
    """A batch asked while its period was open, generated after the lock: the document is
    built on the closed period's checkpoint, as one asked later would be."""
    batch = report_batch_create(
        trust=case.trust, period=case.period, actor=None, operation_id="open", enqueue=False
    )
    assert not batch.closed_period
    close_period(case)
    report = batch.reports.get(beneficiary=case.mv1)
    made = report_generate(report_id=report.pk, batch_id=batch.pk)
    assert made.closed_period
    assert made.checkpoint_id == report_checkpoint(trust=case.trust, period=case.period)[0].pk
    assert made.checkpoint_id != batch.checkpoint_id
    alone = statement(case, operation_id="alone")
    assert alone.verification_code == made.verification_code


def test_each_payment_has_its_own_advice(case: Case) -> None:
    """Two payments to one partner on one day: two advices (asked again, each is the same)."""
    first, second = (
        report_request(
            kind=Kind.REMITTANCE_ADVICE, trust=case.trust, actor=None, payment=p, enqueue=False
        )
        for p in (case.paid, case.returned)
    )
    assert first.pk != second.pk
    again = report_request(
        kind=Kind.REMITTANCE_ADVICE, trust=case.trust, actor=None, payment=case.paid, enqueue=False
    )
    assert again.pk == first.pk


@pytest.mark.postgres
def test_the_same_request_twice_at_once_makes_one_report(postgres_tx: None) -> None:
    """A double click: two requests with one operation id at the same moment."""
    from tests.trust.test_receipts_concurrency import run_together

    case = build_case()

    def ask() -> Report:
        return report_request(
            kind=Kind.ORDER_STATUS,
            trust=case.trust,
            actor=case.trustee,
            operation_id="double-click",
            enqueue=False,
        )

    results = run_together([ask] * 4)
    assert all(isinstance(r, Report) for r in results), results
    assert {r.pk for r in results} == {results[0].pk}
    assert events("report.requested") == 1
