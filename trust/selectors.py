"""Reads of the ledger: balances, balances as of a date, and the trust identity.

Every selector takes its scope (a trust, an account) explicitly, so that object-level permissions can
be added as one filter here. Amounts leave as ``Money``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Least, Length, Substr
from django.utils import timezone
from moneyed import Money

from trust.models import (
    Account,
    AccountDay,
    Beneficiary,
    Defendant,
    JournalEntry,
    OrderLine,
    Posting,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import from_minor, to_minor

CASH_ROLES = (Account.Role.BANK, Account.Role.RECEIVABLE)
OBLIGATION_ROLES = (
    Account.Role.SUB_LEDGER,
    Account.Role.UNALLOCATED,
    Account.Role.PAYABLE,
    Account.Role.IN_TRANSIT,
    Account.Role.ADMINISTRATION,
    Account.Role.TRADING,
)


def account_balance(*, account_id: int) -> Money:
    """Current balance on the account's normal side: one indexed row read, whatever the volume."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT balance_minor, currency FROM trust_account WHERE id = %s", [account_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise Account.DoesNotExist(f"account {account_id} does not exist")
    return from_minor(int(row[0]), row[1])


def account_balance_as_of(*, account: Account, as_of: date) -> Money:
    """Balance at the end of ``as_of`` (every entry with an effective date on or before it).

    Sums the account's daily movements (at most one row per day with postings), so the cost grows
    with the number of active days, not with the number of postings.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(net_minor), 0) FROM trust_account_day"
            " WHERE account_id = %s AND day <= %s",
            [account.pk, as_of],
        )
        (total,) = cursor.fetchone()
    return from_minor(int(total), account.currency)


@dataclass(frozen=True)
class RoleTotal:
    """What the accounts of one role hold in one currency, and which side of the identity
    they are on ("cash", "owed" or "outside")."""

    role: str
    label: str
    side: str
    total: Money


@dataclass
class IdentityLine:
    """DOMAIN rule 2 for one currency: cash (bank, receivables) = what the trust owes."""

    currency: str
    cash_minor: int = 0
    obligations_minor: int = 0
    by_role: dict[str, int] = field(default_factory=dict)
    outside: dict[str, int] = field(default_factory=dict)  # other accounts that are not at zero

    @property
    def difference_minor(self) -> int:
        return self.cash_minor - self.obligations_minor

    @property
    def holds(self) -> bool:
        return self.difference_minor == 0 and not self.outside

    @property
    def cash(self) -> Money:
        return from_minor(self.cash_minor, self.currency)

    @property
    def obligations(self) -> Money:
        return from_minor(self.obligations_minor, self.currency)

    @property
    def role_totals(self) -> list[RoleTotal]:
        """The totals by role in the order of ``Account.Role``: cash first, then what is owed,
        then anything outside the identity that is not at zero."""
        rows = []
        for role, label in Account.Role.choices:
            total = self.by_role.get(role)
            if role in CASH_ROLES or role in OBLIGATION_ROLES:
                side = "cash" if role in CASH_ROLES else "owed"
            elif total:
                side = "outside"
            else:
                continue
            if role == Account.Role.SUB_LEDGER:
                label = "Held for the beneficiaries (sub-ledgers)"
            rows.append(RoleTotal(role, label, side, from_minor(total or 0, self.currency)))
        order = {"cash": 0, "owed": 1, "outside": 2}
        return sorted(rows, key=lambda row: order[row.side])


def _identity_lines(rows: Iterable[tuple[str, str, str, int]]) -> dict[str, IdentityLine]:
    """The trust identity's rule, per currency, over ``(name, role, currency, balance)`` rows:
    cash roles against obligation roles; a row of any other role that is not at zero goes to
    ``outside`` under its name (an account's code, or a role when the rows are totals by role)."""
    lines: dict[str, IdentityLine] = {}
    by_role: dict[tuple[str, str], int] = defaultdict(int)
    outside: dict[str, dict[str, int]] = defaultdict(dict)
    for name, role, currency, balance in rows:
        line = lines.setdefault(currency, IdentityLine(currency=currency))
        by_role[(currency, role)] += balance
        if role in CASH_ROLES:
            line.cash_minor += balance
        elif role in OBLIGATION_ROLES:
            line.obligations_minor += balance
        elif balance != 0:
            outside[currency][name] = balance
    for currency, line in lines.items():
        line.by_role = {role: total for (cur, role), total in by_role.items() if cur == currency}
        line.outside = outside.get(currency, {})
    return lines


def trust_identity(*, trust: Trust) -> dict[str, IdentityLine]:
    """Per currency, from stored balances: bank + receivables against sub-ledgers + unallocated
    + payables + payments in transit + currency trading. Income, expense and equity accounts that
    are not at zero are listed in ``outside`` (money in the books that is held for no one)."""
    return _identity_lines(
        Account.objects.filter(trust=trust).values_list("code", "role", "currency", "balance_minor")
    )


def trust_identity_as_of(*, trust: Trust, as_of: date) -> dict[str, IdentityLine]:
    """The trust identity at the end of ``as_of``, by the same rule as ``trust_identity``, from
    the daily totals: one grouped query (daily totals joined to their accounts, by currency and
    role), whatever the number of accounts or postings. An income, expense or equity role whose
    total is not at zero is listed in ``outside`` under the role's value. A currency whose
    accounts had no movement by then is absent."""
    rows = (
        AccountDay.objects.filter(account__trust=trust, day__lte=as_of)
        .values_list("account__role", "account__currency")
        .annotate(total=Sum("net_minor"))
        .order_by()
    )
    return _identity_lines((role, role, currency, int(total)) for role, currency, total in rows)


def trust_accounts(*, trust: Trust, search: str = "") -> QuerySet[Account]:
    """The trust's accounts in natural order (by the code's number, then shorter codes first:
    2100-MV-2 before 2100-MV-10), filtered by code or name."""
    accounts = Account.objects.filter(trust=trust)
    if search:
        accounts = accounts.filter(Q(code__icontains=search) | Q(name__icontains=search))
    return accounts.order_by(Substr("code", 1, 4), Length("code"), "code")


def account_balances_as_of(*, account_ids: Sequence[int], as_of: date) -> dict[int, int]:
    """Account id -> balance at the end of ``as_of`` on the account's normal side, in minor
    units, for a page of accounts: one query over their daily totals (an account without
    movement by then is at 0)."""
    result = dict.fromkeys(account_ids, 0)
    if not account_ids:
        return result
    rows = (
        AccountDay.objects.filter(account_id__in=list(account_ids), day__lte=as_of)
        .values_list("account_id")
        .annotate(total=Sum("net_minor"))
        .order_by()
    )
    for account_id, total in rows:
        result[account_id] = int(total)
    return result


# --- orders and receipts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outstanding:
    """Ordered, collected and outstanding for one line, defendant or beneficiary, in one currency.
    A joint and several line counts in full for each of its defendants. Collected counts each
    line up to its amount."""

    currency: str
    ordered_minor: int
    collected_minor: int

    @property
    def outstanding_minor(self) -> int:
        return max(0, self.ordered_minor - self.collected_minor)

    @property
    def ordered(self) -> Money:
        return from_minor(self.ordered_minor, self.currency)

    @property
    def collected(self) -> Money:
        return from_minor(self.collected_minor, self.currency)

    @property
    def outstanding(self) -> Money:
        return from_minor(self.outstanding_minor, self.currency)


def order_list(*, trust: Trust, include_superseded: bool = True) -> QuerySet[RestitutionOrder]:
    """The trust's orders, every version (amended judgments keep their history) unless told."""
    orders = RestitutionOrder.objects.filter(trust=trust).select_related("supersedes")
    if not include_superseded:
        orders = orders.filter(status=RestitutionOrder.Status.CURRENT)
    return orders.order_by("judgment_date", "pk")


def order_lines(*, order: RestitutionOrder) -> QuerySet[OrderLine]:
    """An order's lines with their beneficiaries and defendants, in judgment order."""
    return (
        OrderLine.objects.filter(order=order)
        .select_related("beneficiary")
        .prefetch_related("defendants")
        .order_by("position")
    )


def _current_lines(trust: Trust) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(
        order__trust=trust, order__status=RestitutionOrder.Status.CURRENT
    )


def outstanding_by_defendant(*, trust: Trust) -> dict[int, dict[str, Outstanding]]:
    """Defendant id -> currency -> what the current orders make them owe and what was collected
    on those lines. Two queries, whatever the number of lines."""
    through = OrderLine.defendants.through
    rows = (
        through.objects.filter(
            orderline__order__trust=trust,
            orderline__order__status=RestitutionOrder.Status.CURRENT,
        )
        .values("defendant_id", "orderline__currency")
        .annotate(
            ordered=Sum("orderline__amount_minor"),
            # A line counts at most its amount: an amended judgment may order less than was
            # already collected, and that excess must not offset another line.
            collected=Sum(Least("orderline__collected_minor", "orderline__amount_minor")),
        )
    )
    result: dict[int, dict[str, Outstanding]] = defaultdict(dict)
    for row in rows:
        result[row["defendant_id"]][row["orderline__currency"]] = Outstanding(
            row["orderline__currency"], int(row["ordered"]), int(row["collected"])
        )
    return dict(result)


def outstanding_by_beneficiary(*, trust: Trust) -> dict[int, dict[str, Outstanding]]:
    """Beneficiary id -> currency -> ordered, collected and outstanding over current lines."""
    rows = (
        _current_lines(trust)
        .values("beneficiary_id", "currency")
        .annotate(
            ordered=Sum("amount_minor"),
            collected=Sum(Least("collected_minor", "amount_minor")),  # as above
        )
    )
    result: dict[int, dict[str, Outstanding]] = defaultdict(dict)
    for row in rows:
        result[row["beneficiary_id"]][row["currency"]] = Outstanding(
            row["currency"], int(row["ordered"]), int(row["collected"])
        )
    return dict(result)


def defendant_outstanding(*, defendant: Defendant) -> dict[str, Outstanding]:
    """What one defendant still owes under the current orders, per currency."""
    return outstanding_by_defendant(trust=defendant.trust).get(defendant.pk, {})


def receipts_to_resolve(*, trust: Trust) -> QuerySet[Receipt]:
    """Receipts with money still unallocated: the trustee's list of tasks to resolve."""
    return (
        Receipt.objects.filter(trust=trust, status=Receipt.Status.POSTED, unallocated_minor__gt=0)
        .select_related("payer", "bank_account")
        .order_by("received_on", "pk")
    )


def beneficiaries_reaching_majority(
    *, trust: Trust, within_days: int = 90
) -> list[tuple[Beneficiary, date]]:
    """Minors of ``trust`` who reach the trust's majority age within ``within_days`` (or already
    have, while still recorded as minors), soonest first: a trustee's warning list."""
    today = timezone.localdate()
    due: list[tuple[Beneficiary, date]] = []
    # The date of birth is encrypted: each is opened here (a daily task, one trust at a time).
    for beneficiary in Beneficiary.objects.filter(
        trust=trust, status=Beneficiary.Status.MINOR, identity_erased_at__isnull=True
    ).exclude(dob_token=""):
        when = beneficiary.majority_date(trust.majority_age)
        if when is not None and (when - today).days <= within_days:
            due.append((beneficiary, when))
    return sorted(due, key=lambda item: (item[1], item[0].pseudonym))


# --- the ledger's pages ------------------------------------------------------------------------


def journal(
    *,
    trust: Trust,
    kind: str = "",
    since: date | None = None,
    until: date | None = None,
    search: str = "",
) -> QuerySet[JournalEntry]:
    """The trust's entries, newest first, filtered by kind, effective dates and memo."""
    entries = JournalEntry.objects.filter(trust=trust).select_related("created_by", "reverses")
    if kind:
        entries = entries.filter(kind=kind)
    if since:
        entries = entries.filter(effective_date__gte=since)
    if until:
        entries = entries.filter(effective_date__lte=until)
    if search:
        entries = entries.filter(memo__icontains=search)
    return entries.order_by("-effective_date", "-id")


def entry_postings(*, entry: JournalEntry) -> QuerySet[Posting]:
    return entry.postings.select_related("account").order_by("account__code", "id")


def account_postings(*, account: Account) -> QuerySet[Posting]:
    """The account's postings, newest first (by effective date, then as they were written)."""
    return (
        Posting.objects.filter(account=account)
        .select_related("entry")
        .order_by("-effective_date", "-id")
    )


def running_balances(*, account: Account, postings: list[Posting]) -> list[tuple[Posting, Money]]:
    """Each of ``postings`` (a page of ``account_postings``, newest first) with the account's
    balance just after it, on the account's normal side. The cost does not grow with the
    account's history: the balance at the end of the newest row's day comes from the daily
    totals, less that day's later postings; each older row then takes its own amount back."""
    if not postings:
        return []
    newest = postings[0]
    sign = account.normal_sign
    end_of_day = account_balance_as_of(account=account, as_of=newest.effective_date)
    later = (
        Posting.objects.filter(
            account=account, effective_date=newest.effective_date, id__gt=newest.id
        ).aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    balance = to_minor(end_of_day) - sign * int(later)
    rows = []
    for posting in postings:
        rows.append((posting, from_minor(balance, account.currency)))
        balance -= sign * posting.amount_minor
    return rows


def receipt_list(*, trust: Trust, search: str = "", to_resolve: bool = False) -> QuerySet[Receipt]:
    """The trust's receipts, newest first; by bank reference, memo or payer; or only those with
    money still unallocated."""
    receipts = Receipt.objects.filter(trust=trust).select_related("payer", "bank_account")
    if to_resolve:
        receipts = receipts.filter(status=Receipt.Status.POSTED, unallocated_minor__gt=0)
    if search:
        receipts = receipts.filter(
            Q(bank_reference__icontains=search)
            | Q(memo__icontains=search)
            | Q(payer__name__icontains=search)
        )
    return receipts.order_by("-received_on", "-pk")


def receipt_allocations(*, receipt: Receipt) -> list[tuple[Any, list[Any]]]:
    """Each allocation of ``receipt`` (oldest first) with its shares, child by child."""
    allocations = receipt.allocations.select_related("created_by").order_by("created_at", "pk")
    return [
        (
            allocation,
            list(
                allocation.shares.select_related("beneficiary", "line").order_by(
                    Length("beneficiary__pseudonym"), "beneficiary__pseudonym", "pk"
                )
            ),
        )
        for allocation in allocations
    ]


@dataclass(frozen=True)
class BalancePoint:
    day: date
    balance: Money


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


def balance_history(*, account: Account, months: int = 24) -> list[BalancePoint]:
    """The account's balance (on its normal side) at the end of each of the last ``months``
    months, from its daily totals: as many rows read as days with postings, whatever their
    number of postings."""
    today = timezone.localdate()
    ends = [today]  # this month so far, then the ends of the months before it
    year, month = today.year, today.month
    for _ in range(months - 1):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        ends.append(_month_end(year, month))
    ends.reverse()
    first = ends[0].replace(day=1)
    # Daily totals are kept on the account's normal side (as ``account_balance_as_of`` reads them).
    before = (
        AccountDay.objects.filter(account=account, day__lt=first).aggregate(t=Sum("net_minor"))["t"]
        or 0
    )
    days = list(
        AccountDay.objects.filter(account=account, day__gte=first, day__lte=today)
        .order_by("day")
        .values_list("day", "net_minor")
    )
    points, running, i = [], int(before), 0
    for end in ends:
        while i < len(days) and days[i][0] <= end:
            running += int(days[i][1])
            i += 1
        points.append(BalancePoint(end, from_minor(running, account.currency)))
    return points
