"""Sharing a receipt out among beneficiaries' sub-ledgers, and writing the shares.

By default the share follows the order (``trust.allocation``: pro rata to what each line the payer
owes still has outstanding, individuals first, capped, exact to the cent); a trustee may allocate
by hand instead, citing the court document. Recording a receipt (``trust.services.receipts``),
allocating its unallocated part later (``trust.services.unallocated``) and reversing it share out
and write through these functions, inside the transaction of the service that calls them.

Locking: order rows, then their lines, are locked in primary-key order before outstanding amounts
are read, so two receipts from co-defendants never both collect the same outstanding cent, and an
amendment (which locks the order row) waits for them or they for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from moneyed import Money

from trust.allocation import INDIVIDUAL_TIER, ORGANISATION_TIER, Claim, allocate
from trust.errors import field_error, first_code
from trust.models import (
    Account,
    Allocation,
    Beneficiary,
    Defendant,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money, from_minor
from trust.services.amounts import positive_minor
from trust.services.ledger import Leg
from trust.services.trusts import role_account


@dataclass(frozen=True)
class ManualShare:
    """A trustee's allocation of part of a receipt: to an order line (counts against it, capped at
    what it still owes), or to a beneficiary directly when the court directs so."""

    amount: Money
    line: OrderLine | None = None
    beneficiary: Beneficiary | None = None


@dataclass(frozen=True)
class Share:
    """One beneficiary's share of a receipt, through an order line (``line_id``) or directly."""

    beneficiary_id: int
    line_id: int | None
    amount_minor: int


def saved_actor(actor: Any | None) -> Any | None:
    """``actor`` when it is a saved user (what ``created_by`` records), else ``None``."""
    return actor if getattr(actor, "pk", None) else None


# --- accounts a receipt needs ------------------------------------------------------------------


def unallocated_account(trust: Trust, currency: str) -> Account:
    """The trust's unallocated-receipts account in ``currency`` (opened on first use)."""
    return role_account(trust=trust, role=Account.Role.UNALLOCATED, currency=currency)


def sub_ledger_accounts(
    trust: Trust, beneficiary_ids: Iterable[int], currency: str
) -> dict[int, int]:
    """Beneficiary id -> id of its sub-ledger in ``currency``; one is opened for a beneficiary
    that has none in that currency (the base-currency one is opened with the beneficiary)."""
    wanted = set(beneficiary_ids)
    found = (
        dict(
            Account.objects.filter(
                trust=trust,
                role=Account.Role.SUB_LEDGER,
                currency=currency,
                beneficiary_id__in=wanted,
            ).values_list("beneficiary_id", "pk")
        )
        if len(wanted) <= 900
        else {
            b: a
            for b, a in Account.objects.filter(
                trust=trust, role=Account.Role.SUB_LEDGER, currency=currency
            ).values_list("beneficiary_id", "pk")
            if b in wanted
        }
    )
    missing = wanted - found.keys()
    if missing:
        for beneficiary in Beneficiary.objects.filter(pk__in=missing).order_by("pk"):
            defaults = {
                "name": f"Sub-ledger {beneficiary.pseudonym} ({currency})",
                "type": Account.Type.LIABILITY,
                "role": Account.Role.SUB_LEDGER,
                "currency": currency,
                "beneficiary": beneficiary,
                "no_negative": True,
            }
            account, _ = Account.objects.get_or_create(
                trust=trust, code=f"2100-{beneficiary.pseudonym}-{currency}", defaults=defaults
            )
            if account.beneficiary_id != beneficiary.pk:
                # The code is another beneficiary's ("MV-1-PHP"'s own sub-ledger): a "#" never
                # appears in a pseudonym, so this one is free.
                account, _ = Account.objects.get_or_create(
                    trust=trust, code=f"2100-#{beneficiary.pk}-{currency}", defaults=defaults
                )
            found[beneficiary.pk] = account.pk
    return found


# --- what the payer owes --------------------------------------------------------------------------


def lock_lines(trust: Trust, payer_ids: Iterable[int]) -> dict[int, list[OrderLine]]:
    """Lock the current orders naming any of ``payer_ids`` and then the lines those payers are
    liable for, each in primary-key order; returns payer id -> its lines (with their
    beneficiaries and orders), in every currency."""
    payers = sorted(set(payer_ids))
    if not payers:
        return {}
    naming = RestitutionOrder.defendants.through.objects.filter(defendant_id__in=payers)
    current = (
        RestitutionOrder.objects.select_for_update()
        .filter(
            trust=trust,
            status=RestitutionOrder.Status.CURRENT,
            pk__in=naming.values("restitutionorder_id"),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    order_ids = list(current)
    while True:
        # An amendment that committed while this waited for its lock superseded that order,
        # and the statement could not see the new version: look again (a new statement sees
        # it) until two looks agree, all of them locked.
        again = list(current.all())
        if again == order_ids:
            break
        order_ids = again
    if not order_ids:
        return {}
    owing = OrderLine.defendants.through.objects.filter(
        defendant_id__in=payers, orderline__order_id__in=order_ids
    )
    liable: dict[int, list[int]] = defaultdict(list)  # line id -> payer ids
    for line_id, payer_id in owing.values_list("orderline_id", "defendant_id"):
        liable[line_id].append(payer_id)
    # A subquery, not the ids: an order may have more lines than a statement takes parameters.
    lines = OrderLine.objects.select_for_update(of=("self",)).filter(
        pk__in=owing.values("orderline_id")
    )
    result: dict[int, list[OrderLine]] = defaultdict(list)
    # Only what sharing out reads: a receipt among 100,000 lines spent most of its preparation
    # building full beneficiary and order instances.
    needed = lines.select_related("beneficiary", "order").only(
        "id",
        "order_id",
        "position",
        "amount_minor",
        "collected_minor",
        "currency",
        "beneficiary_id",
        "order__judgment_date",
        "beneficiary__kind",
    )
    for line in needed.order_by("pk"):
        for payer_id in liable[line.pk]:
            result[payer_id].append(line)
    return result


def lock_payer_lines(trust: Trust, payer: Defendant, currency: str) -> list[OrderLine]:
    """Lock (see ``lock_lines``) and return the lines ``payer`` is liable for in ``currency``."""
    return [
        line
        for line in lock_lines(trust, [payer.pk]).get(payer.pk, [])
        if line.currency == currency
    ]


def line_claims(
    lines: Sequence[OrderLine], outstanding: dict[int, int] | None = None
) -> list[Claim]:
    """One claim per line with something outstanding (``outstanding[line.pk]`` when given: what
    is left once earlier receipts of a batch are counted); ties go to the earlier judgment, then
    the lower line number (stable, whatever order the lines were stored or fetched in)."""
    owed = (
        (line, line.outstanding_minor if outstanding is None else outstanding[line.pk])
        for line in lines
    )
    return [
        Claim(
            key=(line.order.judgment_date.toordinal(), line.order_id, line.position, line.pk),
            outstanding=minor,
            tier=INDIVIDUAL_TIER if line.beneficiary.is_individual else ORGANISATION_TIER,
        )
        for line, minor in owed
        if minor > 0
    ]


def pro_rata(
    amount_minor: int, lines: Sequence[OrderLine], outstanding: dict[int, int] | None = None
) -> tuple[list[Share], int]:
    """Share ``amount_minor`` pro rata among what ``lines`` owe: the shares, and what is left."""
    by_key = {
        (line.order.judgment_date.toordinal(), line.order_id, line.position, line.pk): line
        for line in lines
    }
    result = allocate(amount_minor, line_claims(lines, outstanding))
    shares = [
        Share(by_key[key].beneficiary_id, by_key[key].pk, minor)
        for key, minor in result.shares.items()
    ]
    return shares, result.unallocated


def manual_shares(
    trust: Trust, amount_minor: int, currency: str, manual: Sequence[ManualShare]
) -> tuple[list[Share], int]:
    """Check a trustee's allocation: lines of current orders of this trust in the receipt's
    currency, each at most what it still owes, all together at most the amount."""
    line_ids = [m.line.pk for m in manual if m.line is not None]
    if len(set(line_ids)) != len(line_ids):
        raise field_error("manual", "an order line appears twice", code="line_repeated")
    locked: dict[int, OrderLine] = {}
    if line_ids:
        order_ids = sorted(
            set(OrderLine.objects.filter(pk__in=line_ids).values_list("order_id", flat=True))
        )
        list(RestitutionOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
        locked = {
            line.pk: line
            for line in OrderLine.objects.select_for_update(of=("self",))
            .filter(pk__in=line_ids)
            .select_related("order", "beneficiary")
            .order_by("pk")
        }
    shares: list[Share] = []
    total = 0
    for index, item in enumerate(manual, start=1):
        where = f"share {index}"
        try:
            minor = positive_minor(item.amount, "manual")
        except ValidationError as exc:
            raise field_error(
                "manual", f"{where}: {' '.join(exc.messages)}", code=first_code(exc)
            ) from exc
        if item.amount.currency.code != currency:
            raise field_error(
                "manual", f"{where}: the receipt is in {currency}", code="currency_mismatch"
            )
        if item.line is not None:
            line = locked.get(item.line.pk)
            if line is None or line.order.trust_id != trust.pk:
                raise field_error(
                    "manual",
                    f"{where}: the order line is not one of this trust's",
                    code="foreign_line",
                )
            if line.order.status != RestitutionOrder.Status.CURRENT:
                raise field_error(
                    "manual",
                    f"{where}: that order was superseded; use the current version",
                    code="superseded",
                )
            if line.currency != currency:
                raise field_error(
                    "manual", f"{where}: the line is in {line.currency}", code="currency_mismatch"
                )
            if minor > line.outstanding_minor:
                raise field_error(
                    "manual",
                    f"{where}: line {line.position} of {line.order} has only"
                    f" {format_money(line.outstanding)} outstanding",
                    code="over_collected",
                )
            shares.append(Share(line.beneficiary_id, line.pk, minor))
        elif item.beneficiary is not None:
            if item.beneficiary.trust_id != trust.pk:
                raise field_error(
                    "manual",
                    f"{where}: the beneficiary is not one of this trust's",
                    code="foreign_beneficiary",
                )
            shares.append(Share(item.beneficiary.pk, None, minor))
        else:
            raise field_error(
                "manual", f"{where}: name an order line or a beneficiary", code="no_target"
            )
        total += minor
    if total > amount_minor:
        raise field_error(
            "manual",
            f"the shares add up to {format_money(from_minor(total, currency))},"
            f" more than the {format_money(from_minor(amount_minor, currency))} available",
            code="over_allocated",
        )
    return shares, amount_minor - total


# --- writing -----------------------------------------------------------------------------------


def sub_ledger_legs(
    trust: Trust, shares: Sequence[Share], currency: str, accounts: dict[int, int] | None = None
) -> list[Leg]:
    """One credit per beneficiary; ``accounts`` (beneficiary id -> sub-ledger id) when the caller
    has already looked them up."""
    per_beneficiary: dict[int, int] = defaultdict(int)
    for share in shares:
        per_beneficiary[share.beneficiary_id] += share.amount_minor
    if accounts is None:
        accounts = sub_ledger_accounts(trust, per_beneficiary, currency)
    return [
        Leg(account=accounts[b], amount=from_minor(-minor, currency))
        for b, minor in sorted(per_beneficiary.items())
    ]


def add_collected(deltas: dict[int, int]) -> None:
    """Add to order lines' collected amounts in one statement (PostgreSQL) or one prepared
    statement run per line (SQLite); never an ORM save per line."""
    if not deltas:
        return
    items = sorted(deltas.items())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE trust_order_line l SET collected_minor = l.collected_minor + v.delta"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE l.id = v.id",
                [[i for i, _ in items], [d for _, d in items]],
            )
        else:
            cursor.executemany(
                "UPDATE trust_order_line SET collected_minor = collected_minor + %s WHERE id = %s",
                [(d, i) for i, d in items],
            )


def insert_shares(rows: Iterable[tuple[int, int, int | None, int, str]]) -> None:
    """Insert allocation shares (allocation, beneficiary, line, amount in minor units, currency)
    in one statement on PostgreSQL, one prepared statement on SQLite: a receipt shared among
    100,000 lines, or a file of 10,000 receipts, spent most of its Python time building model
    instances for ``bulk_create``."""
    data = list(rows)
    if not data:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO trust_allocation_share"
                " (allocation_id, beneficiary_id, line_id, amount_minor, currency)"
                " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
                " %s::text[])",
                [list(column) for column in zip(*data, strict=True)],
            )
        else:
            cursor.executemany(
                "INSERT INTO trust_allocation_share"
                " (allocation_id, beneficiary_id, line_id, amount_minor, currency)"
                " VALUES (%s, %s, %s, %s, %s)",
                data,
            )


def record_allocation(
    *,
    receipt: Receipt,
    entry_id: int,
    method: str,
    shares: Sequence[Share],
    unallocated_change: int,
    from_unallocated: bool,
    reason: str,
    actor: Any | None,
) -> Allocation:
    """Write an allocation of ``receipt``, its shares, and what its order lines collected."""
    allocation = Allocation.objects.create(
        receipt=receipt,
        entry_id=entry_id,
        method=method,
        from_unallocated=from_unallocated,
        unallocated_change_minor=unallocated_change,
        reason=reason,
        created_by=saved_actor(actor),
    )
    insert_shares(
        (allocation.pk, share.beneficiary_id, share.line_id, share.amount_minor, receipt.currency)
        for share in shares
    )
    deltas: dict[int, int] = defaultdict(int)
    for share in shares:
        if share.line_id is not None:
            deltas[share.line_id] += share.amount_minor
    add_collected(deltas)
    return allocation


def audit_shares(method: str, shares: Sequence[Share], unallocated: int) -> dict[str, Any]:
    """An allocation as the audit trail records it: who got what from which order line."""
    return {
        "method": method,
        "shares": [[s.beneficiary_id, s.line_id, s.amount_minor] for s in shares],
        "unallocated_minor": unallocated,
    }
