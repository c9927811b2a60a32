"""Verification codes: the code of a document's figures, and checking a code read off a printed
document against the books (writes: an audit event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from reports.documents import DOCUMENTS
from reports.models import Report
from reports.periods import Period
from reports.verification import normalise_code, verification_code, verification_payload
from trust.access import visible
from trust.audit.events import audit_record
from trust.models import AuditCheckpoint
from trust.roles import Action


def figures_code(report: Report, figures: Any, checkpoint: AuditCheckpoint) -> tuple[dict, str]:
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


@dataclass(frozen=True)
class CodeCheck:
    """What the books say about a verification code read off a printed document."""

    report: Report | None
    matches_books: bool | None  # None: no such code
    recomputed: str = ""
    message: str = ""


def report_verify_code(*, code: str, actor: Any | None) -> CodeCheck:
    """Find the document that carries ``code`` and recompute its figures from the books as
    they are now, on the checkpoint it was built on. A user finds only the documents of trusts
    where they may ask for documents (another trust's code is "not generated here"). A closed-period document still matches; an
    open one may not (its period's books moved on), and the answer says so. Recorded in the log."""
    wanted = normalise_code(code)
    if len(wanted) != 64:
        return CodeCheck(None, None, message="A verification code has 64 hexadecimal digits.")
    reports = (
        Report.objects.all() if actor is None else visible(actor, Report, Action.REPORT_REQUEST)
    )
    report = (
        reports.filter(verification_code=wanted, status=Report.Status.DONE)
        .select_related("trust", "beneficiary", "payment", "checkpoint")
        .first()
    )
    if report is None:
        return CodeCheck(None, None, message="No document with this code was generated here.")
    document = DOCUMENTS[report.kind]
    with transaction.atomic():
        figures = document.gather(report, report.checkpoint)
        _, recomputed = figures_code(report, figures, report.checkpoint)
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
