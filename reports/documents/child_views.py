"""Who saw this child, as a PDF: the log of views of one beneficiary (``trust.audit.selectors``
``child_view_rows``), by pseudonym only.

Not one of the court documents (no report row, no verification code): it is drawn on demand for
the trust's trustees and auditors from the audit trail, whose events it lists. It prints no
identifying data: the pseudonym, the viewers' usernames and roles, ids and uids; not the purposes
given for reveals (free text, kept in the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from reports.layout import Block, Column, DocumentMeta, Paragraph, Rendered, Table, render
from trust.audit.selectors import ChildView
from trust.models import Beneficiary, Trust

TITLE = "Who saw this child"
# Drawn in the request: at most this many lines (newest first); narrower dates give the rest.
MOST_ROWS = 5_000

COLUMNS = [
    Column("When", 0.19),
    Column("Who", 0.15),
    Column("Role", 0.11),
    Column("What", 0.20),
    Column("Which", 0.28),
    Column("How", 0.07),
]


def period_label(since: date | None, until: date | None) -> str:
    if since and until:
        return f"Views from {since:%Y-%m-%d} to {until:%Y-%m-%d}"
    if since:
        return f"Views from {since:%Y-%m-%d}"
    if until:
        return f"Views up to {until:%Y-%m-%d}"
    return "Every recorded view"


def blocks(rows: Sequence[ChildView], *, total: int, zone: str, person: str = "") -> list[Block]:
    out: list[Block] = [
        Paragraph(
            "Every time a person opened this child's page, sub-ledger, statements or supporting"
            " documents, or revealed their identifying details, as recorded in the trust's audit"
            f" trail. Times are in {zone}; newest first."
            + (f" Only the views of {person}." if person else "")
        )
    ]
    if total > len(rows):
        out.append(
            Paragraph(
                f"The newest {len(rows):,} of {total:,} views: choose narrower dates for the rest.",
                small=True,
            )
        )
    out.append(
        Table(
            COLUMNS,
            [
                [
                    f"{row.at:%Y-%m-%d %H:%M:%S}",
                    row.username,
                    row.role_label,
                    row.what_label,
                    row.detail,
                    "API" if row.via == "api" else "Web",
                ]
                for row in rows
            ],
            empty_text="No view matches.",
        )
    )
    out.append(
        Paragraph(
            "This document names the beneficiary only by the pseudonym used in the court's"
            " filings. The purpose given for each reveal of identifying details is in the audit"
            " trail, not here.",
            small=True,
        )
    )
    return out


def render_child_views(
    *,
    trust: Trust,
    beneficiary: Beneficiary,
    rows: Sequence[ChildView],
    total: int,
    since: date | None,
    until: date | None,
    person: str,
    generated_at: datetime,
) -> Rendered:
    """The PDF of ``rows`` (the newest ``MOST_ROWS`` at most of ``total`` matching views)."""
    meta = DocumentMeta(
        title=TITLE,
        caption=trust.caption,
        court=trust.court,
        case_number=trust.case_number,
        period_label=period_label(since, until),
        subject_label=f"Beneficiary: {beneficiary.pseudonym}",
        generated_at=generated_at,
    )
    return render(meta, blocks(rows, total=total, zone=trust.time_zone, person=person))
