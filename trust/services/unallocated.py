"""Resolving what a receipt left unallocated: allocating it later, pro rata to what the payer owes
or by a trustee's hand, as an entry of its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Allocation, Defendant, EntryKind, Receipt
from trust.money import from_minor
from trust.roles import Action
from trust.services.allocations import (
    ManualShare,
    audit_shares,
    lock_payer_lines,
    manual_shares,
    pro_rata,
    record_allocation,
    sub_ledger_legs,
    unallocated_account,
)
from trust.services.ledger import EntrySpec, Leg, entries_post


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
    require(
        actor,
        Action.RECEIPT_MANAGE,
        receipt,
        "Only a trustee of the trust allocates receipts.",
        "not_trustee",
        system=True,
    )
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
            shares, rest = manual_shares(trust, available, locked.currency, manual)
            method = Allocation.Method.MANUAL
        else:
            if who is None:
                raise field_error(
                    "payer", "Name the payer, or allocate by hand.", code="payer_unknown"
                )
            shares, rest = pro_rata(available, lock_payer_lines(trust, who, locked.currency))
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
                account=unallocated_account(trust, locked.currency).pk,
                amount=from_minor(moved, locked.currency),
            )
        ]
        legs += sub_ledger_legs(trust, shares, locked.currency)
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
        allocation = record_allocation(
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
                "allocation": audit_shares(method, shares, rest),
            },
            reason=reason,
        )
    receipt.unallocated_minor = rest
    if "payer" in updates:
        receipt.payer = payer
    return allocation
