"""Restitution order status: ordered, collected and outstanding per defendant and beneficiary."""

from __future__ import annotations

from collections.abc import Sequence

from reports.documents.common import amount
from reports.layout import Block, Column, Heading, Paragraph, Row, Table
from reports.models import Report
from reports.selectors import OrderStatusFigures, order_status_figures
from trust.models import AuditCheckpoint


def gather(report: Report, checkpoint: AuditCheckpoint) -> OrderStatusFigures:
    return order_status_figures(trust=report.trust, as_at=report.period_end)


def _table(first: str, rows: list[tuple[int, str, str, int, int, int]]) -> Table:
    columns = [
        Column(first, 0.34),
        Column("Currency", 0.09),
        Column("Ordered", 0.19, "right"),
        Column("Collected", 0.19, "right"),
        Column("Outstanding", 0.19, "right"),
    ]
    body = [
        [name, ccy, amount(o, ccy), amount(c, ccy), amount(out, ccy)]
        for _, name, ccy, o, c, out in rows
    ]
    currencies = sorted({r[2] for r in rows})
    total = None
    if len(currencies) == 1:
        ccy = currencies[0]
        total = Row(
            [
                "Total",
                ccy,
                amount(sum(r[3] for r in rows), ccy),
                amount(sum(r[4] for r in rows), ccy),
                amount(sum(r[5] for r in rows), ccy),
            ]
        )
    return Table(columns, body, empty_text="No current order lines.", total=total)


def blocks(figures: OrderStatusFigures) -> Sequence[Block]:
    return [
        Heading("Judgments"),
        Table(
            [Column("Judgment date", 0.25), Column("Order", 0.75)],
            [list(order) for order in figures.orders],
            empty_text="No restitution order is recorded.",
        ),
        Heading("Per defendant"),
        _table("Defendant", figures.defendants),
        Paragraph(
            "A joint and several line counts in full for each of its defendants, so the"
            " defendants' figures may add up to more than the total ordered.",
            small=True,
        ),
        Heading("Per beneficiary"),
        _table("Beneficiary", figures.beneficiaries),
        Paragraph(
            "Collected counts what was allocated to each order line, up to its amount, under the"
            " current (latest amended) judgment. Beneficiaries are named by pseudonym.",
            small=True,
        ),
    ]
