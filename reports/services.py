"""Requesting and generating documents (writes: report rows, stored files, audit events).

``report_request`` and ``report_batch_create`` record what was asked and hand it to a worker once
the transaction commits; ``report_generate`` (the task's one call) builds the figures, picks the
audit checkpoint, computes the verification code, renders the PDF, stores it through Django's
storage API with its SHA-256 and records ``report.generated`` in the audit log, all in one
transaction on the report's locked row: a task delivered twice, or two workers at once, make one
document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import F
from django.utils import timezone

from disbursements.models import CarePartner, Payment
from reports.db import as_date, as_datetime, one
from reports.documents import DOCUMENTS, render_document
from reports.models import Kind, Report, ReportBatch
from reports.periods import Period
from reports.selectors import natural_key
from reports.verification import normalise_code, verification_code, verification_payload
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.events import AuditSpec, audit_record, audit_record_many
from trust.background import task_enqueue
from trust.models import Account, AuditCheckpoint, AuditEvent, Beneficiary, Trust

logger = logging.getLogger(__name__)

PERIOD_KINDS = {Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT}
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class ReportError(ValidationError):
    """A report that cannot be made as asked (clear message, nothing written)."""


# --- which checkpoint a document is built on ------------------------------------------------


def period_closed(trust: Trust, period: Period) -> bool:
    return trust.lock_date is not None and period.end <= trust.lock_date


def _lock_event(trust: Trust, period_end: date) -> AuditEvent | None:
    """The event that closed the period: the first lock-date change to on or after its end."""
    for event in AuditEvent.objects.filter(
        trust_id=trust.pk, action="trust.lock_date_set"
    ).order_by("id"):
        after = json.loads(bytes(event.data))["changes"].get("lock_date", {}).get("after")
        if after and date.fromisoformat(after) >= period_end:
            return event
    return None


def report_checkpoint(*, trust: Trust, period: Period) -> tuple[AuditCheckpoint, bool]:
    """The checkpoint a document of ``period`` is built on, and whether the period is closed.

    Closed period (on or before the trust's lock date): the first checkpoint that covers the
    event that closed it, signing one if none does yet; nothing in the period can change after
    that event, so the same checkpoint serves every later generation and the code is the same.
    Open period: the latest checkpoint (one is signed if there is none)."""
    closed = period_closed(trust, period)
    if closed:
        event = _lock_event(trust, period.end)
        if event is not None:
            if event.sealed is None:
                audit_checkpoint()  # seals it first
                event.refresh_from_db(fields=["sealed"])
            found = (
                AuditCheckpoint.objects.filter(size__gte=event.sealed)
                .order_by("size", "id")
                .first()
            )
            if found is None:
                found = audit_checkpoint()
            return found, True
    latest = AuditCheckpoint.objects.order_by("-size", "-id").first()
    return (latest or audit_checkpoint()), closed


# --- requesting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Asked:
    kind: str
    trust: Trust
    period: Period
    beneficiary: Beneficiary | None = None
    partner: CarePartner | None = None
    payment: Payment | None = None

    def subject_key(self) -> str:
        for name in ("payment", "beneficiary", "partner"):
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
    if asked.kind in PERIOD_KINDS | {Kind.REMITTANCE_ADVICE} and (
        asked.kind == Kind.REMITTANCE_ADVICE or period_closed(asked.trust, asked.period)
    ):
        # Reproducible documents: asking again returns the document already made.
        return f"{asked.kind}:{asked.trust.pk}:{asked.subject_key()}:{asked.period.key}"
    return uuid.uuid4().hex


def _enqueue(report_ids: Sequence[int], batch_id: int | None = None) -> None:
    """Queue each report once the transaction commits. One the broker refused stays queued in
    the database; ``batch_requeue`` (``generate_statements`` run again with the batch's operation
    id) sends it again."""
    for report_id in report_ids:
        task_enqueue("reports.tasks.generate_report_task", report_id, batch_id)


def report_request(
    *,
    kind: str,
    trust: Trust,
    actor: Any | None,
    period: Period | None = None,
    beneficiary: Beneficiary | None = None,
    payment: Payment | None = None,
    operation_id: str | None = None,
    enqueue: bool = True,
) -> Report:
    """Ask for one document; a worker generates it once this commits.

    Refuses a kind that does not exist, a subject from another trust, a statement without a
    sub-ledger, a period that has not started. Idempotent: the same ``operation_id`` returns the
    same report (and a different request under it is refused); without one, a closed period's
    document or a payment's advice asked again is the one already made, while an open period
    gets a fresh document (its figures may have changed)."""
    asked = _check(
        kind=kind,
        trust=trust,
        period=period,
        beneficiary=beneficiary,
        payment=payment,
        today=timezone.localdate(),
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
                    _enqueue([existing.pk])
            return existing
        report = Report.objects.create(
            operation_id=key,
            kind=asked.kind,
            trust=trust,
            beneficiary=asked.beneficiary,
            partner=asked.partner,
            payment=asked.payment,
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
            _enqueue([report.pk])
    return report


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
            _enqueue(list(batch.reports.values_list("pk", flat=True)), batch.pk)
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
        _enqueue(ids, batch.pk)
    return len(ids)


# --- generating -------------------------------------------------------------------------------


def _storage_name(report: Report) -> str:
    # A random name: nothing about the child, the partner or the case in a path.
    return f"reports/{report.uid.hex}.pdf"


@lru_cache(maxsize=64)
def _batch_checkpoint(batch_id: int) -> tuple[AuditCheckpoint | None, bool, str]:
    """A batch's checkpoint, whether its period was closed, and its kind, read once per worker
    process: the batch and checkpoint rows never change."""
    batch = ReportBatch.objects.select_related("checkpoint").get(pk=batch_id)
    return batch.checkpoint, batch.closed_period, batch.kind


class _Stale(Exception):
    """The batch's period was closed after the batch was made: pick the checkpoint again."""


@dataclass(frozen=True)
class _Head:
    status: str
    kind: str
    batch_id: int | None
    period: Period
    trust: Trust  # id and lock date only
    latest: AuditCheckpoint | None  # id, size, root and signing time only

    @property
    def closed(self) -> bool:
        return period_closed(self.trust, self.period)


_HEAD = (
    "SELECT r.status, r.kind, r.batch_id, r.period_start, r.period_end, r.trust_id, t.lock_date,"
    " c.id, c.size, c.root, c.signed_at"
    " FROM reports_report r JOIN trust_trust t ON t.id = r.trust_id"
    " LEFT JOIN trust_audit_checkpoint c ON c.id = (SELECT id FROM trust_audit_checkpoint"
    " ORDER BY size DESC, id DESC LIMIT 1)"
    " WHERE r.id = %s"
)


def _head(report_id: int) -> _Head:
    """What a report is and the latest checkpoint, before its transaction: one cheap read."""
    row = one(_HEAD, [report_id])
    if row is None:
        raise Report.DoesNotExist(f"report {report_id} does not exist")
    status, kind, batch_id, start, end, trust_id, lock_date, cp_id, size, root, signed_at = row
    latest = None
    if cp_id is not None:
        latest = AuditCheckpoint(
            pk=cp_id, size=size, root=bytes(root), signed_at=as_datetime(signed_at)
        )
    return _Head(
        status,
        kind,
        batch_id,
        Period(as_date(start), as_date(end)),
        Trust(pk=trust_id, lock_date=as_date(lock_date) if lock_date else None),
        latest,
    )


def report_generate(
    *, report_id: int, checkpoint: AuditCheckpoint | None = None, batch_id: int | None = None
) -> Report:
    """Generate report ``report_id`` (the task's one call). Returns the report as it is when
    done already. A refusal (the subject is gone, the books do not reconcile) marks the report
    failed with the reason; a transient database or broker error is raised for the task to
    retry, leaving the report queued for the next attempt.

    ``batch_id`` (the batch's tasks pass it) lets the batch's checkpoint and kind, read once per
    process, stand in for the first read of the report."""
    if batch_id is not None and checkpoint is None:
        chosen, closed, kind = _batch_checkpoint(batch_id)
        if chosen is not None:
            try:
                return _attempt(
                    report_id,
                    lambda: _generate(
                        report_id,
                        chosen,
                        snapshot=kind != Kind.BENEFICIARY_STATEMENT,
                        expect_closed=closed,
                    ),
                )
            except _Stale:
                pass
    head = _head(report_id)
    if head.status == Report.Status.DONE:
        return Report.objects.get(pk=report_id)
    try:
        if checkpoint is None and head.batch_id is not None:
            chosen, batch_closed, _ = _batch_checkpoint(head.batch_id)
            if batch_closed == head.closed:
                # For a closed period this is the checkpoint report_checkpoint would pick.
                checkpoint = chosen
        if checkpoint is None and not head.closed and head.latest is not None:
            checkpoint = head.latest
        if checkpoint is None:
            checkpoint, _ = report_checkpoint(trust=head.trust, period=head.period)
    except TRANSIENT:
        raise
    except (ValidationError, DatabaseError, ValueError, LookupError) as exc:
        return _failed(report_id, exc)
    snapshot = head.kind != Kind.BENEFICIARY_STATEMENT
    return _attempt(report_id, lambda: _generate(report_id, checkpoint, snapshot=snapshot))


def _attempt(report_id: int, generate: Callable[[], Report]) -> Report:
    """Run ``generate``: again when PostgreSQL's REPEATABLE READ found the row changed since the
    snapshot (another worker made the document: the next read finds it done); a refusal marks
    the report failed; transient errors go to the task's retry."""
    try:
        for attempt in range(3):
            try:
                return generate()
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "40001" or attempt == 2:
                    raise
        raise AssertionError("unreachable")
    except (_Stale, *TRANSIENT):
        raise
    except (ValidationError, DatabaseError, ValueError, LookupError) as exc:
        return _failed(report_id, exc)


def _failed(report_id: int, exc: Exception) -> Report:
    if isinstance(exc, DatabaseError):
        logger.exception("report %s failed", report_id)
    message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    with transaction.atomic():
        failed = (
            Report.objects.filter(pk=report_id)
            .exclude(status=Report.Status.DONE)
            .update(status=Report.Status.FAILED, error=message[:2000], attempts=F("attempts") + 1)
        )
        report = Report.objects.get(pk=report_id)
        if failed:
            audit_record(
                action="report.failed",
                actor=None,
                trust_id=report.trust_id,
                object_type="report",
                object_id=report.uid,
                changes={"kind": report.kind, "error": message[:500]},
            )
    return report


def _code(report: Report, figures: Any, checkpoint: AuditCheckpoint) -> tuple[dict, str]:
    """The payload a document's verification code is the hash of, and the code."""
    payload = verification_payload(
        kind=report.kind,
        trust=report.trust,
        subject=figures.subject,
        period=Period(report.period_start, report.period_end),
        figures=figures.figures(),
        checkpoint=checkpoint,
    )
    return payload, verification_code(payload)


_LOCKED = (
    "SELECT r.status, r.kind, r.uid, r.beneficiary_id, r.payment_id, r.period_start,"
    " r.period_end, r.requested_by_id, r.attempts, t.id, t.caption, t.court, t.case_number,"
    " t.base_currency, t.lock_date, t.status, b.pseudonym, b.kind, b.care_partner_id"
    " FROM reports_report r JOIN trust_trust t ON t.id = r.trust_id"
    " LEFT JOIN trust_beneficiary b ON b.id = r.beneficiary_id WHERE r.id = %s"
)


def _locked(report_id: int, postgres: bool) -> Report:
    """The report with its trust and beneficiary, its row locked: one raw read (the ORM's
    compiler cost more than the read on this hot path)."""
    (
        status, kind, uid, beneficiary_id, payment_id, start, end, requester, attempts,
        trust_id, caption, court, case_number, currency, lock_date, trust_status,
        pseudonym, victim_kind, partner_id,
    ) = one(_LOCKED + (" FOR UPDATE OF r" if postgres else ""), [report_id])  # fmt: skip
    trust = Trust(
        pk=trust_id,
        caption=caption,
        court=court,
        case_number=case_number,
        base_currency=currency,
        lock_date=as_date(lock_date) if lock_date else None,
        status=trust_status,
    )
    report = Report(
        pk=report_id,
        status=status,
        kind=kind,
        uid=uid if isinstance(uid, uuid.UUID) else uuid.UUID(str(uid)),
        trust=trust,
        payment_id=payment_id,
        period_start=as_date(start),
        period_end=as_date(end),
        requested_by_id=requester,
        attempts=attempts,
    )
    if beneficiary_id is not None:
        report.beneficiary = Beneficiary(
            pk=beneficiary_id,
            trust=trust,
            pseudonym=pseudonym,
            kind=victim_kind,
            care_partner_id=partner_id,
        )
    return report


def _mark_done(report_id: int, values: dict[str, Any]) -> None:
    """One raw UPDATE with each value prepared by its field, as the ORM would."""
    fields = {f.attname: f for f in Report._meta.concrete_fields}
    names = list(values)
    params = [fields[name].get_db_prep_save(values[name], connection=connection) for name in names]
    sets = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE reports_report SET {sets}, attempts = attempts + 1 WHERE id = %s",
            [*params, report_id],
        )


def _generate(
    report_id: int,
    checkpoint: AuditCheckpoint,
    snapshot: bool = True,
    expect_closed: bool | None = None,
) -> Report:
    outermost = not connection.in_atomic_block
    postgres = connection.vendor == "postgresql"
    with transaction.atomic():
        if outermost and postgres and snapshot:
            # One snapshot: every figure of the document reads the same state of the books.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # The report's row, locked (on SQLite the write transaction is the lock): a second
        # worker on the same report waits here, then finds it done.
        report = _locked(report_id, postgres)
        if report.status == Report.Status.DONE:
            return Report.objects.get(pk=report_id)
        closed = period_closed(report.trust, Period(report.period_start, report.period_end))
        if expect_closed is not None and closed != expect_closed:
            raise _Stale()
        document = DOCUMENTS[report.kind]
        figures = document.gather(report, checkpoint)
        problem = document.problem(figures)
        if problem:
            raise ReportError(problem, code="does_not_reconcile")
        period = Period(report.period_start, report.period_end)
        payload, code = _code(report, figures, checkpoint)
        now = timezone.now()
        rendered = render_document(
            report.kind, figures, code=code, checkpoint=checkpoint, closed=closed, generated_at=now
        )
        digest = hashlib.sha256(rendered.pdf).hexdigest()
        name = _storage_name(report)
        if default_storage.exists(name):  # an earlier attempt that did not commit
            default_storage.delete(name)
        stored = default_storage.save(name, ContentFile(rendered.pdf))
        done = {
            "file": stored,
            "sha256": digest,
            "size": len(rendered.pdf),
            "pages": rendered.pages,
            "verification_code": code,
            "checkpoint_id": checkpoint.pk,
            "closed_period": closed,
            "figures": payload,
            "generated_at": now,
            "status": Report.Status.DONE,
            "error": "",
        }
        _mark_done(report.pk, done)
        for field_name, value in done.items():
            setattr(report, field_name, value)
        report.checkpoint = checkpoint
        report.attempts += 1
        audit_record(
            action="report.generated",
            actor=report.requested_by if report.requested_by_id else None,
            trust_id=report.trust_id,
            object_type="report",
            object_id=report.uid,
            changes={
                "kind": report.kind,
                "subject": figures.subject,
                "period": period.key,
                "sha256": digest,
                "verification_code": code,
                "checkpoint": {"size": checkpoint.size, "root": bytes(checkpoint.root).hex()},
                "pages": rendered.pages,
                "closed_period": closed,
            },
        )
    return report


# --- checking a printed document ----------------------------------------------------------------


@dataclass(frozen=True)
class CodeCheck:
    """What the books say about a verification code read off a printed document."""

    report: Report | None
    matches_books: bool | None  # None: no such code
    recomputed: str = ""
    message: str = ""


def report_verify_code(*, code: str, actor: Any | None) -> CodeCheck:
    """Find the document that carries ``code`` and recompute its figures from the books as
    they are now, on the checkpoint it was built on. A closed-period document still matches; an
    open one may not (its period's books moved on), and the answer says so. Recorded in the log."""
    wanted = normalise_code(code)
    if len(wanted) != 64:
        return CodeCheck(None, None, message="A verification code has 64 hexadecimal digits.")
    report = (
        Report.objects.filter(verification_code=wanted, status=Report.Status.DONE)
        .select_related("trust", "beneficiary", "payment", "checkpoint")
        .first()
    )
    if report is None:
        return CodeCheck(None, None, message="No document with this code was generated here.")
    document = DOCUMENTS[report.kind]
    with transaction.atomic():
        figures = document.gather(report, report.checkpoint)
        _, recomputed = _code(report, figures, report.checkpoint)
        ok = recomputed == wanted
        audit_record(
            action="report.code_checked",
            actor=actor,
            trust_id=report.trust_id,
            object_type="report",
            object_id=report.uid,
            changes={"matches": ok},
        )
    if ok:
        message = "The figures of this document match the books."
    elif report.closed_period:
        message = "The books no longer give these figures: the closed period was changed."
    else:
        message = (
            "The books now give other figures for this period (it was open when the document"
            " was made); generate it again for the current figures."
        )
    return CodeCheck(report, ok, recomputed, message)


def report_downloaded(*, report: Report, actor: Any | None) -> None:
    """Record that ``actor`` downloaded ``report`` (who read what, for the auditors)."""
    with transaction.atomic():
        audit_record(
            action="report.downloaded",
            actor=actor,
            trust_id=report.trust_id,
            object_type="report",
            object_id=report.uid,
            changes={"kind": report.kind, "sha256": report.sha256},
        )
