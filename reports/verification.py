"""The verification code printed on every document (DECISIONS.md, PDFs).

A SHA-256 over the canonical JSON of the document's kind, trust, subject and period, every figure
it prints, and the size and root of the audit checkpoint it was built on. The generation time is
printed but not hashed, so the same closed-period document generated twice carries the same
code; the file's own SHA-256 is recorded separately.
"""

from __future__ import annotations

import hashlib
from typing import Any

from reports.periods import Period
from trust.audit.canonical import canonical_plain
from trust.models import AuditCheckpoint, Trust

VERSION = 1


def verification_payload(
    *,
    kind: str,
    trust: Trust,
    subject: dict[str, Any],
    period: Period,
    figures: dict[str, Any],
    checkpoint: AuditCheckpoint,
) -> dict[str, Any]:
    return {
        "v": VERSION,
        "kind": kind,
        "trust": {"id": trust.pk, "court": trust.court, "case_number": trust.case_number},
        "subject": subject,
        "period": [period.start.isoformat(), period.end.isoformat()],
        "figures": figures,
        "checkpoint": {"size": checkpoint.size, "root": bytes(checkpoint.root).hex()},
    }


def verification_code(payload: dict[str, Any]) -> str:
    """Lower-case hex SHA-256 of the canonical payload (printed upper case in groups of four).
    The payload holds only JSON's own types (amounts in minor units, dates as ISO text), so the
    audit trail's canonical form applies without its conversion pass."""
    return hashlib.sha256(canonical_plain(payload)).hexdigest()


def normalise_code(text: str) -> str:
    """What a person typed from paper (spaces, dashes, any case) as stored."""
    return "".join(ch for ch in (text or "").lower() if ch in "0123456789abcdef")
