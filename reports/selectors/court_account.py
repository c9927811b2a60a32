"""The figures of the trustee's account to the court (``reports/documents/court_account.py``):
per currency, the funds at the start, every entry of the period that changed them, classed as a
court reads them, the funds at the end, a table per beneficiary and the bank side (the ledger's,
and the latest signed-off bank reconciliation of each bank account)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from disbursements.models import Category
from reports.db import as_date
from reports.db import rows as _rows
from reports.periods import Period
from reports.selectors.bank_reconciliation import SignedReconciliation, signed_reconciliations
from reports.selectors.entries import (
    CHARGE_CLASSES,
    CREDIT_CLASSES,
    EntryInfo,
    balances_at,
    column_in,
    entry_infos,
    id_chunks,
    natural_key,
)
from trust.models import Account, Trust

FUNDS_ROLES = (Account.Role.SUB_LEDGER, Account.Role.UNALLOCATED, Account.Role.ADMINISTRATION)


@dataclass
class ScheduleItem:
    entry_id: int
    date: date
    description: str
    amount_minor: int  # signed effect on the funds
    klass: str
    category: str = ""
    request_id: int | None = None
    beneficiary: str = ""
    partner: str = ""
    payout: str = ""


@dataclass
class HolderRow:
    """One line of the table per beneficiary (and the unallocated and administration funds)."""

    label: str
    opening_minor: int
    in_minor: int
    out_minor: int

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + self.in_minor - self.out_minor


@dataclass
class CurrencyAccount:
    currency: str
    opening_minor: int
    closing_minor: int
    items: list[ScheduleItem]
    holders: list[HolderRow]
    # The bank side at the end of the period: role -> balance, and each cash account's balance.
    cash_accounts: list[tuple[str, int]] = field(default_factory=list)
    other_roles: list[tuple[str, int]] = field(default_factory=list)
    # Each bank account with bank details in this currency, and its latest signed-off
    # reconciliation on or before the end of the period (None: none was signed off).
    reconciliations: list[tuple[str, SignedReconciliation | None]] = field(default_factory=list)

    def total(self, klass: str) -> int:
        return sum(i.amount_minor for i in self.items if i.klass == klass)

    def by_category(self) -> list[tuple[str, int]]:
        totals: dict[str, int] = defaultdict(int)
        for item in self.items:
            if item.klass == "disbursements":
                totals[item.category] += -item.amount_minor
        known = [(c.value, totals[c.value]) for c in Category if c.value in totals]
        return known + ([("", totals[""])] if "" in totals else [])

    @property
    def charges_minor(self) -> int:
        return self.opening_minor + sum(self.total(k) for k in CHARGE_CLASSES)

    @property
    def credits_minor(self) -> int:
        return self.closing_minor - sum(self.total(k) for k in CREDIT_CLASSES)

    @property
    def cash_minor(self) -> int:
        return sum(balance for _, balance in self.cash_accounts)

    @property
    def reconciles(self) -> bool:
        held = self.closing_minor + sum(balance for _, balance in self.other_roles)
        return self.charges_minor == self.credits_minor and held == self.cash_minor


@dataclass
class CourtAccountFigures:
    trust: Trust
    period: Period
    currencies: list[CurrencyAccount]

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "currencies": [
                _with_bank(
                    c,
                    {
                        "currency": c.currency,
                        "opening": c.opening_minor,
                        "charges": {k: c.total(k) for k in CHARGE_CLASSES},
                        "credits": {k: -c.total(k) for k in CREDIT_CLASSES},
                        "by_category": c.by_category(),
                        "closing": c.closing_minor,
                        "items": [
                            [i.entry_id, i.date.isoformat(), i.amount_minor] for i in c.items
                        ],
                        "holders": [
                            [h.label, h.opening_minor, h.in_minor, h.out_minor, h.closing_minor]
                            for h in c.holders
                        ],
                        "cash": c.cash_accounts,
                        "other": c.other_roles,
                    },
                )
                for c in self.currencies
            ]
        }


def _with_bank(c: CurrencyAccount, figures: dict[str, Any]) -> dict[str, Any]:
    """The bank reconciliations printed, by what identifies them (their signed figures' SHA-256
    among it); a currency without bank details adds nothing, so its code is what it was."""
    if c.reconciliations:
        figures["bank"] = [
            [label, rec.facts() if rec else None] for label, rec in c.reconciliations
        ]
    return figures


ROLE_LABELS = {
    Account.Role.IN_TRANSIT: "Payments in transit",
    Account.Role.PAYABLE: "Amounts payable",
    Account.Role.TRADING: "Currency trading (conversions in progress)",
}


def _klass(info: EntryInfo, delta: int) -> str:
    """The summary line an entry's effect on the funds belongs to (exchange results and
    unclassed adjustments by their sign)."""
    if info.klass == "fx":
        return "fx_gain" if delta > 0 else "fx_loss"
    if info.klass:
        return info.klass
    return "adjustment_in" if delta > 0 else "adjustment_out"


def court_account_figures(*, trust: Trust, period: Period) -> CourtAccountFigures:
    """DOMAIN rule 12: per currency, the funds held for the beneficiaries (sub-ledgers,
    unallocated receipts and the administration fund) at the start, every entry of the period
    that changed them, classed as a court reads them, and the funds at the end; a table per
    beneficiary; and the bank side at the end (bank = funds + in transit + payables + trading).

    Balance at start + charges = credits + balance at end is not assumed: the start and end come
    from the daily totals and the items from the postings, so ``reconciles`` is a real check."""
    accounts = list(Account.objects.filter(trust=trust).select_related("beneficiary"))
    funds = [a for a in accounts if a.role in FUNDS_ROLES]
    ids = [a.pk for a in accounts]
    opening = balances_at([a.pk for a in funds], period.day_before)
    closing = balances_at(ids, period.end)
    # The database adds up the period's postings on the funds accounts, per currency: each
    # entry's net effect (only those that changed the funds come back) and, per account, what
    # came in and went out. A year of a large trust is a million postings: summed where they lie.
    changed: dict[tuple[int, str], int] = {}
    entry_day: dict[int, date] = {}
    flows: dict[int, list[int]] = {}
    for currency in sorted({a.currency for a in funds}):
        ids_in = [a.pk for a in funds if a.currency == currency]
        for chunk in id_chunks(ids_in):
            where, params = column_in("account_id", chunk)
            window = [*params, period.start, period.end]
            for entry_id, day, total in _rows(
                "SELECT entry_id, MIN(effective_date), SUM(amount_minor) FROM trust_posting"
                f" WHERE {where} AND effective_date >= %s"
                " AND effective_date <= %s GROUP BY entry_id HAVING SUM(amount_minor) <> 0",
                window,
            ):
                key = (entry_id, currency)
                changed[key] = changed.get(key, 0) - int(total)
                entry_day[entry_id] = as_date(day)
            for account_id, paid_in, paid_out in _rows(
                "SELECT account_id,"
                " COALESCE(SUM(CASE WHEN amount_minor < 0 THEN -amount_minor ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN amount_minor > 0 THEN amount_minor ELSE 0 END), 0)"
                f" FROM trust_posting WHERE {where} AND effective_date >= %s"
                " AND effective_date <= %s GROUP BY account_id",
                window,
            ):
                flows[account_id] = [int(paid_in), int(paid_out)]
    # An entry whose legs fall in two chunks of accounts is summed per chunk: drop the zeros.
    changed = {key: delta for key, delta in changed.items() if delta != 0}
    infos = entry_infos(entry_id for entry_id, _ in changed)

    currencies = sorted({a.currency for a in funds}, key=lambda c: (c != trust.base_currency, c))
    result: list[CurrencyAccount] = []
    for currency in currencies:
        items = []
        for (entry_id, ccy), delta in sorted(
            changed.items(), key=lambda kv: (entry_day[kv[0][0]], kv[0][0])
        ):
            if ccy != currency:
                continue
            info = infos[entry_id]
            items.append(
                ScheduleItem(
                    entry_id=entry_id,
                    date=entry_day[entry_id],
                    description=info.description,
                    amount_minor=delta,
                    klass=_klass(info, delta),
                    category=info.category,
                    request_id=info.request_id,
                    beneficiary=info.beneficiary,
                    partner=info.partner,
                    payout=info.payout,
                )
            )
        holders: list[HolderRow] = []
        subs = sorted(
            (a for a in funds if a.currency == currency and a.role == Account.Role.SUB_LEDGER),
            key=lambda a: (natural_key(a.beneficiary.pseudonym if a.beneficiary else ""), a.pk),
        )
        for account in subs:
            row = HolderRow(
                account.beneficiary.pseudonym if account.beneficiary else account.code,
                opening[account.pk],
                *flows.get(account.pk, [0, 0]),
            )
            if row.opening_minor or row.in_minor or row.out_minor:
                holders.append(row)
        for role, label in (
            (Account.Role.UNALLOCATED, "Unallocated receipts"),
            (Account.Role.ADMINISTRATION, "Administration fund"),
        ):
            for account in (a for a in funds if a.currency == currency and a.role == role):
                row = HolderRow(label, opening[account.pk], *flows.get(account.pk, [0, 0]))
                if row.opening_minor or row.in_minor or row.out_minor:
                    holders.append(row)
        cash = [
            (f"{a.code} {a.name}", closing[a.pk])
            for a in sorted(accounts, key=lambda a: a.code)
            if a.currency == currency and a.role in (Account.Role.BANK, Account.Role.RECEIVABLE)
        ]
        other: dict[str, int] = defaultdict(int)
        for a in accounts:
            if a.currency == currency and a.role in ROLE_LABELS:
                other[a.role] += closing[a.pk]
        result.append(
            CurrencyAccount(
                currency=currency,
                opening_minor=sum(opening[a.pk] for a in funds if a.currency == currency),
                closing_minor=sum(closing[a.pk] for a in funds if a.currency == currency),
                items=items,
                holders=holders,
                cash_accounts=cash,
                other_roles=[(role, other[role]) for role in ROLE_LABELS if other.get(role)],
                reconciliations=signed_reconciliations(
                    trust=trust, currency=currency, on_or_before=period.end
                ),
            )
        )
    return CourtAccountFigures(trust=trust, period=period, currencies=result)
