"""Remittance advice: one payment to a care partner, as recorded from the bank's advice."""

from __future__ import annotations

from collections.abc import Sequence

from reports.documents.common import category_label, day, with_code
from reports.layout import Block, Column, Heading, Paragraph, Row, Table
from reports.models import Report
from reports.selectors import RemittanceFigures, remittance_figures
from trust.models import AuditCheckpoint


def gather(report: Report, checkpoint: AuditCheckpoint) -> RemittanceFigures:
    return remittance_figures(payment=report.payment)


def subject_label(figures: RemittanceFigures) -> str:
    return f"Care partner: {figures.payment.request.partner.name}"


FACTS = [Column("", 0.45), Column("", 0.55)]


def blocks(figures: RemittanceFigures) -> Sequence[Block]:
    p = figures.payment
    request = p.request
    rows = [
        Row(["Paid to", request.partner.name]),
        Row(["For request", f"#{request.pk}"]),
        Row(["Beneficiary (pseudonym)", request.beneficiary.pseudonym]),
        Row(["Category", category_label(request.category)]),
        Row(["Transfer reference", p.transfer_reference]),
        Row(["Value date", day(p.value_date)]),
        Row(["Amount of the transfer", with_code(p.payout_minor, p.payout_currency)], bold=True),
        Row(["Sent by the trust", with_code(p.sent_minor, p.currency)]),
    ]
    if p.cross_currency:
        rows.append(
            Row(
                [
                    "Rate (derived from the amounts)",
                    f"{p.rate} {p.payout_currency} per {p.currency}",
                ]
            )
        )
    if p.fee_minor:
        rows.append(Row(["Bank fee, paid by the trust", with_code(p.fee_minor, p.currency)]))
    return [
        Heading("Payment"),
        Table(FACTS, rows, header=False),
        Paragraph(
            "Please confirm in the trust ledger what arrived, and attach proof of use once the"
            " money has been spent for the beneficiary. Intermediary bank charges, if any, are"
            " recorded when the arrival is confirmed.",
        ),
        Paragraph(
            "This advice names the beneficiary only by the pseudonym used in the court's filings.",
            small=True,
        ),
    ]
