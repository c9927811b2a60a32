"""The figures of an audit certificate (``reports/documents/audit_certificate.py``): a signed
checkpoint, a verification of the whole trail and what the log holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count

from reports.periods import Period
from trust.models import AuditCheckpoint, AuditEvent, Trust


@dataclass
class AuditCertificateFigures:
    trust: Trust
    period: Period
    checkpoint: AuditCheckpoint
    verified_ok: bool
    first_problem: str
    trust_counts: list[tuple[str, int]]
    log_counts: list[tuple[str, int]]

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "signature": self.checkpoint.signature.hex()
            if isinstance(self.checkpoint.signature, bytes)
            else bytes(self.checkpoint.signature).hex(),
            "signed_at": self.checkpoint.signed_at.isoformat(),
            "public_key": bytes(self.checkpoint.public_key).hex(),
            "verified": self.verified_ok,
            "first_problem": self.first_problem,
            "trust_counts": self.trust_counts,
            "log_counts": self.log_counts,
        }


def audit_counts(*, size: int, trust_id: int | None = None) -> list[tuple[str, int]]:
    """Events by action among the first ``size`` of the log (what a checkpoint covers)."""
    events = AuditEvent.objects.filter(sealed__isnull=False, sealed__lte=size)
    if trust_id is not None:
        events = events.filter(trust_id=trust_id)
    return sorted(
        (row["action"], row["n"])
        for row in events.values("action").annotate(n=Count("id")).order_by()
    )


def audit_certificate_figures(
    *, trust: Trust, checkpoint: AuditCheckpoint, as_at: date
) -> AuditCertificateFigures:
    """The checkpoint, a verification of the whole trail now, and what the log holds."""
    from trust.audit.verify import audit_verify

    report = audit_verify()
    return AuditCertificateFigures(
        trust=trust,
        period=Period(as_at, as_at),
        checkpoint=checkpoint,
        verified_ok=report.ok,
        first_problem=str(report.first or ""),
        trust_counts=audit_counts(size=checkpoint.size, trust_id=trust.pk),
        log_counts=audit_counts(size=checkpoint.size),
    )
