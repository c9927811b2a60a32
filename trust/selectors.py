"""Reads of the ledger: balances, balances as of a date, and the trust identity.

Every selector takes its scope (a trust, an account) explicitly, so that object-level permissions can
be added as one filter here. Amounts leave as ``Money``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db import connection
from django.db.models import QuerySet
from moneyed import Money

from trust.models import Account, Trust
from trust.money import from_minor

CASH_ROLES = (Account.Role.BANK, Account.Role.RECEIVABLE)
OBLIGATION_ROLES = (
    Account.Role.SUB_LEDGER,
    Account.Role.UNALLOCATED,
    Account.Role.PAYABLE,
    Account.Role.IN_TRANSIT,
    Account.Role.TRADING,
)


def trust_list() -> QuerySet[Trust]:
    return Trust.objects.all()


def account_list(*, trust: Trust) -> QuerySet[Account]:
    return Account.objects.filter(trust=trust).select_related("beneficiary").order_by("code")


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


def trust_identity(*, trust: Trust) -> dict[str, IdentityLine]:
    """Per currency, from stored balances: bank + receivables against sub-ledgers + unallocated
    + payables + payments in transit + currency trading. Income, expense and equity accounts that
    are not at zero are listed in ``outside`` (money in the books that is held for no one)."""
    lines: dict[str, IdentityLine] = {}
    by_role: dict[tuple[str, str], int] = defaultdict(int)
    outside: dict[str, dict[str, int]] = defaultdict(dict)
    for code, role, currency, balance in Account.objects.filter(trust=trust).values_list(
        "code", "role", "currency", "balance_minor"
    ):
        line = lines.setdefault(currency, IdentityLine(currency=currency))
        by_role[(currency, role)] += balance
        if role in CASH_ROLES:
            line.cash_minor += balance
        elif role in OBLIGATION_ROLES:
            line.obligations_minor += balance
        elif balance != 0:
            outside[currency][code] = balance
    for currency, line in lines.items():
        line.by_role = {role: total for (cur, role), total in by_role.items() if cur == currency}
        line.outside = outside.get(currency, {})
    return lines
