"""Asking for documents: one report or a batch (writes: report rows and audit events).

``report_request`` and ``report_batch_create`` record what was asked and hand it to a worker once
the transaction commits (by task name, through ``trust.background.task_enqueue``);
``batch_progress`` and ``batch_requeue`` watch a batch and send its unfinished reports again.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from disbursements.models import CarePartner, Payment
from reports.models import Kind, Report, ReportBatch
from reports.periods import Period
from reports.selectors import natural_key
from reports.services.checkpoints import period_closed, report_checkpoint
from trust.access import require
from trust.audit.events import AuditSpec, audit_record, audit_record_many
from trust.background import task_enqueue_many
from trust.models import Account, Beneficiary, Reconciliation, Trust
from trust.roles import Action

PERIOD_KINDS = {Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT}


class ReportError(ValidationError):
    """A report that cannot be made as asked (clear message, nothing written)."""


@dataclass(frozen=True)
class _Asked:
    kind: str
    trust: Trust
    period: Period
    beneficiary: Beneficiary | None = None
    partner: CarePartner | None = None
    payment: Payment | None = None
    reconciliation: Reconciliation | None = None

    def subject_key(self) -> str:
        for name in ("payment", "beneficiary", "partner", "reconciliation"):
            value = getattr(self, name)
            if value is not None:
                return f"{name}:{value.pk}"
        return "trust"


def _check(
    *,
    kind: str,
    trust: Trust,
    period: Period | None,
    beneficiary: Beneficiary | None,
    payment: Payment | None,
    today: date,
    reconciliation: Reconciliation | None = None,
) -> _Asked:
    if kind not in Kind.values:
        raise ReportError(f"unknown kind of report {kind!r}", code="kind")
    if kind == Kind.BENEFICIARY_STATEMENT:
        if beneficiary is None:
            raise ReportError("a beneficiary statement needs a beneficiary", code="beneficiary")
        if beneficiary.trust_id != trust.pk:
            raise ReportError("the beneficiary is not in this trust", code="beneficiary")
        if not Account.objects.filter(
            beneficiary=beneficiary, role=Account.Role.SUB_LEDGER
        ).exists():
            raise ReportError(
                f"{beneficiary.pseudonym} has no sub-ledger yet: nothing to state",
                code="beneficiary",
            )
    elif beneficiary is not None:
        raise ReportError("only a beneficiary statement takes a beneficiary", code="beneficiary")
    if kind == Kind.REMITTANCE_ADVICE:
        if payment is None:
            raise ReportError("a remittance advice needs a payment", code="payment")
        if payment.trust_id != trust.pk:
            raise ReportError("the payment is not in this trust", code="payment")
        return _Asked(
            kind,
            trust,
            Period(payment.value_date, payment.value_date),
            payment=payment,
            partner=payment.request.partner,
        )
    if payment is not None:
        raise ReportError("only a remittance advice takes a payment", code="payment")
    if kind == Kind.BANK_RECONCILIATION:
        if reconciliation is None:
            raise ReportError(
                "a bank reconciliation's document needs a signed-off reconciliation",
                code="reconciliation",
            )
        if reconciliation.trust_id != trust.pk:
            raise ReportError("the reconciliation is not in this trust", code="reconciliation")
        if reconciliation.status == Reconciliation.Status.DRAFT:
            raise ReportError("only a signed-off reconciliation is printed", code="reconciliation")
        day = reconciliation.as_of
        return _Asked(kind, trust, Period(day, day), reconciliation=reconciliation)
    if reconciliation is not None:
        raise ReportError(
            "only a bank reconciliation's document takes a reconciliation", code="reconciliation"
        )
    if kind in PERIOD_KINDS:
        if period is None:
            raise ReportError("this report needs a period (e.g. 2026-Q3)", code="period")
        if period.start > today:
            raise ReportError(f"the period {period} has not started yet", code="period")
        return _Asked(kind, trust, period, beneficiary=beneficiary)
    # Order status and the audit certificate describe the books as they are today.
    return _Asked(kind, trust, Period(today, today))


def _operation_id(asked: _Asked, given: str | None) -> str:
    if given:
        return given[:150]
    if asked.reconciliation is not None:
        # Signed-off figures never change: asked again, it is the document already made, unless
        # changes were recorded against the reconciliation since (then a new one lists them).
        changes = asked.reconciliation.changes.count()
        suffix = f":changes-{changes}" if changes else ""
        return f"{asked.kind}:{asked.trust.pk}:{asked.subject_key()}{suffix}"
    if asked.kind in PERIOD_KINDS | {Kind.REMITTANCE_ADVICE} and (
        asked.kind == Kind.REMITTANCE_ADVICE or period_closed(asked.trust, asked.period)
    ):
        # Reproducible documents: asking again returns the document already made.
        return f"{asked.kind}:{asked.trust.pk}:{asked.subject_key()}:{asked.period.key}"
    return uuid.uuid4().hex


def _enqueue(report_ids: Sequence[int], batch_id: int | None = None, *, trust: Any = None) -> None:
    """Queue each report once the transaction commits, through the outbox (one the broker
    refused then is sent by the drain). ``batch_requeue`` (``generate_statements`` run again
    with the batch's operation id) queues again the reports of a batch that are not done."""
    task_enqueue_many(
        "reports.tasks.generate_report_task",
        [((report_id, batch_id), {}) for report_id in report_ids],
        trust=trust,
    )


def _require_asker(actor: Any | None, trust: Trust) -> None:
    require(
        actor,
        Action.REPORT_REQUEST,
        trust,
        "Only the trust's trustees and auditors ask for its documents.",
        "not_allowed",
        system=True,
    )


def report_request(
    *,
    kind: str,
    trust: Trust,
    actor: Any | None,
    period: Period | None = None,
    beneficiary: Beneficiary | None = None,
    payment: Payment | None = None,
    reconciliation: Reconciliation | None = None,
    operation_id: str | None = None,
    enqueue: bool = True,
) -> Report:
    """Ask for one document; a worker generates it once this commits.

    Refuses a kind that does not exist, a subject from another trust, a statement without a
    sub-ledger, a period that has not started. Idempotent: the same ``operation_id`` returns the
    same report (and a different request under it is refused); without one, a closed period's
    document, a payment's advice or a signed-off reconciliation's document asked again is the
    one already made, while an open period
    gets a fresh document (its figures may have changed). Refuses a user who may not ask for
    the trust's documents (``actor=None`` is the schedule or a command)."""
    _require_asker(actor, trust)
    asked = _check(
        kind=kind,
        trust=trust,
        period=period,
        beneficiary=beneficiary,
        payment=payment,
        today=timezone.localdate(),
        reconciliation=reconciliation,
    )
    key = _operation_id(asked, operation_id)
    try:
        return _request(asked, key, actor, enqueue)
    except IntegrityError:
        # The same request at the same moment (a double click): the other one made it.
        return _request(asked, key, actor, enqueue)


def _request(asked: _Asked, key: str, actor: Any | None, enqueue: bool) -> Report:
    trust = asked.trust
    with transaction.atomic():
        existing = Report.objects.filter(operation_id=key).first()
        if existing is not None:
            same = (
                existing.kind == asked.kind
                and existing.trust_id == trust.pk
                and existing.beneficiary_id == getattr(asked.beneficiary, "pk", None)
                and existing.payment_id == getattr(asked.payment, "pk", None)
                and existing.reconciliation_id == getattr(asked.reconciliation, "pk", None)
                and (existing.period_start, existing.period_end)
                == (asked.period.start, asked.period.end)
            )
            if not same:
                raise ReportError(
                    "this operation id was used for another report", code="operation_id"
                )
            if existing.status == Report.Status.FAILED:
                Report.objects.filter(pk=existing.pk).update(status=Report.Status.QUEUED)
                existing.status = Report.Status.QUEUED
                if enqueue:
                    _enqueue([existing.pk], trust=trust)
            return existing
        report = Report.objects.create(
            operation_id=key,
            kind=asked.kind,
            trust=trust,
            beneficiary=asked.beneficiary,
            partner=asked.partner,
            payment=asked.payment,
            reconciliation=asked.reconciliation,
            period_start=asked.period.start,
            period_end=asked.period.end,
            requested_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            action="report.requested",
            actor=actor,
            trust_id=trust.pk,
            object_type="report",
            object_id=report.uid,
            changes={
                "kind": report.kind,
                "subject": asked.subject_key(),
                "period": asked.period.key,
            },
        )
        if enqueue:
            _enqueue([report.pk], trust=trust)
    return report


def bank_reconciliation_signed_off(reconciliation: Reconciliation, actor: Any) -> None:
    """The sign-off hook (``ReportsConfig.ready`` registers it with the bank's services): once
    the sign-off commits, ask for the reconciliation's document on behalf of the trustee who
    signed. A refusal then is logged and leaves the sign-off as it is (it can be asked again)."""
    transaction.on_commit(
        functools.partial(_ask_for_reconciliation, reconciliation.pk, actor), robust=True
    )


def _ask_for_reconciliation(reconciliation_id: int, actor: Any) -> None:
    reconciliation = Reconciliation.objects.select_related("trust").get(pk=reconciliation_id)
    report_request(
        kind=Kind.BANK_RECONCILIATION,
        trust=reconciliation.trust,
        actor=actor,
        reconciliation=reconciliation,
    )


def statement_beneficiaries(trust: Trust) -> list[Beneficiary]:
    """The beneficiaries that get a statement: every one with a sub-ledger, by pseudonym."""
    ids = Account.objects.filter(trust=trust, role=Account.Role.SUB_LEDGER).values("beneficiary_id")
    found = Beneficiary.objects.filter(pk__in=ids)
    return sorted(found, key=lambda b: (natural_key(b.pseudonym), b.pk))


def report_batch_create(
    *,
    trust: Trust,
    period: Period,
    actor: Any | None,
    kind: str = Kind.BENEFICIARY_STATEMENT,
    operation_id: str | None = None,
    enqueue: bool = True,
) -> ReportBatch:
    """Ask for the statements of every beneficiary of ``trust`` for ``period`` (or, with
    ``kind=court_account``, the trust's account): one batch whose progress can be watched.
    The same ``operation_id`` returns the same batch (a scheduled run that fires twice)."""
    _require_asker(actor, trust)
    if kind not in (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT):
        raise ReportError("batches are for beneficiary statements and court accounts", code="kind")
    today = timezone.localdate()
    if period.start > today:
        raise ReportError(f"the period {period} has not started yet", code="period")
    key = (operation_id or uuid.uuid4().hex)[:100]
    try:
        return _batch(trust, period, actor, kind, key, enqueue)
    except IntegrityError:
        # The same batch asked twice at the same moment: the other one made it.
        return _batch(trust, period, actor, kind, key, enqueue)


def _batch(
    trust: Trust, period: Period, actor: Any | None, kind: str, key: str, enqueue: bool
) -> ReportBatch:
    with transaction.atomic():
        existing = ReportBatch.objects.filter(operation_id=key).first()
        if existing is not None:
            if (existing.trust_id, existing.kind, existing.period_start, existing.period_end) != (
                trust.pk,
                kind,
                period.start,
                period.end,
            ):
                raise ReportError(
                    "this operation id was used for another batch", code="operation_id"
                )
            return existing
        subjects: list[Beneficiary | None] = (
            list(statement_beneficiaries(trust)) if kind == Kind.BENEFICIARY_STATEMENT else [None]
        )
        checkpoint, closed = report_checkpoint(trust=trust, period=period)
        batch = ReportBatch.objects.create(
            checkpoint=checkpoint,
            closed_period=closed,
            operation_id=key,
            trust=trust,
            kind=kind,
            period_start=period.start,
            period_end=period.end,
            requested_by=actor if getattr(actor, "pk", None) else None,
            total=len(subjects),
        )
        requester = actor if getattr(actor, "pk", None) else None
        Report.objects.bulk_create(
            [
                Report(
                    operation_id=f"{key}:{b.pk if b else 'trust'}",
                    kind=kind,
                    trust=trust,
                    beneficiary=b,
                    period_start=period.start,
                    period_end=period.end,
                    batch=batch,
                    requested_by=requester,
                )
                for b in subjects
            ],
            batch_size=1000,
        )
        audit_record_many(
            [
                AuditSpec(
                    action="report.batch_requested",
                    trust_id=trust.pk,
                    actor=actor,
                    object_type="report_batch",
                    object_id=batch.operation_id,
                    changes={"kind": kind, "period": period.key, "reports": len(subjects)},
                )
            ]
        )
        if enqueue:
            _enqueue(list(batch.reports.values_list("pk", flat=True)), batch.pk, trust=trust)
    return batch


@dataclass(frozen=True)
class BatchProgress:
    total: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * (self.done + self.failed) / self.total)


def batch_progress(batch: ReportBatch) -> BatchProgress:
    counts = dict.fromkeys(Report.Status.values, 0)
    for status, n in _status_counts(batch):
        counts[status] = n
    return BatchProgress(
        total=batch.total,
        done=counts[Report.Status.DONE],
        failed=counts[Report.Status.FAILED],
    )


def _status_counts(batch: ReportBatch) -> list[tuple[str, int]]:
    from django.db.models import Count

    return [
        (row["status"], row["n"])
        for row in Report.objects.filter(batch=batch)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    ]


def batch_requeue(*, batch: ReportBatch) -> int:
    """Queue again the reports of ``batch`` that are not done (after a broker outage or a worker
    killed mid-task on the filesystem transport). Generating is idempotent, so a report queued
    twice is still made once."""
    ids = list(batch.reports.exclude(status=Report.Status.DONE).values_list("pk", flat=True))
    Report.objects.filter(pk__in=ids, status=Report.Status.FAILED).update(
        status=Report.Status.QUEUED
    )
    with transaction.atomic():
        _enqueue(ids, batch.pk, trust=batch.trust_id)
    return len(ids)
