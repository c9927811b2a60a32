"""Reads for interest and fees shared among the beneficiaries (docs/interest-and-fees.md).

The schedules here are what ``trust.bank.services.charges`` posts and what its pages preview:
the same computation, with no writes. Balance-days over an interest period come from the daily
movements (``AccountDay``) in one SQL statement for every sub-ledger of the trust at once; the
shares themselves are decided by the pure ``trust.bank.sharing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Count, QuerySet
from moneyed import Money

from trust.bank.models import SharedCharge, SharedChargeShare
from trust.bank.sharing import SharingError, share_equally, share_pro_rata
from trust.errors import field_error
from trust.models import Account, Trust
from trust.money import format_money, from_minor, minor_exponent
from trust.reservations import RESERVED_PROVIDERS, ReservedProvider, reserved_by_account

# What other apps reserve on sub-ledgers: trust/reservations.py (registered through
# ``trust.bank.services.charges.reserved_provider_register``).
__all__ = ["RESERVED_PROVIDERS", "ReservedProvider", "reserved_by_account"]


@dataclass(frozen=True)
class ScheduleRow:
    """One beneficiary's part of a charge and what it was computed from."""

    account_id: int
    beneficiary_id: int
    pseudonym: str
    currency: str
    basis_minor: int  # balance-days (interest) or the balance (a fee)
    days: int  # days of the interest period; 0 for a fee
    share_minor: int
    reserved_minor: int = 0

    @property
    def share(self) -> Money:
        return from_minor(self.share_minor, self.currency)

    @property
    def average_minor(self) -> Decimal:
        """The average daily balance in minor units, exact (for a fee: the balance)."""
        return (
            Decimal(self.basis_minor) / Decimal(self.days)
            if self.days
            else Decimal(self.basis_minor)
        )

    @property
    def average(self) -> Money:
        """The average daily balance (for a fee: the balance), to the currency's minor unit."""
        exponent = minor_exponent(self.currency)
        step = Decimal(1).scaleb(-exponent)
        return Money(
            (self.average_minor.scaleb(-exponent)).quantize(step, rounding=ROUND_HALF_UP),
            self.currency,
        )

    @property
    def reserved(self) -> Money:
        return from_minor(self.reserved_minor, self.currency)


@dataclass(frozen=True)
class Schedule:
    """A charge as it would be (or was) posted: its shares, and what goes to unallocated (interest
    earned when no child held money in the period)."""

    kind: str
    rule: str
    currency: str
    amount_minor: int
    rows: list[ScheduleRow] = field(default_factory=list)
    unallocated_minor: int = 0

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)

    @property
    def unallocated(self) -> Money:
        return from_minor(self.unallocated_minor, self.currency)

    @property
    def shared_minor(self) -> int:
        return sum(row.share_minor for row in self.rows)


@dataclass(frozen=True)
class SubLedger:
    account_id: int
    beneficiary_id: int
    pseudonym: str
    balance_minor: int


def sub_ledgers(*, trust: Trust, currency: str) -> list[SubLedger]:
    """Every beneficiary's sub-ledger of ``trust`` in ``currency``, by account id (one query)."""
    rows = (
        Account.objects.filter(trust=trust, role=Account.Role.SUB_LEDGER, currency=currency)
        .order_by("pk")
        .values_list("pk", "beneficiary_id", "beneficiary__pseudonym", "balance_minor")
    )
    return [SubLedger(pk, b, p, int(balance)) for pk, b, p, balance in rows]


def _days_between(later: str, earlier: str) -> str:
    """SQL for the whole days from ``earlier`` to ``later`` (one of them a parameter)."""
    if connection.vendor == "postgresql":
        return f"({later}::date - {earlier}::date)"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def sub_ledger_balance_days(
    *, trust: Trust, currency: str, period_start: date, period_end: date
) -> dict[int, int]:
    """Sub-ledger account id -> the sum of its end-of-day balances over the period, both days
    included (a day that ends below zero counts as zero): ``trust.bank.sharing.balance_days`` for
    every sub-ledger of the trust in ``currency`` at once, in one statement over the daily
    movements. Accounts that held nothing in the period are left out.

    Most sub-ledgers never end a day below zero, and for them the sum needs no ordering: each
    movement counts for the days from its own to the period's end (the balance before the period
    for all of them), one aggregate in one pass. Only where the balance before the period plus
    every withdrawal in it is below zero (a back-dated withdrawal could have taken a day below
    zero) are the days walked in order, with window functions over those sub-ledgers' rows."""
    days = (period_end - period_start).days + 1
    sql = f"""
        WITH acc AS (
            SELECT id FROM trust_account
            WHERE trust_id = %(trust)s AND role = %(role)s AND currency = %(currency)s
        ),
        summed AS (
            SELECT d.account_id,
                SUM(CASE WHEN d.day < %(start)s THEN d.net_minor * %(days)s
                         ELSE d.net_minor * ({_days_between("%(end)s", "d.day")} + 1) END)
                    AS basis,
                SUM(CASE WHEN d.day < %(start)s OR d.net_minor < 0 THEN d.net_minor ELSE 0 END)
                    AS lowest
            FROM trust_account_day d JOIN acc ON acc.id = d.account_id
            WHERE d.day <= %(end)s
            GROUP BY d.account_id
        ),
        walked AS (
            SELECT account_id FROM summed WHERE lowest < 0
        ),
        moves AS (
            SELECT d.account_id, 0 AS n, 0 AS k, SUM(d.net_minor) AS net
            FROM trust_account_day d JOIN walked w ON w.account_id = d.account_id
            WHERE d.day < %(start)s
            GROUP BY d.account_id
            UNION ALL
            SELECT d.account_id, {_days_between("d.day", "%(start)s")} AS n, 1 AS k,
                d.net_minor AS net
            FROM trust_account_day d JOIN walked w ON w.account_id = d.account_id
            WHERE d.day >= %(start)s AND d.day <= %(end)s
        ),
        running AS (
            SELECT account_id, n, SUM(net) OVER w AS balance, LEAD(n, 1, %(days)s) OVER w AS next_n
            FROM moves
            WINDOW w AS (PARTITION BY account_id ORDER BY n, k
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
        SELECT account_id, basis FROM summed WHERE lowest >= 0
        UNION ALL
        SELECT account_id, SUM(CASE WHEN balance > 0 THEN balance * (next_n - n) ELSE 0 END)
        FROM running
        GROUP BY account_id
    """
    params = {
        "trust": trust.pk,
        "role": Account.Role.SUB_LEDGER,
        "currency": currency,
        "start": period_start,
        "end": period_end,
        "days": days,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {int(account_id): int(basis) for account_id, basis in rows if basis and basis > 0}


def interest_schedule(
    *, trust: Trust, currency: str, amount_minor: int, period_start: date, period_end: date
) -> Schedule:
    """Interest of ``amount_minor`` shared among the sub-ledgers in ``currency`` in proportion to
    their average daily balance over the period, exact to the cent (largest remainder, ties to the
    older sub-ledger). If no child held money in the period, it all goes to unallocated."""
    days = (period_end - period_start).days + 1
    basis = sub_ledger_balance_days(
        trust=trust, currency=currency, period_start=period_start, period_end=period_end
    )
    held = [s for s in sub_ledgers(trust=trust, currency=currency) if s.account_id in basis]
    if not held:
        return Schedule(
            SharedCharge.Kind.INTEREST,
            SharedCharge.Rule.AVERAGE_DAILY_BALANCE,
            currency,
            amount_minor,
            unallocated_minor=amount_minor,
        )
    shares = share_pro_rata(amount_minor, {s.account_id: basis[s.account_id] for s in held})
    rows = [
        ScheduleRow(
            account_id=s.account_id,
            beneficiary_id=s.beneficiary_id,
            pseudonym=s.pseudonym,
            currency=currency,
            basis_minor=basis[s.account_id],
            days=days,
            share_minor=shares[s.account_id],
        )
        for s in held
    ]
    return Schedule(
        SharedCharge.Kind.INTEREST,
        SharedCharge.Rule.AVERAGE_DAILY_BALANCE,
        currency,
        amount_minor,
        rows,
    )


def fee_schedule(
    *,
    trust: Trust,
    kind: str,
    rule: str,
    currency: str,
    amount_minor: int,
    held: list[SubLedger] | None = None,
    reserved: dict[int, int] | None = None,
) -> Schedule:
    """A fee or expense of ``amount_minor`` shared among the sub-ledgers in ``currency`` that hold
    money: pro rata to balance or equally (``rule``), never taking one below what is reserved on
    it (the rest is shared among the others), exact to the cent. ``held`` and ``reserved`` are
    the balances and reservations to use (the service passes those it read under its locks);
    otherwise they are read now. Refuses (``ValidationError`` on ``amount``, code
    ``insufficient_funds``) when the children's free balance is less than the fee, naming the
    shortfall. The administration rule has no shares (the administration fund bears it)."""
    if rule == SharedCharge.Rule.ADMINISTRATION:
        return Schedule(kind, rule, currency, amount_minor)
    if held is None:
        held = sub_ledgers(trust=trust, currency=currency)
    if reserved is None:
        reserved = reserved_by_account(trust=trust)
    holding = [s for s in held if s.balance_minor > 0]
    caps = {s.account_id: max(s.balance_minor - reserved.get(s.account_id, 0), 0) for s in holding}
    try:
        if rule == SharedCharge.Rule.EQUAL:
            shares = share_equally(amount_minor, [s.account_id for s in holding], caps)
        else:
            weights = {s.account_id: s.balance_minor for s in holding}
            shares = share_pro_rata(amount_minor, weights, caps)
    except SharingError as exc:
        free = sum(caps.values())
        raise field_error(
            "amount",
            f"The children's free balance (what their sub-ledgers hold less what approved"
            f" disbursements reserve) is {format_money(from_minor(free, currency))}:"
            f" {format_money(from_minor(exc.shortfall, currency))} short of"
            f" {format_money(from_minor(amount_minor, currency))}.",
            code="insufficient_funds",
        ) from exc
    rows = [
        ScheduleRow(
            account_id=s.account_id,
            beneficiary_id=s.beneficiary_id,
            pseudonym=s.pseudonym,
            currency=currency,
            basis_minor=s.balance_minor,
            days=0,
            share_minor=shares[s.account_id],
            reserved_minor=reserved.get(s.account_id, 0),
        )
        for s in holding
    ]
    return Schedule(kind, rule, currency, amount_minor, rows)


# --- what was recorded ------------------------------------------------------------------------


def charge_list(*, trust: Trust) -> QuerySet[SharedCharge]:
    """The trust's interest, fees and expenses, latest first, each with its number of shares."""
    return (
        SharedCharge.objects.filter(trust=trust)
        .select_related("created_by")
        .annotate(share_count=Count("shares"))
        .order_by("-effective_date", "-id")
    )


def charge_schedule(*, charge: SharedCharge) -> Schedule:
    """The schedule ``charge`` was posted with: each child's pseudonym, average daily balance
    (interest; the balance for a fee) and share, in sub-ledger order."""
    rows = [
        ScheduleRow(
            account_id=account_id,
            beneficiary_id=beneficiary_id,
            pseudonym=pseudonym,
            currency=charge.currency,
            basis_minor=int(basis),
            days=int(days),
            share_minor=int(share_minor),
        )
        for account_id, beneficiary_id, pseudonym, basis, days, share_minor in (
            SharedChargeShare.objects.filter(charge=charge)
            .order_by("account_id")
            .values_list(
                "account_id",
                "beneficiary_id",
                "beneficiary__pseudonym",
                "basis_minor",
                "days",
                "share_minor",
            )
        )
    ]
    shared = sum(row.share_minor for row in rows)
    unallocated = charge.amount_minor - shared if charge.kind == SharedCharge.Kind.INTEREST else 0
    return Schedule(
        charge.kind, charge.rule, charge.currency, charge.amount_minor, rows, unallocated
    )
