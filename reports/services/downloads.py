"""Downloads of a document, recorded for the auditors (writes: audit events)."""

from __future__ import annotations

from typing import Any

from reports.models import Report
from trust.audit.events import AuditSpec
from trust.services.child_views import download_record


def report_downloaded(*, report: Report, actor: Any | None, via: str = "web") -> None:
    """Record that ``actor`` downloaded ``report`` (who read what, for the auditors). A document
    about one beneficiary (their statement) is also a view of the child, in the log of who saw
    them (``beneficiary.viewed``, what "statement", the report's uid); both events are written
    in one statement."""
    download_record(
        AuditSpec(
            action="report.downloaded",
            actor=actor,
            trust_id=report.trust_id,
            object_type="report",
            object_id=str(report.uid),
            changes={"kind": report.kind, "sha256": report.sha256},
        ),
        beneficiary_id=report.beneficiary_id,
        what="statement",
        detail=str(report.uid),
        via=via,
    )
