"""The six documents: for each, how its figures are gathered, what would make it wrong to print,
and how it is laid out. ``render_document`` adds what every page carries (title, caption, case
number, period, page X of Y, generation time, verification code and checkpoint)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reports.documents import (
    audit_certificate,
    bank_reconciliation,
    beneficiary_statement,
    court_account,
    order_status,
    remittance_advice,
)
from reports.layout import Block, DocumentMeta, Rendered, render
from reports.models import Kind, format_code
from reports.periods import long_date
from trust.models import AuditCheckpoint


@dataclass(frozen=True)
class Document:
    title: str
    gather: Callable[[Any, AuditCheckpoint], Any]
    blocks: Callable[[Any], Sequence[Block]]
    subject_label: Callable[[Any], str]
    problem: Callable[[Any], str] = lambda figures: ""
    dated: bool = False  # "as at" one day rather than a period


DOCUMENTS: dict[str, Document] = {
    Kind.BENEFICIARY_STATEMENT: Document(
        title="Beneficiary statement",
        gather=beneficiary_statement.gather,
        blocks=beneficiary_statement.blocks,
        subject_label=beneficiary_statement.subject_label,
    ),
    Kind.COURT_ACCOUNT: Document(
        title="Account of the trustee to the court",
        gather=court_account.gather,
        blocks=court_account.blocks,
        subject_label=lambda figures: "",
        problem=court_account.problem,
    ),
    Kind.REMITTANCE_ADVICE: Document(
        title="Remittance advice",
        gather=remittance_advice.gather,
        blocks=remittance_advice.blocks,
        subject_label=remittance_advice.subject_label,
        dated=True,
    ),
    Kind.ORDER_STATUS: Document(
        title="Restitution order status",
        gather=order_status.gather,
        blocks=order_status.blocks,
        subject_label=lambda figures: "",
        dated=True,
    ),
    Kind.AUDIT_CERTIFICATE: Document(
        title="Audit certificate",
        gather=audit_certificate.gather,
        blocks=audit_certificate.blocks,
        subject_label=lambda figures: "",
        dated=True,
    ),
    Kind.BANK_RECONCILIATION: Document(
        title="Bank reconciliation",
        gather=bank_reconciliation.gather,
        blocks=bank_reconciliation.blocks,
        subject_label=bank_reconciliation.subject_label,
        problem=bank_reconciliation.problem,
        dated=True,
    ),
}


def checkpoint_label(checkpoint: AuditCheckpoint) -> str:
    signed = checkpoint.signed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return (
        f"Built on audit checkpoint of {checkpoint.size:,} events, root"
        f" {bytes(checkpoint.root).hex()[:16]}..., signed {signed} UTC"
    )


def render_document(
    kind: str,
    figures: Any,
    *,
    code: str,
    checkpoint: AuditCheckpoint,
    closed: bool,
    generated_at: datetime,
) -> Rendered:
    document = DOCUMENTS[kind]
    period = figures.period
    if kind == Kind.REMITTANCE_ADVICE:
        period_label = f"Value date {long_date(period.start)}"
    elif document.dated:
        period_label = f"As at {long_date(period.end)}"
    else:
        period_label = period.label
    notice = ""
    if kind in (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT) and not closed:
        notice = (
            "PROVISIONAL: this period is not closed in the books (no lock date on or after"
            f" {long_date(period.end)}); its figures may still change."
        )
    trust = figures.trust
    meta = DocumentMeta(
        title=document.title,
        caption=trust.caption,
        court=trust.court,
        case_number=trust.case_number,
        period_label=period_label,
        subject_label=document.subject_label(figures),
        generated_at=generated_at,
        verification_code=format_code(code),
        checkpoint_label=checkpoint_label(checkpoint),
        notice=notice,
    )
    return render(meta, document.blocks(figures))
