"""Generating a document (writes: the report row, the stored file, audit events).

``report_generate`` (the task's one call) builds the figures, picks the audit checkpoint, computes
the verification code, renders the PDF, stores it through Django's storage API with its SHA-256
and records ``report.generated`` in the audit log, all in one transaction on the report's locked
row: a task delivered twice, or two workers at once, make one document.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from reports.db import as_date, as_datetime, one
from reports.documents import DOCUMENTS, render_document
from reports.models import Kind, Report, ReportBatch
from reports.periods import Period
from reports.services.checkpoints import period_closed, report_checkpoint
from reports.services.codes import figures_code
from reports.services.requests import ReportError
from trust.audit.events import audit_record
from trust.models import AuditCheckpoint, Beneficiary, Trust

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def _storage_name(report: Report) -> str:
    # A random name: nothing about the child, the partner or the case in a path.
    return f"reports/{report.uid.hex}.pdf"


@lru_cache(maxsize=64)
def batch_checkpoint(batch_id: int) -> tuple[AuditCheckpoint | None, bool, str]:
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
        chosen, closed, kind = batch_checkpoint(batch_id)
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
            chosen, batch_closed, _ = batch_checkpoint(head.batch_id)
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


_LOCKED = (
    "SELECT r.status, r.kind, r.uid, r.beneficiary_id, r.payment_id, r.reconciliation_id,"
    " r.period_start, r.period_end, r.requested_by_id, r.attempts, t.id, t.caption, t.court,"
    " t.case_number,"
    " t.base_currency, t.lock_date, t.status, b.pseudonym, b.kind, b.care_partner_id"
    " FROM reports_report r JOIN trust_trust t ON t.id = r.trust_id"
    " LEFT JOIN trust_beneficiary b ON b.id = r.beneficiary_id WHERE r.id = %s"
)


def _locked(report_id: int, postgres: bool) -> Report:
    """The report with its trust and beneficiary, its row locked: one raw read (the ORM's
    compiler cost more than the read on this hot path)."""
    (
        status, kind, uid, beneficiary_id, payment_id, reconciliation_id, start, end, requester,
        attempts,
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
        reconciliation_id=reconciliation_id,
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
        payload, code = figures_code(report, figures, checkpoint)
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
