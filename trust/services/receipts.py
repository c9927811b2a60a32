"""Recording a receipt, and reversing one.

A receipt is one ledger entry: the bank account up by the amount, each beneficiary's sub-ledger up
by its share, and what could not be allocated to the unallocated account (a task for a trustee).
How the share is decided, and in which order rows are locked, is ``trust.services.allocations``.
Allocating the unallocated part later (``trust.services.unallocated``), and reversing a receipt,
are entries of their own. Recording many receipts at once is ``trust.services.receipt_batches``;
it writes through ``record_receipts`` here, as ``receipt_record`` does, a batch at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from moneyed import Money

from trust.access import require
from trust.audit.events import AuditSpec, audit_record, audit_record_many
from trust.db_faults import retried_on_conflict
from trust.errors import field_error
from trust.models import (
    Account,
    Allocation,
    Defendant,
    EntryKind,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money, from_minor, to_minor
from trust.reservations import reserved_by_account
from trust.roles import Action
from trust.services.allocations import (
    ManualShare,
    Share,
    add_collected,
    audit_shares,
    insert_shares,
    lock_lines,
    manual_shares,
    pro_rata,
    record_allocation,
    saved_actor,
    sub_ledger_accounts,
    sub_ledger_legs,
    unallocated_account,
)
from trust.services.amounts import positive_minor
from trust.services.ledger import EntrySpec, LedgerError, Leg, entries_post


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
class CheckedReceipt:
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


def check_receipt(
    trust: Trust,
    spec: ReceiptSpec,
    manual: Sequence[ManualShare] | None = None,
    reason: str = "",
) -> CheckedReceipt:
    """Check ``spec`` as ``receipt_record`` does, before anything is written."""
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
    return CheckedReceipt(
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


@retried_on_conflict
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

    Without ``manual`` the amount is shared pro rata among the lines ``payer`` still owes (see
    ``trust.services.allocations``); with no payer, or nothing owed, it all goes to unallocated.
    With ``manual`` (a trustee's allocation) ``reason`` must cite the court document. Refuses
    (``ValidationError`` or ``LedgerError``, nothing written): a zero, negative or over-precise
    amount, an unknown currency, a currency other than the bank account's, a bank account of
    another trust or that is not a bank account, a payer of another trust, an unknown source, a
    date in the future or in the closed period. The same idempotency key again returns the first
    receipt; with different details it is refused."""
    require(
        actor,
        Action.RECEIPT_MANAGE,
        trust,
        "Only a trustee of the trust records receipts.",
        "not_trustee",
        system=True,
    )
    checked = check_receipt(
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
            return record_receipts(trust, actor, [checked])[0]
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
    item: CheckedReceipt
    method: str
    shares: list[Share]
    rest: int


def record_receipts(
    trust: Trust,
    actor: Any | None,
    items: Sequence[CheckedReceipt],
    progress: Callable[[int, int], None] | None = None,
) -> list[Receipt]:
    """Share out and write ``items`` in order, inside the caller's transaction."""
    # Lock every payer's lines once, then share out in memory: each receipt sees what the ones
    # before it left outstanding, as if they had been written one by one.
    lines_of = lock_lines(
        trust, {i.payer.pk for i in items if i.payer is not None and i.manual is None}
    )
    outstanding = {line.pk: line.outstanding_minor for ls in lines_of.values() for line in ls}
    planned: list[_Planned] = []
    for item in items:
        if item.manual is not None:
            shares, rest = manual_shares(trust, item.amount_minor, item.currency, item.manual)
            method = Allocation.Method.MANUAL
        elif item.payer is not None:
            lines = [ln for ln in lines_of.get(item.payer.pk, []) if ln.currency == item.currency]
            shares, rest = pro_rata(item.amount_minor, lines, outstanding)
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
    sub_ledgers = {
        currency: sub_ledger_accounts(trust, ids, currency) for currency, ids in wanted.items()
    }
    unallocated = {
        currency: unallocated_account(trust, currency).pk
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
        legs += sub_ledger_legs(trust, plan.shares, item.currency, sub_ledgers.get(item.currency))
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
    created_by = saved_actor(actor)
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
    insert_shares(
        (allocation.pk, share.beneficiary_id, share.line_id, share.amount_minor, plan.item.currency)
        for plan, allocation in zip(batch, allocations, strict=True)
        for share in plan.shares
    )
    deltas: dict[int, int] = defaultdict(int)
    for plan in batch:
        for share in plan.shares:
            if share.line_id is not None:
                deltas[share.line_id] += share.amount_minor
    add_collected(deltas)
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
                    "allocation": audit_shares(plan.method, plan.shares, plan.rest),
                },
                reason=plan.item.reason,
            )
            for plan, receipt in zip(batch, receipts, strict=True)
        ]
    )
    return receipts


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


@retried_on_conflict
def _keep_reserved(trust: Trust, specs: list[EntrySpec]) -> None:
    """Refuse a reversal that would leave a child's sub-ledger holding less than approved
    requests reserve on it (DOMAIN rule 3: available never below zero). The sub-ledgers are
    locked first, in primary-key order as approvals lock them, so no approval slips in between."""
    taken: dict[int, int] = defaultdict(int)
    for spec in specs:
        for leg in spec.legs:
            taken[leg.account_id] += to_minor(leg.amount)
    accounts = list(
        Account.objects.select_for_update()
        .filter(pk__in=[pk for pk, minor in taken.items() if minor > 0])
        .filter(role=Account.Role.SUB_LEDGER)
        .order_by("pk")
    )
    if not accounts:
        return
    left_of = {account.pk: account.balance_minor - taken[account.pk] for account in accounts}
    if any(left < 0 for left in left_of.values()):
        return  # the ledger's own refusal (an overdraft), with its own message
    reserved = reserved_by_account(trust=trust)
    for account in accounts:
        left = left_of[account.pk]
        if left < reserved.get(account.pk, 0):
            raise LedgerError(
                f"reversing this receipt would leave {account.code} with"
                f" {format_money(from_minor(left, account.currency))}, less than the"
                f" {format_money(from_minor(reserved[account.pk], account.currency))} approved"
                " requests reserve on it: cancel or pay them first, then reverse",
                code="reserved",
            )


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
    require(
        actor,
        Action.RECEIPT_MANAGE,
        receipt,
        "Only a trustee of the trust reverses receipts.",
        "not_trustee",
        system=True,
    )
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
        _keep_reserved(locked.trust, specs)
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
            record_allocation(
                receipt=locked,
                entry_id=result.entry_id,
                method=Allocation.Method.REVERSAL,
                shares=[
                    Share(s.beneficiary_id, s.line_id, -s.amount_minor)
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
        add_collected({line_id: delta for line_id, delta in later.items() if delta})
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
