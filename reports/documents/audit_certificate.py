"""Audit certificate: the checkpoint the books are sealed under, a verification of the whole
trail, and what the log holds for this trust."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC

from reports.layout import Block, Column, Heading, Paragraph, Row, Table
from reports.models import Report
from reports.selectors import AuditCertificateFigures, audit_certificate_figures
from trust.models import AuditCheckpoint


def gather(report: Report, checkpoint: AuditCheckpoint) -> AuditCertificateFigures:
    # The whole row: the certificate prints the signature and the key.
    full = AuditCheckpoint.objects.get(pk=checkpoint.pk)
    return audit_certificate_figures(trust=report.trust, checkpoint=full, as_at=report.period_end)


FACTS = [Column("", 0.3), Column("", 0.7)]
COUNTS = [Column("Kind of event", 0.7), Column("Events", 0.3, "right")]


def _hex(data: bytes) -> str:
    text = bytes(data).hex()
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))


def blocks(figures: AuditCertificateFigures) -> Sequence[Block]:
    cp = figures.checkpoint
    key = bytes(cp.public_key)
    verdict = (
        "PASSED: every event, chain, tree head and signature checked."
        if figures.verified_ok
        else f"FAILED: {figures.first_problem}"
    )
    rows = [
        Row(["Log size", f"{cp.size:,} events"]),
        Row(["Merkle root (SHA-256)", _hex(cp.root)]),
        Row(["Signed at", cp.signed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")]),
        Row(["Signature (Ed25519)", _hex(cp.signature)]),
        Row(["Public key", _hex(key)]),
        Row(["Key fingerprint", hashlib.sha256(key).hexdigest()[:16]]),
    ]
    return [
        Heading("Signed checkpoint"),
        Table(FACTS, rows, header=False),
        Heading("Verification"),
        Table(
            FACTS,
            [Row(["Result", verdict], bold=True)],
            header=False,
        ),
        Paragraph(
            "The verification recomputed every event's hash and chain, the Merkle tree of the"
            " log and each checkpoint's signature when this certificate was generated. Anyone can"
            " repeat it offline with the audit bundle and tools/verify_bundle.py.",
            small=True,
        ),
        Heading("Events of this trust in the checkpoint, by kind"),
        Table(
            COUNTS,
            [[action, f"{n:,}"] for action, n in figures.trust_counts],
            empty_text="No events of this trust.",
            total=Row(["Total", f"{sum(n for _, n in figures.trust_counts):,}"]),
        ),
        Heading("The whole log in the checkpoint, by kind"),
        Table(
            COUNTS,
            [[action, f"{n:,}"] for action, n in figures.log_counts],
            total=Row(["Total", f"{sum(n for _, n in figures.log_counts):,}"]),
        ),
    ]
