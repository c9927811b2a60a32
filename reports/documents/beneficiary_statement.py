"""Beneficiary statement: one child's sub-ledger over a period, by pseudonym only."""

from __future__ import annotations

from collections.abc import Sequence

from reports.documents.common import amount, category_label, day
from reports.layout import (
    Block,
    Chart,
    Column,
    Heading,
    Paragraph,
    Row,
    Spacer,
    Table,
)
from reports.models import Report
from reports.periods import Period, long_date
from reports.selectors import (
    STATEMENT_GROUPS,
    BeneficiaryStatementFigures,
    beneficiary_statement_figures,
)
from trust.models import AuditCheckpoint


def gather(report: Report, checkpoint: AuditCheckpoint) -> BeneficiaryStatementFigures:
    return beneficiary_statement_figures(
        beneficiary=report.beneficiary,
        period=Period(report.period_start, report.period_end),
        trust=report.trust,
    )


def subject_label(figures: BeneficiaryStatementFigures) -> str:
    return f"Beneficiary: {figures.beneficiary.pseudonym}"


MOVEMENTS = [
    Column("Date", 0.12),
    Column("Entry", 0.08, "right"),
    Column("Description", 0.44),
    Column("In", 0.12, "right"),
    Column("Out", 0.12, "right"),
    Column("Balance", 0.12, "right"),
]
SUMMARY = [Column("", 0.7), Column("", 0.3, "right")]
RESERVED = [
    Column("Request", 0.12, "right"),
    Column("Category", 0.26),
    Column("Care partner", 0.32),
    Column("Approved", 0.14),
    Column("Reserved", 0.16, "right"),
]


def blocks(figures: BeneficiaryStatementFigures) -> Sequence[Block]:
    period = figures.period
    out: list[Block] = []
    if not figures.sections:
        out.append(Paragraph("This beneficiary has no sub-ledger: nothing is held for them."))
    for section in figures.sections:
        ccy = section.currency
        out.append(Heading(f"Summary in {ccy} (sub-ledger {section.account_code})"))
        rows: list[Row] = [
            Row(
                [
                    f"Opening balance on {long_date(period.start)}",
                    amount(section.opening_minor, ccy),
                ],
                bold=True,
            )
        ]
        for group, label in STATEMENT_GROUPS.items():
            total = section.total(group)
            if total or group in ("allocations", "disbursements"):
                rows.append(Row([label, amount(total, ccy, sign=True)], indent=1))
        rows.append(
            Row(
                [f"Closing balance on {long_date(period.end)}", amount(section.closing_minor, ccy)],
                bold=True,
                rule_above=True,
            )
        )
        rows.append(
            Row(["Reserved for approved requests", amount(-section.reserved_minor, ccy)], indent=1)
        )
        rows.append(
            Row(
                ["Available to spend", amount(section.available_minor, ccy)],
                bold=True,
                rule_above=True,
            )
        )
        out.append(Table(SUMMARY, rows, header=False))
        points = [(period.start, section.opening_minor), *section.points]
        if points[-1][0] < period.end:
            points.append((period.end, section.closing_minor))
        out.append(
            Chart(
                points,
                title=f"Balance over the period ({ccy})",
                value_label=lambda minor, ccy=ccy: amount(minor, ccy),
                height=90,
            )
        )
        out.append(Heading(f"Movements ({ccy})", level=2))
        movement_rows: list[Row | list[str]] = []
        for line in section.lines:
            movement_rows.append(
                [
                    day(line.date),
                    f"#{line.entry_id}",
                    line.description,
                    amount(line.amount_minor, ccy) if line.amount_minor > 0 else "",
                    amount(-line.amount_minor, ccy) if line.amount_minor < 0 else "",
                    amount(line.balance_minor, ccy),
                ]
            )
        paid_in = sum(line.amount_minor for line in section.lines if line.amount_minor > 0)
        paid_out = -sum(line.amount_minor for line in section.lines if line.amount_minor < 0)
        out.append(
            Table(
                MOVEMENTS,
                movement_rows,
                empty_text="No movements in this period.",
                total=Row(
                    [
                        "",
                        "",
                        "Totals",
                        amount(paid_in, ccy),
                        amount(paid_out, ccy),
                        amount(section.closing_minor, ccy),
                    ]
                ),
            )
        )
        out.append(Heading(f"Funds reserved on {long_date(period.end)} ({ccy})", level=2))
        out.append(
            Table(
                RESERVED,
                [
                    [
                        f"#{r.request_id}",
                        category_label(r.category),
                        r.partner,
                        day(r.approved_on),
                        amount(r.amount_minor, ccy),
                    ]
                    for r in section.reservations
                ],
                empty_text="No approved request was waiting for payment.",
                total=Row(["", "", "", "Total", amount(section.reserved_minor, ccy)])
                if section.reservations
                else None,
            )
        )
        out.append(Spacer(8))
    out.append(
        Paragraph(
            "The beneficiary is named by the pseudonym used in the court's filings. Amounts are"
            " in the sub-ledger's currency; a disbursement paid in another currency shows what"
            " left the trust for it. Available = closing balance - funds reserved for approved"
            " requests not yet paid.",
            small=True,
        )
    )
    return out
