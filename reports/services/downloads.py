"""Downloads of a document, recorded for the auditors (writes: an audit event)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from reports.models import Report
from trust.audit.events import audit_record


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
