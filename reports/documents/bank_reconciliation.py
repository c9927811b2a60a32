"""Bank reconciliation: a signed-off three-way reconciliation of one bank account, printed from the
figures as they were signed off (their SHA-256 is printed with them), with every listed item by
group and the changes recorded against it since."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from reports.documents.common import amount, with_code
from reports.layout import Block, Column, Heading, Paragraph, Row, Table
from reports.models import Report
from reports.periods import long_date
from reports.selectors import (
    BankReconciliationFigures,
    SignedReconciliation,
    bank_reconciliation_figures,
)
from reports.selectors.bank_reconciliation import utc_label
from trust.bank.selectors.reconciliation import KIND_LABELS
from trust.models import AuditCheckpoint


def gather(report: Report, checkpoint: AuditCheckpoint) -> BankReconciliationFigures:
    if report.reconciliation_id is None:
        raise ValueError("this report names no reconciliation")
    return bank_reconciliation_figures(reconciliation_id=report.reconciliation_id)


def subject_label(figures: BankReconciliationFigures) -> str:
    rec = figures.reconciliation
    return f"Bank account: {rec.bank_label} (ledger {rec.account_code})"


def problem(figures: BankReconciliationFigures) -> str:
    """A reconciliation is signed off only with nothing unexplained: one that says otherwise was
    not signed off by the application, and is not printed."""
    unexplained = figures.reconciliation.minor("unexplained_minor")
    if unexplained:
        return (
            f"The signed-off figures leave {unexplained} (minor units) unexplained: the"
            " reconciliation was not signed off by the application; run check_ledger"
        )
    return ""


AMOUNTS = [Column("", 0.75), Column("", 0.25, "right")]
ITEMS = [
    Column("Date", 0.12),
    Column("Line or entry", 0.15),
    Column("Description", 0.55),
    Column("Amount", 0.18, "right"),
]
FACTS = [Column("", 0.3), Column("", 0.7)]
CHANGES = [
    Column("When", 0.2),
    Column("What", 0.45),
    Column("By", 0.17),
    Column("Amount", 0.18, "right"),
]


def bank_rows(rec: SignedReconciliation) -> list[Row]:
    """The bank's side against the ledger's bank account (shared with the court account)."""
    ccy = rec.currency
    as_of = long_date(rec.as_of)
    rows = [
        Row(
            [
                f"Bank's closing balance on {as_of} (statement {rec.statement_ref or '(no id)'})",
                amount(rec.minor("bank_closing_minor"), ccy),
            ]
        ),
        Row(
            ["Add: deposits in transit", amount(rec.minor("deposits_in_transit_minor"), ccy)],
            indent=1,
        ),
        Row(
            ["Less: outstanding payments", amount(rec.minor("outstanding_payments_minor"), ccy)],
            indent=1,
        ),
        Row(
            ["Adjusted bank balance", amount(rec.minor("adjusted_bank_minor"), ccy)],
            bold=True,
            rule_above=True,
        ),
        Row(
            [
                f"Ledger's bank account {rec.account_code} on {as_of}",
                amount(rec.minor("ledger_bank_minor"), ccy),
            ]
        ),
    ]
    for name, label in (
        ("bank_items_minor", "On the statement, not in the ledger by this date"),
        ("gaps_minor", "Statements that do not continue the last closing balance"),
        ("opening_difference_minor", "The first statement's opening balance against the ledger"),
    ):
        if rec.minor(name):
            rows.append(Row([f"Listed: {label}", amount(rec.minor(name), ccy)], indent=1))
    rows.append(
        Row(
            ["Unexplained difference", amount(rec.minor("unexplained_minor"), ccy)],
            bold=True,
            rule_above=True,
        )
    )
    return rows


def identity_rows(rec: SignedReconciliation) -> list[Row]:
    """The third way: cash in the trust's bank accounts against what it holds, by role."""
    ccy = rec.currency
    rows = [
        Row(
            [
                f"Ledger's bank account {rec.account_code}",
                amount(rec.minor("ledger_bank_minor"), ccy),
            ]
        )
    ]
    if rec.minor("other_bank_minor"):
        rows.append(
            Row(
                [
                    "The trust's other bank and receivable accounts",
                    amount(rec.minor("other_bank_minor"), ccy),
                ]
            )
        )
    rows.append(
        Row(
            ["Cash (per the ledger)", amount(rec.minor("cash_minor"), ccy)],
            bold=True,
            rule_above=True,
        )
    )
    rows += [Row([label, amount(total, ccy)], indent=1) for _, label, total in rec.held]
    rows.append(
        Row(
            ["Held, payable and in transit", amount(rec.minor("held_minor"), ccy)],
            bold=True,
            rule_above=True,
        )
    )
    rows.append(Row(["Difference", amount(rec.minor("identity_difference_minor"), ccy)], bold=True))
    return rows


def _items(rec: SignedReconciliation) -> list[Block]:
    ccy = rec.currency
    out: list[Block] = [Heading("Listed items")]
    items = rec.items
    if not items:
        out.append(
            Paragraph(
                "None: every statement line and every ledger entry moving this account from"
                f" {long_date_text(rec.figures.get('start', ''))} to {long_date(rec.as_of)} was"
                " matched."
            )
        )
        return out
    for kind, label in KIND_LABELS.items():
        found = [i for i in items if i.get("kind") == kind]
        if not found:
            continue
        out.append(Heading(label, level=2))
        rows = []
        for item in found:
            which = (
                f"line #{item['line_id']}"
                if item.get("line_id")
                else (f"entry #{item['entry_id']}" if item.get("entry_id") else "")
            )
            text = str(item.get("description", ""))
            if item.get("entry_id"):
                # "entry #12 (matched with ...)": the entry is in the next column; say what it is.
                rest = text.removeprefix(which).strip()
                words = rec.entry_words.get(int(item["entry_id"]), "")
                text = " ".join(t for t in (words or "(no longer in the ledger)", rest) if t)
            if item.get("explanation"):
                text += f" (explained: {item['explanation']})"
            rows.append(
                [str(item.get("day", "")), which, text, amount(int(item["amount_minor"]), ccy)]
            )
        out.append(
            Table(
                ITEMS,
                rows,
                total=Row(
                    ["", "", "Total", amount(sum(int(i["amount_minor"]) for i in found), ccy)]
                ),
            )
        )
    return out


def long_date_text(iso: str) -> str:
    try:
        return long_date(date.fromisoformat(iso))
    except ValueError:
        return iso or "the first statement"


def blocks(figures: BankReconciliationFigures) -> Sequence[Block]:
    rec = figures.reconciliation
    ccy = rec.currency
    statement = (
        f"{long_date(rec.statement_from)} to {long_date(rec.statement_to)}"
        if rec.statement_from and rec.statement_to
        else "(dates not given)"
    )
    out: list[Block] = [
        Paragraph(
            f"The three-way reconciliation of the trust's bank account {rec.bank_label} (ledger"
            f" account {rec.account_code}, {ccy}) on {long_date(rec.as_of)}: the bank's statement,"
            " the ledger's bank account and what the trust holds for its beneficiaries. The"
            " figures are those signed off by the trustee, printed as they were signed (their"
            " SHA-256 is below); they are not recomputed from today's books."
        ),
        Table(
            FACTS,
            [
                Row(["Bank account", rec.bank_label]),
                Row(["Statement", f"{rec.statement_ref or '(no id)'}, {statement}"]),
                Row(["Reconciled from", long_date_text(str(rec.figures.get("start", "")))]),
                Row(
                    [
                        "Statement lines matched",
                        f"{rec.minor('lines_matched')} of the {rec.minor('lines_total')} booked"
                        " since the reconciliation's start",
                    ]
                ),
            ],
            header=False,
        ),
        Heading(f"The bank and the ledger ({ccy})"),
        Table(AMOUNTS, bank_rows(rec), header=False),
        Heading(f"What the trust holds ({ccy})"),
        Table(AMOUNTS, identity_rows(rec), header=False),
    ]
    out += _items(rec)
    out.append(Heading("Sign-off"))
    facts = [
        Row(["Signed off by", rec.signed_off_by]),
        Row(["Signed off at", utc_label(rec.signed_off_at)]),
        Row(["Figures' SHA-256", rec.figures_sha256]),
    ]
    if rec.note:
        facts.append(Row(["Note", rec.note]))
    if rec.superseded_by:
        facts.append(
            Row(["Status", f"Superseded: reconciled again (reconciliation #{rec.superseded_by})"])
        )
    out.append(Table(FACTS, facts, header=False))
    out.append(Heading("Changes after sign-off"))
    if rec.changes:
        out.append(
            Table(
                CHANGES,
                [
                    [
                        c.at,
                        c.what + (f" ({c.reason})" if c.reason else ""),
                        c.by,
                        with_code(c.amount_minor, ccy),
                    ]
                    for c in rec.changes
                ],
            )
        )
        out.append(
            Paragraph(
                "These changes were made to what this reconciliation covered after it was signed"
                " off; the figures above do not include them. The period should be reconciled"
                " again.",
                small=True,
            )
        )
    else:
        out.append(Paragraph("None recorded."))
    return out
