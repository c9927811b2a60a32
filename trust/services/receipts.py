"""Recording receipts and allocating them to beneficiaries' sub-ledgers.

A receipt is one ledger entry: the bank account up by the amount, each beneficiary's sub-ledger up
by its share, and what could not be allocated to the unallocated account (a task for a trustee).
By default the share follows the order (``trust.allocation``: pro rata to what each line the payer
owes still has outstanding, individuals first, capped, exact to the cent); a trustee may allocate
by hand instead, citing the court document. Allocating the unallocated part later, and reversing a
receipt, are entries of their own.

Locking: order rows, then their lines, are locked in primary-key order before outstanding amounts
are read, so two receipts from co-defendants never both collect the same outstanding cent, and an
amendment (which locks the order row) waits for them or they for it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from moneyed import Money

from trust.allocation import INDIVIDUAL_TIER, ORGANISATION_TIER, Claim, allocate
from trust.audit.events import AuditSpec, audit_record, audit_record_many
from trust.errors import field_error, first_code
from trust.models import (
    Account,
    Allocation,
    Beneficiary,
    Defendant,
    EntryKind,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money, from_minor
from trust.services.amounts import positive_minor
from trust.services.ledger import EntrySpec, LedgerError, Leg, entries_post
from trust.services.trusts import role_account


@dataclass(frozen=True)
class ManualShare:
    """A trustee's allocation of part of a receipt: to an order line (counts against it, capped at
    what it still owes), or to a beneficiary directly when the court directs so."""

    amount: Money
    line: OrderLine | None = None
    beneficiary: Beneficiary | None = None


@dataclass(frozen=True)
class _Share:
    beneficiary_id: int
    line_id: int | None
    amount_minor: int


def _actor(actor: Any | None) -> Any | None:
    return actor if getattr(actor, "pk", None) else None


# --- accounts a receipt needs ------------------------------------------------------------------


def _unallocated_account(trust: Trust, currency: str) -> Account:
    """The trust's unallocated-receipts account in ``currency`` (opened on first use)."""
    return role_account(trust=trust, role=Account.Role.UNALLOCATED, currency=currency)


def _sub_ledgers(trust: Trust, beneficiary_ids: Iterable[int], currency: str) -> dict[int, int]:
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


def _lock_lines(trust: Trust, payer_ids: Iterable[int]) -> dict[int, list[OrderLine]]:
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


def _lock_payer_lines(trust: Trust, payer: Defendant, currency: str) -> list[OrderLine]:
    """Lock (see ``_lock_lines``) and return the lines ``payer`` is liable for in ``currency``."""
    return [
        line
        for line in _lock_lines(trust, [payer.pk]).get(payer.pk, [])
        if line.currency == currency
    ]


def _claims(lines: Sequence[OrderLine], outstanding: dict[int, int] | None = None) -> list[Claim]:
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


def _pro_rata(
    amount_minor: int, lines: Sequence[OrderLine], outstanding: dict[int, int] | None = None
) -> tuple[list[_Share], int]:
    by_key = {
        (line.order.judgment_date.toordinal(), line.order_id, line.position, line.pk): line
        for line in lines
    }
    result = allocate(amount_minor, _claims(lines, outstanding))
    shares = [
        _Share(by_key[key].beneficiary_id, by_key[key].pk, minor)
        for key, minor in result.shares.items()
    ]
    return shares, result.unallocated


def _manual(
    trust: Trust, amount_minor: int, currency: str, manual: Sequence[ManualShare]
) -> tuple[list[_Share], int]:
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
    shares: list[_Share] = []
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
            shares.append(_Share(line.beneficiary_id, line.pk, minor))
        elif item.beneficiary is not None:
            if item.beneficiary.trust_id != trust.pk:
                raise field_error(
                    "manual",
                    f"{where}: the beneficiary is not one of this trust's",
                    code="foreign_beneficiary",
                )
            shares.append(_Share(item.beneficiary.pk, None, minor))
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


def _sub_ledger_legs(
    trust: Trust, shares: Sequence[_Share], currency: str, accounts: dict[int, int] | None = None
) -> list[Leg]:
    """One credit per beneficiary; ``accounts`` (beneficiary id -> sub-ledger id) when the caller
    has already looked them up."""
    per_beneficiary: dict[int, int] = defaultdict(int)
    for share in shares:
        per_beneficiary[share.beneficiary_id] += share.amount_minor
    if accounts is None:
        accounts = _sub_ledgers(trust, per_beneficiary, currency)
    return [
        Leg(account=accounts[b], amount=from_minor(-minor, currency))
        for b, minor in sorted(per_beneficiary.items())
    ]


def _add_collected(deltas: dict[int, int]) -> None:
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


def _insert_shares(rows: Iterable[tuple[int, int, int | None, int, str]]) -> None:
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


def _record_allocation(
    *,
    receipt: Receipt,
    entry_id: int,
    method: str,
    shares: Sequence[_Share],
    unallocated_change: int,
    from_unallocated: bool,
    reason: str,
    actor: Any | None,
) -> Allocation:
    allocation = Allocation.objects.create(
        receipt=receipt,
        entry_id=entry_id,
        method=method,
        from_unallocated=from_unallocated,
        unallocated_change_minor=unallocated_change,
        reason=reason,
        created_by=_actor(actor),
    )
    _insert_shares(
        (allocation.pk, share.beneficiary_id, share.line_id, share.amount_minor, receipt.currency)
        for share in shares
    )
    deltas: dict[int, int] = defaultdict(int)
    for share in shares:
        if share.line_id is not None:
            deltas[share.line_id] += share.amount_minor
    _add_collected(deltas)
    return allocation


def _payload_hash(**values: Any) -> str:
    return hashlib.sha256(
        json.dumps(values, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


@dataclass(frozen=True)
class ReceiptSpec:
    """One receipt of a batch for ``receipts_record``: the arguments of ``receipt_record`` but
    the manual allocation (a trustee allocates by hand one receipt at a time)."""

    amount: Money
    received_on: date
    source: str
    bank_account: Account
    idempotency_key: str
    payer: Defendant | None = None
    bank_reference: str = ""
    memo: str = ""


@dataclass(frozen=True)
class _Checked:
    """A receipt whose details passed every check, ready to be written."""

    amount_minor: int
    currency: str
    received_on: date
    source: str
    bank_account: Account
    key: str
    digest: str
    payer: Defendant | None
    bank_reference: str
    memo: str
    manual: Sequence[ManualShare] | None
    reason: str


class ReceiptRefused(ValidationError):
    """A receipt of a batch was refused: ``index`` says which (from 0); the error is its own."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(error.error_dict if hasattr(error, "error_dict") else error.error_list)
        self.index = index


def _check(
    trust: Trust,
    spec: ReceiptSpec,
    manual: Sequence[ManualShare] | None = None,
    reason: str = "",
) -> _Checked:
    amount_minor = positive_minor(spec.amount, "amount")
    currency = spec.amount.currency.code
    bank_account, payer, received_on = spec.bank_account, spec.payer, spec.received_on
    if not isinstance(bank_account, Account) or bank_account.trust_id != trust.pk:
        raise field_error(
            "bank_account", "The bank account is not one of this trust's.", code="foreign_account"
        )
    if bank_account.role != Account.Role.BANK:
        raise field_error(
            "bank_account", f"{bank_account.code} is not a bank account.", code="not_bank"
        )
    if bank_account.currency != currency:
        raise field_error(
            "amount",
            f"the bank account {bank_account.code} holds {bank_account.currency};"
            f" this receipt is in {currency}",
            code="currency_mismatch",
        )
    if spec.source not in Receipt.Source.values:
        raise field_error("source", f"unknown source {spec.source!r}", code="bad_source")
    if payer is not None and (not isinstance(payer, Defendant) or payer.trust_id != trust.pk):
        raise field_error(
            "payer", "The payer is not a defendant of this trust.", code="foreign_payer"
        )
    if isinstance(received_on, datetime) or not isinstance(received_on, date):
        raise field_error("received_on", "A date is required.", code="required")
    if received_on > timezone.localdate():
        raise field_error(
            "received_on", "The money cannot have arrived in the future.", code="date_future"
        )
    key = (spec.idempotency_key or "").strip()
    if not key or len(key) > 150:
        raise field_error(
            "idempotency_key",
            "An idempotency key of 1 to 150 characters is required.",
            code="key_missing",
        )
    reason = (reason or "").strip()
    if manual is not None and not reason:
        raise field_error(
            "reason",
            "A manual allocation must cite the court document that directs it.",
            code="reason_missing",
        )
    bank_reference = (spec.bank_reference or "").strip()
    digest = _payload_hash(
        amount=amount_minor,
        currency=currency,
        received_on=received_on.isoformat(),
        source=spec.source,
        bank_account=bank_account.pk,
        payer=getattr(payer, "pk", None),
        bank_reference=bank_reference,
        manual=[
            (
                getattr(m.line, "pk", None),
                getattr(m.beneficiary, "pk", None),
                str(getattr(m.amount, "amount", m.amount)),  # exact: 600.001 is not 600.00
                str(getattr(getattr(m.amount, "currency", None), "code", "")),
            )
            for m in manual
        ]
        if manual is not None
        else None,
    )
    return _Checked(
        amount_minor=amount_minor,
        currency=currency,
        received_on=received_on,
        source=spec.source,
        bank_account=bank_account,
        key=key,
        digest=digest,
        payer=payer,
        bank_reference=bank_reference[:100],
        memo=(spec.memo or "").strip()[:300],
        manual=manual,
        reason=reason,
    )


def receipt_record(
    *,
    trust: Trust,
    actor: Any | None,
    amount: Money,
    received_on: date,
    source: str,
    bank_account: Account,
    idempotency_key: str,
    payer: Defendant | None = None,
    bank_reference: str = "",
    memo: str = "",
    manual: Sequence[ManualShare] | None = None,
    reason: str = "",
) -> Receipt:
    """Record money that reached ``bank_account`` and post it, allocated, in one entry.

    Without ``manual`` the amount is shared pro rata among the lines ``payer`` still owes (see the
    module docstring); with no payer, or nothing owed, it all goes to unallocated. With ``manual``
    (a trustee's allocation) ``reason`` must cite the court document. Refuses (``ValidationError``
    or ``LedgerError``, nothing written): a zero, negative or over-precise amount, an unknown
    currency, a currency other than the bank account's, a bank account of another trust or that is
    not a bank account, a payer of another trust, an unknown source, a date in the future or in the
    closed period. The same idempotency key again returns the first receipt; with different
    details it is refused."""
    checked = _check(
        trust,
        ReceiptSpec(
            amount=amount,
            received_on=received_on,
            source=source,
            bank_account=bank_account,
            idempotency_key=idempotency_key,
            payer=payer,
            bank_reference=bank_reference,
            memo=memo,
        ),
        manual=manual,
        reason=reason,
    )
    existing = _existing_receipt(trust, checked.key, checked.digest)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _record_many(trust, actor, [checked])[0]
    except (IntegrityError, LedgerError) as exc:
        # A concurrent call with the same key won the race: answer as a retry would. (Its
        # entry may differ from the one this call built, if this one waited for its locks and
        # then shared out against what the winner had left owed.)
        if isinstance(exc, LedgerError) and exc.code != "key_reused":
            raise
        existing = _existing_receipt(trust, checked.key, checked.digest)
        if existing is None:
            raise
        return existing


def receipts_record(
    *,
    trust: Trust,
    actor: Any | None,
    receipts: Sequence[ReceiptSpec],
    progress: Callable[[int, int], None] | None = None,
) -> list[Receipt]:
    """Record many receipts in one transaction, all or none, with the result of calling
    ``receipt_record`` for each in turn (each is shared out against what the ones before it left
    owed), at a fraction of the cost: the payers' lines are locked once, and the entries, receipts
    and allocations are written in batches, each balance and order line updated once per batch.

    Returns the receipts in the order given; one whose key was already used for the same details
    is the receipt recorded then. Refuses what ``receipt_record`` refuses, as ``ReceiptRefused``
    naming the receipt (``index``) when the fault is one receipt's, and a key given twice.
    ``progress(done, total)`` is called after each batch written."""
    checked: list[_Checked] = []
    seen: set[str] = set()
    for index, spec in enumerate(receipts):
        try:
            item = _check(trust, spec)
            if item.key in seen:
                raise field_error(
                    "idempotency_key",
                    f"key {item.key!r} is given to two receipts of the batch",
                    code="key_repeated",
                )
        except ValidationError as exc:
            raise ReceiptRefused(index, exc) from exc
        seen.add(item.key)
        checked.append(item)
    existing: dict[str, Receipt] = {}
    keys = list(seen)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        found = Receipt.objects.filter(
            trust=trust, idempotency_key__in=keys[start : start + _KEYS_PER_QUERY]
        )
        existing.update((receipt.idempotency_key, receipt) for receipt in found)
    for index, item in enumerate(checked):
        if item.key in existing and existing[item.key].payload_hash != item.digest:
            error = field_error(
                "idempotency_key",
                f"key {item.key!r} was already used for a different receipt",
                code="key_reused",
            )
            raise ReceiptRefused(index, error)
    new = [item for item in checked if item.key not in existing]
    if new:
        with transaction.atomic():
            existing.update(
                (receipt.idempotency_key, receipt)
                for receipt in _record_many(trust, actor, new, progress)
            )
    return [existing[item.key] for item in checked]


_KEYS_PER_QUERY = 900  # SQLite allows 999 parameters a statement
_WRITE_BATCH = 1000  # receipts a batch: entries, receipts and allocations written together


def _existing_receipt(trust: Trust, key: str, digest: str) -> Receipt | None:
    existing = Receipt.objects.filter(trust=trust, idempotency_key=key).first()
    if existing is not None and existing.payload_hash != digest:
        raise field_error(
            "idempotency_key",
            f"key {key!r} was already used for a different receipt",
            code="key_reused",
        )
    return existing


@dataclass(frozen=True)
class _Planned:
    item: _Checked
    method: str
    shares: list[_Share]
    rest: int


def _record_many(
    trust: Trust,
    actor: Any | None,
    items: Sequence[_Checked],
    progress: Callable[[int, int], None] | None = None,
) -> list[Receipt]:
    """Share out and write ``items`` in order, inside the caller's transaction."""
    # Lock every payer's lines once, then share out in memory: each receipt sees what the ones
    # before it left outstanding, as if they had been written one by one.
    lines_of = _lock_lines(
        trust, {i.payer.pk for i in items if i.payer is not None and i.manual is None}
    )
    outstanding = {line.pk: line.outstanding_minor for ls in lines_of.values() for line in ls}
    planned: list[_Planned] = []
    for item in items:
        if item.manual is not None:
            shares, rest = _manual(trust, item.amount_minor, item.currency, item.manual)
            method = Allocation.Method.MANUAL
        elif item.payer is not None:
            lines = [ln for ln in lines_of.get(item.payer.pk, []) if ln.currency == item.currency]
            shares, rest = _pro_rata(item.amount_minor, lines, outstanding)
            for share in shares:
                if share.line_id is not None:
                    outstanding[share.line_id] -= share.amount_minor
            method = Allocation.Method.PRO_RATA
        else:
            shares, rest = [], item.amount_minor
            method = Allocation.Method.PRO_RATA
        planned.append(_Planned(item, method, shares, rest))
    wanted: dict[str, set[int]] = defaultdict(set)
    for plan in planned:
        wanted[plan.item.currency].update(share.beneficiary_id for share in plan.shares)
    sub_ledgers = {currency: _sub_ledgers(trust, ids, currency) for currency, ids in wanted.items()}
    unallocated = {
        currency: _unallocated_account(trust, currency).pk
        for currency in sorted({plan.item.currency for plan in planned if plan.rest})
    }
    recorded: list[Receipt] = []
    for start in range(0, len(planned), _WRITE_BATCH):
        batch = planned[start : start + _WRITE_BATCH]
        recorded += _write(trust, actor, batch, sub_ledgers, unallocated)
        if progress is not None:
            progress(len(recorded), len(planned))
    return recorded


def _write(
    trust: Trust,
    actor: Any | None,
    batch: Sequence[_Planned],
    sub_ledgers: dict[str, dict[int, int]],
    unallocated: dict[str, int],
) -> list[Receipt]:
    entries: list[EntrySpec] = []
    for plan in batch:
        item = plan.item
        legs = [
            Leg(account=item.bank_account.pk, amount=from_minor(item.amount_minor, item.currency))
        ]
        legs += _sub_ledger_legs(trust, plan.shares, item.currency, sub_ledgers.get(item.currency))
        if plan.rest:
            legs.append(
                Leg(
                    account=unallocated[item.currency],
                    amount=from_minor(-plan.rest, item.currency),
                )
            )
        described = Receipt.Source(item.source).label + (
            f" from {item.payer}" if item.payer else ""
        )
        entries.append(
            EntrySpec(
                effective_date=item.received_on,
                legs=legs,
                idempotency_key=f"receipt:{item.key}",
                memo=f"Receipt: {described}"
                + (f", ref {item.bank_reference}" if item.bank_reference else ""),
                kind=EntryKind.RECEIPT,
            )
        )
    posted = entries_post(trust=trust, actor=actor, entries=entries)
    created_by = _actor(actor)
    receipts = Receipt.objects.bulk_create(
        Receipt(
            trust=trust,
            amount_minor=plan.item.amount_minor,
            currency=plan.item.currency,
            received_on=plan.item.received_on,
            source=plan.item.source,
            payer=plan.item.payer,
            bank_account=plan.item.bank_account,
            bank_reference=plan.item.bank_reference,
            memo=plan.item.memo,
            idempotency_key=plan.item.key,
            payload_hash=plan.item.digest,
            entry_id=done.entry_id,
            unallocated_minor=plan.rest,
            created_by=created_by,
        )
        for plan, done in zip(batch, posted, strict=True)
    )
    allocations = Allocation.objects.bulk_create(
        Allocation(
            receipt=receipt,
            entry_id=receipt.entry_id,
            method=plan.method,
            from_unallocated=False,
            unallocated_change_minor=plan.rest,
            reason=plan.item.reason,
            created_by=created_by,
        )
        for plan, receipt in zip(batch, receipts, strict=True)
    )
    _insert_shares(
        (allocation.pk, share.beneficiary_id, share.line_id, share.amount_minor, plan.item.currency)
        for plan, allocation in zip(batch, allocations, strict=True)
        for share in plan.shares
    )
    deltas: dict[int, int] = defaultdict(int)
    for plan in batch:
        for share in plan.shares:
            if share.line_id is not None:
                deltas[share.line_id] += share.amount_minor
    _add_collected(deltas)
    audit_record_many(
        [
            AuditSpec(
                action="receipt.recorded",
                trust_id=trust.pk,
                actor=created_by,
                object_type="receipt",
                object_id=str(receipt.pk),
                changes={
                    "key": plan.item.key,
                    "amount_minor": plan.item.amount_minor,
                    "currency": plan.item.currency,
                    "received_on": plan.item.received_on,
                    "source": plan.item.source,
                    "payer": getattr(plan.item.payer, "pk", None),
                    "bank_account": plan.item.bank_account.pk,
                    "bank_reference": plan.item.bank_reference,
                    "entry": receipt.entry_id,
                    "allocation": _audit_shares(plan.method, plan.shares, plan.rest),
                },
                reason=plan.item.reason,
            )
            for plan, receipt in zip(batch, receipts, strict=True)
        ]
    )
    return receipts


def _audit_shares(method: str, shares: Sequence[_Share], unallocated: int) -> dict[str, Any]:
    """An allocation as the audit trail records it: who got what from which order line."""
    return {
        "method": method,
        "shares": [[s.beneficiary_id, s.line_id, s.amount_minor] for s in shares],
        "unallocated_minor": unallocated,
    }


def receipt_allocate(
    *,
    receipt: Receipt,
    actor: Any | None,
    idempotency_key: str,
    payer: Defendant | None = None,
    manual: Sequence[ManualShare] | None = None,
    reason: str = "",
    effective_date: date | None = None,
) -> Allocation:
    """Allocate the unallocated part of a receipt, as an entry of its own (unallocated down,
    sub-ledgers up), dated today unless told otherwise.

    Pro rata to what the payer owes (``payer`` names it when the receipt came without one), or by
    hand (``manual``, with the court document as ``reason``). Whatever still cannot be allocated
    stays unallocated. Refuses a reversed receipt, one with nothing unallocated, a payer of
    another trust or a change of a known payer, and a pro-rata allocation that finds nothing owed.
    Retrying with the same key returns the first allocation."""
    reason = (reason or "").strip()
    key = (idempotency_key or "").strip()
    if not key or len(key) > 150:
        raise field_error(
            "idempotency_key",
            "An idempotency key of 1 to 150 characters is required.",
            code="key_missing",
        )
    if manual is not None and not reason:
        raise field_error(
            "reason",
            "A manual allocation must cite the court document that directs it.",
            code="reason_missing",
        )
    entry_key = f"allocation:{receipt.pk}:{key}"
    done = Allocation.objects.filter(
        entry__trust_id=receipt.trust_id, entry__idempotency_key=entry_key
    ).first()
    if done is not None:
        return done
    trust = receipt.trust
    with transaction.atomic():
        locked = Receipt.objects.select_for_update().get(pk=receipt.pk)
        if locked.status != Receipt.Status.POSTED:
            raise ValidationError("This receipt was reversed.", code="reversed")
        if locked.unallocated_minor == 0:
            raise ValidationError(
                "Nothing of this receipt is unallocated.", code="nothing_unallocated"
            )
        if payer is not None:
            if payer.trust_id != trust.pk:
                raise field_error(
                    "payer", "The payer is not a defendant of this trust.", code="foreign_payer"
                )
            if locked.payer_id is not None and locked.payer_id != payer.pk:
                raise field_error(
                    "payer",
                    f"this receipt is already recorded as paid by {locked.payer}",
                    code="payer_changed",
                )
        who = payer or locked.payer
        available = locked.unallocated_minor
        if manual is not None:
            shares, rest = _manual(trust, available, locked.currency, manual)
            method = Allocation.Method.MANUAL
        else:
            if who is None:
                raise field_error(
                    "payer", "Name the payer, or allocate by hand.", code="payer_unknown"
                )
            shares, rest = _pro_rata(available, _lock_payer_lines(trust, who, locked.currency))
            method = Allocation.Method.PRO_RATA
        moved = available - rest
        if moved == 0:
            if manual is not None:
                raise field_error(
                    "manual",
                    "The manual allocation names no amount to allocate.",
                    code="nothing_to_allocate",
                )
            raise ValidationError(
                f"{who} owes nothing outstanding in {locked.currency}; the money stays unallocated",
                code="nothing_owed",
            )
        legs = [
            Leg(
                account=_unallocated_account(trust, locked.currency).pk,
                amount=from_minor(moved, locked.currency),
            )
        ]
        legs += _sub_ledger_legs(trust, shares, locked.currency)
        posted = entries_post(
            trust=trust,
            actor=actor,
            entries=[
                EntrySpec(
                    effective_date=effective_date or timezone.localdate(),
                    legs=legs,
                    idempotency_key=entry_key,
                    memo=f"Allocation of receipt #{locked.pk}",
                    kind=EntryKind.ALLOCATION,
                    reason=reason,
                )
            ],
        )[0]
        allocation = _record_allocation(
            receipt=locked,
            entry_id=posted.entry_id,
            method=method,
            shares=shares,
            unallocated_change=-moved,
            from_unallocated=True,
            reason=reason,
            actor=actor,
        )
        updates: dict[str, Any] = {"unallocated_minor": rest}
        if payer is not None and locked.payer_id is None:
            updates["payer"] = payer
        Receipt.objects.filter(pk=locked.pk).update(**updates)
        audit_record(
            action="receipt.allocated",
            actor=actor,
            trust_id=trust.pk,
            object_type="receipt",
            object_id=locked.pk,
            changes={
                "entry": posted.entry_id,
                "payer": getattr(payer, "pk", None),
                "allocation": _audit_shares(method, shares, rest),
            },
            reason=reason,
        )
    receipt.unallocated_minor = rest
    if "payer" in updates:
        receipt.payer = payer
    return allocation


def _carried_to(line_ids: Sequence[int]) -> dict[int, list[int]]:
    """Line id -> the lines of later versions of its order that carried what it collected
    (amended judgments, ``OrderLine.carried_from``), oldest first."""
    chains: dict[int, list[int]] = {line_id: [] for line_id in line_ids}
    tips = {line_id: line_id for line_id in line_ids}
    while tips:
        successor = dict(
            OrderLine.objects.filter(carried_from_id__in=set(tips.values())).values_list(
                "carried_from_id", "pk"
            )
        )
        tips = {origin: successor[tip] for origin, tip in tips.items() if tip in successor}
        for origin, tip in tips.items():
            chains[origin].append(tip)
    return chains


def receipt_reverse(
    *,
    receipt: Receipt,
    actor: Any | None,
    reason: str,
    effective_date: date | None = None,
) -> Receipt:
    """Reverse a receipt (a bounced cheque, a payment recorded twice): every allocation of it is
    reversed, the latest first, then the receipt's own entry, all in one transaction, each as a
    reversal entry with ``reason``; what the order lines collected goes back down, also on the
    lines of later versions (amended judgments) that carried it.

    Refused when a beneficiary's sub-ledger no longer holds its share (the money was disbursed):
    book the shortfall explicitly first. Reversing a reversed receipt returns it unchanged."""
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "Say why the receipt is reversed.", code="reason_missing")
    with transaction.atomic():
        locked = Receipt.objects.select_for_update().get(pk=receipt.pk)
        if locked.status == Receipt.Status.REVERSED:
            return locked
        allocations = list(
            locked.allocations.filter(
                method__in=[Allocation.Method.PRO_RATA, Allocation.Method.MANUAL]
            )
            .prefetch_related("shares")
            .order_by("-pk")
        )
        line_ids = sorted(
            {s.line_id for a in allocations for s in a.shares.all() if s.line_id is not None}
        )
        carried: dict[int, list[int]] = {}
        locked_ids: set[int] = set()
        while line_ids:
            # Lines of later versions carried what these lines collected: lock them too, and
            # look again once locked, in case an amendment committed meanwhile.
            carried = _carried_to(line_ids)
            wanted = set(line_ids).union(*carried.values())
            if wanted <= locked_ids:
                break
            order_ids = sorted(
                set(OrderLine.objects.filter(pk__in=wanted).values_list("order_id", flat=True))
            )
            list(
                RestitutionOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")
            )
            list(OrderLine.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
            locked_ids = wanted
        when = effective_date or timezone.localdate()
        specs = []
        for allocation in allocations:
            entry = JournalEntry.objects.get(pk=allocation.entry_id)
            specs.append(
                EntrySpec(
                    effective_date=when,
                    legs=[
                        Leg(account=p.account_id, amount=-p.amount)
                        for p in entry.postings.order_by("pk")
                    ],
                    idempotency_key=f"reversal-of-{entry.pk}",
                    memo=f"Reversal of entry #{entry.pk}: {entry.memo}"[:1000],
                    kind=EntryKind.REVERSAL,
                    reverses_id=entry.pk,
                    reason=reason,
                )
            )
        try:
            posted = entries_post(trust=locked.trust, actor=actor, entries=specs)
        except LedgerError as exc:
            if exc.code == "overdraft":
                raise LedgerError(
                    "a beneficiary's sub-ledger no longer holds its share of this receipt (it was"
                    " disbursed): book the shortfall to an explicit account first, then reverse",
                    code="overdraft",
                ) from exc
            raise
        for allocation, result in zip(allocations, posted, strict=True):
            _record_allocation(
                receipt=locked,
                entry_id=result.entry_id,
                method=Allocation.Method.REVERSAL,
                shares=[
                    _Share(s.beneficiary_id, s.line_id, -s.amount_minor)
                    for s in allocation.shares.all()
                ],
                unallocated_change=-allocation.unallocated_change_minor,
                from_unallocated=allocation.from_unallocated,
                reason=reason,
                actor=actor,
            )
        # The bounced money is owed again on the current version of an amended order too.
        later: dict[int, int] = defaultdict(int)
        for allocation in allocations:
            for share in allocation.shares.all():
                for line_id in carried.get(share.line_id, ()):
                    later[line_id] -= share.amount_minor
        _add_collected({line_id: delta for line_id, delta in later.items() if delta})
        Receipt.objects.filter(pk=locked.pk).update(
            status=Receipt.Status.REVERSED, unallocated_minor=0, reversal_reason=reason
        )
        audit_record(
            action="receipt.reversed",
            actor=actor,
            trust_id=locked.trust_id,
            object_type="receipt",
            object_id=locked.pk,
            changes={"entries": [result.entry_id for result in posted]},
            reason=reason,
        )
        locked.refresh_from_db()
    return locked
