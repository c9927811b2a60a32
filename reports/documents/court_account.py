"""The trustee's account to the court (DOMAIN rule 12): summary of charges and credits, the
table per beneficiary, the reconciliation with the bank, the schedules, the signature block."""

from __future__ import annotations

from collections.abc import Sequence

from reports.documents.bank_reconciliation import bank_rows, identity_rows
from reports.documents.common import amount, category_label, day
from reports.layout import (
    Block,
    Column,
    Heading,
    PageBreak,
    Paragraph,
    Row,
    SignatureBlock,
    Table,
)
from reports.models import Report
from reports.periods import Period, long_date
from reports.selectors import (
    ROLE_LABELS,
    CourtAccountFigures,
    CurrencyAccount,
    SignedReconciliation,
    court_account_figures,
)
from reports.selectors.bank_reconciliation import utc_label
from trust.models import AuditCheckpoint
from trust.money import format_money, from_minor


def gather(report: Report, checkpoint: AuditCheckpoint) -> CourtAccountFigures:
    return court_account_figures(
        trust=report.trust, period=Period(report.period_start, report.period_end)
    )


def problem(figures: CourtAccountFigures) -> str:
    """An account that does not reconcile is never printed: the books need a look first."""
    for c in figures.currencies:
        if not c.reconciles:
            held = c.closing_minor + sum(b for _, b in c.other_roles)
            return (
                f"The {c.currency} account does not reconcile (charges"
                f" {format_money(from_minor(c.charges_minor, c.currency))}, credits"
                f" {format_money(from_minor(c.credits_minor, c.currency))}, bank"
                f" {format_money(from_minor(c.cash_minor, c.currency))} against"
                f" {format_money(from_minor(held, c.currency))} held): run check_ledger"
            )
    return ""


SUMMARY = [Column("", 0.56), Column("Schedule", 0.14, "center"), Column("", 0.30, "right")]
ITEMS = [
    Column("Date", 0.12),
    Column("Entry", 0.09, "right"),
    Column("Description", 0.61),
    Column("Amount", 0.18, "right"),
]
DISBURSEMENTS = [
    Column("Date", 0.10),
    Column("Entry", 0.07, "right"),
    Column("Request", 0.08, "right"),
    Column("Beneficiary", 0.09),
    Column("Category", 0.13),
    Column("Care partner", 0.17),
    Column("Paid out", 0.22, "right"),
    Column("Amount", 0.14, "right"),
]
HOLDERS = [
    Column("Beneficiary", 0.28),
    Column("Opening", 0.18, "right"),
    Column("In", 0.18, "right"),
    Column("Out", 0.18, "right"),
    Column("Closing", 0.18, "right"),
]

SCHEDULES = [
    ("A", "Receipts", ("receipts",)),
    ("B", "Interest and other income", ("interest", "other_income")),
    ("C", "Exchange gains and losses", ("fx_gain", "fx_loss")),
    ("D", "Disbursements", ("disbursements",)),
    ("E", "Fees and expenses", ("fees",)),
    ("F", "Other adjustments", ("adjustment_in", "adjustment_out")),
]


def _summary(c: CurrencyAccount, period: Period) -> list[Block]:
    ccy = c.currency
    charges: list[Row] = [
        Row([f"Balance on hand on {long_date(period.start)}", "", amount(c.opening_minor, ccy)])
    ]
    charges += [
        Row(["Receipts", "A", amount(c.total("receipts"), ccy)], indent=1),
        Row(["Interest", "B", amount(c.total("interest"), ccy)], indent=1),
        Row(["Other income", "B", amount(c.total("other_income"), ccy)], indent=1),
        Row(["Exchange gains", "C", amount(c.total("fx_gain"), ccy)], indent=1),
    ]
    if c.total("adjustment_in"):
        charges.append(
            Row(
                ["Other adjustments (increases)", "F", amount(c.total("adjustment_in"), ccy)],
                indent=1,
            )
        )
    credits: list[Row] = []
    categories = c.by_category()
    if not categories:
        credits.append(Row(["Disbursements", "D", amount(0, ccy)], indent=1))
    for code, total in categories:
        credits.append(
            Row([f"Disbursements: {category_label(code)}", "D", amount(total, ccy)], indent=1)
        )
    credits += [
        Row(["Fees and expenses", "E", amount(-c.total("fees"), ccy)], indent=1),
        Row(["Exchange losses", "C", amount(-c.total("fx_loss"), ccy)], indent=1),
    ]
    if c.total("adjustment_out"):
        credits.append(
            Row(
                ["Other adjustments (decreases)", "F", amount(-c.total("adjustment_out"), ccy)],
                indent=1,
            )
        )
    credits.append(
        Row([f"Balance on hand on {long_date(period.end)}", "", amount(c.closing_minor, ccy)])
    )
    return [
        Heading(f"Summary of the account ({ccy})"),
        Heading("Charges", level=2),
        Table(
            SUMMARY,
            charges,
            header=False,
            total=Row(["Total charges", "", amount(c.charges_minor, ccy)]),
        ),
        Heading("Credits", level=2),
        Table(
            SUMMARY,
            credits,
            header=False,
            total=Row(["Total credits", "", amount(c.credits_minor, ccy)]),
        ),
        Paragraph(
            f"Total charges equal total credits: {amount(c.charges_minor, ccy)} {ccy}. The"
            " balance on hand is what the trust holds for its beneficiaries: their sub-ledgers,"
            " receipts not yet allocated and the administration fund.",
            small=True,
        ),
    ]


def _holders(c: CurrencyAccount, period: Period) -> list[Block]:
    ccy = c.currency
    rows = [
        [
            h.label,
            amount(h.opening_minor, ccy),
            amount(h.in_minor, ccy),
            amount(h.out_minor, ccy),
            amount(h.closing_minor, ccy),
        ]
        for h in c.holders
    ]
    return [
        Heading(f"Funds held per beneficiary ({ccy})"),
        Table(
            HOLDERS,
            rows,
            empty_text="Nothing was held in this currency.",
            total=Row(
                [
                    "Total",
                    amount(sum(h.opening_minor for h in c.holders), ccy),
                    amount(sum(h.in_minor for h in c.holders), ccy),
                    amount(sum(h.out_minor for h in c.holders), ccy),
                    amount(sum(h.closing_minor for h in c.holders), ccy),
                ]
            ),
        ),
        Paragraph(
            "In and out include allocations between the unallocated receipts and the"
            " beneficiaries, which move money inside the trust and are not charges or credits.",
            small=True,
        ),
    ]


def _bank(c: CurrencyAccount, period: Period) -> list[Block]:
    ccy = c.currency
    rows: list[Row] = [
        Row([name, "", amount(balance, ccy)], indent=1) for name, balance in c.cash_accounts
    ]
    rows.append(
        Row(
            ["Held in the bank (per the ledger)", "", amount(c.cash_minor, ccy)],
            bold=True,
            rule_above=True,
        )
    )
    for role, balance in c.other_roles:
        rows.append(Row([f"Less: {ROLE_LABELS[role]}", "", amount(-balance, ccy)], indent=1))
    return [
        Heading(f"Reconciliation with the bank on {long_date(period.end)} ({ccy})"),
        Table(
            SUMMARY,
            rows,
            header=False,
            total=Row(["Balance on hand (as above)", "", amount(c.closing_minor, ccy)]),
        ),
        *_reconciliations(c, period),
    ]


NONE_SIGNED = "No bank reconciliation was signed off for this period"


def _wide(row: Row) -> Row:
    """A two-column row of the reconciliation's tables in the summary's three columns."""
    label, figure = row.cells
    return Row([label, "", figure], bold=row.bold, rule_above=row.rule_above, indent=row.indent)


def _reconciliations(c: CurrencyAccount, period: Period) -> list[Block]:
    """The latest signed-off reconciliation of each bank account, as signed, or a plain word
    that there is none."""
    ccy = c.currency
    out: list[Block] = [Heading(f"Bank reconciliation signed off ({ccy})", level=2)]
    if not any(rec for _, rec in c.reconciliations):
        out.append(
            Paragraph(
                f"{NONE_SIGNED}: no three-way reconciliation of a {ccy} bank account with the"
                f" bank's statement was signed off on or before {long_date(period.end)}. The"
                " figures above are the ledger's alone."
            )
        )
        return out
    for label, rec in c.reconciliations:
        if rec is None:
            out.append(Paragraph(f"{label}: {NONE_SIGNED.lower()}."))
            continue
        out += _signed(label, rec, period)
    return out


def _signed(label: str, rec: SignedReconciliation, period: Period) -> list[Block]:
    text = (
        f"{label}: reconciled with the bank's statement as at {long_date(rec.as_of)}, signed off"
        f" by {rec.signed_off_by} on {utc_label(rec.signed_off_at)}. The figures are those"
        f" signed off (SHA-256 {rec.figures_sha256[:16]}...)."
    )
    if rec.as_of < period.start:
        text += " It was signed off before this period began: none was signed off within it."
    rows = [_wide(row) for row in bank_rows(rec)]
    rows += [_wide(row) for row in identity_rows(rec)]
    blocks: list[Block] = [Paragraph(text), Table(SUMMARY, rows, header=False)]
    items = len(rec.items)
    notes = [f"{items} reconciling item(s) listed" if items else "no reconciling items"]
    if rec.changes:
        notes.append(
            f"{len(rec.changes)} change(s) recorded against it after sign-off, not in these"
            " figures: the period is to be reconciled again"
        )
    note = "; ".join(notes)
    blocks.append(Paragraph(note[0].upper() + note[1:] + ".", small=True))
    return blocks


def _schedules(c: CurrencyAccount) -> list[Block]:
    ccy = c.currency
    out: list[Block] = []
    for letter, title, classes in SCHEDULES:
        items = [i for i in c.items if i.klass in classes]
        out.append(Heading(f"Schedule {letter} ({ccy}): {title}"))
        total = sum(i.amount_minor for i in items)
        if letter == "D":
            out.append(
                Table(
                    DISBURSEMENTS,
                    [
                        [
                            day(i.date),
                            f"#{i.entry_id}",
                            f"#{i.request_id}" if i.request_id else "",
                            i.beneficiary,
                            category_label(i.category),
                            i.partner,
                            i.payout,
                            amount(-i.amount_minor, ccy),
                        ]
                        for i in items
                    ],
                    empty_text="No disbursements in this period.",
                    total=Row(["", "", "", "", "", "", "Total", amount(-total, ccy)]),
                )
            )
            continue
        credit = letter in ("E",)
        out.append(
            Table(
                ITEMS,
                [
                    [
                        day(i.date),
                        f"#{i.entry_id}",
                        i.description,
                        amount(-i.amount_minor if credit else i.amount_minor, ccy),
                    ]
                    for i in items
                ],
                empty_text="None in this period.",
                total=Row(["", "", "Total", amount(-total if credit else total, ccy)]),
            )
        )
    return out


def blocks(figures: CourtAccountFigures) -> Sequence[Block]:
    period = figures.period
    out: list[Block] = [
        Paragraph(
            f"The trustee accounts to the court for the trust's funds from"
            f" {long_date(period.start)} to {long_date(period.end)}. Beneficiaries are named by"
            " the pseudonyms used in the court's filings. Every figure is read from the trust's"
            " double-entry ledger; the verification code below ties this account to the"
            " tamper-evident audit log.",
        )
    ]
    for c in figures.currencies:
        out += _summary(c, period)
        out += _holders(c, period)
        out += _bank(c, period)
    for c in figures.currencies:
        out.append(PageBreak())
        out += _schedules(c)
    out.append(
        SignatureBlock(
            "I, the trustee, account to the court as above and declare that this account is"
            " true and complete to the best of my knowledge.",
            ["Signature of the trustee", "Name", "Date"],
        )
    )
    return out
