"""Recording many receipts at once (a bank statement, a CSV import): all or none, with the result
of ``receipt_record`` called for each in turn, at a fraction of the cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from trust.access import require
from trust.db_faults import retried_on_conflict
from trust.errors import field_error
from trust.models import Receipt, Trust
from trust.roles import Action
from trust.services.receipts import CheckedReceipt, ReceiptSpec, check_receipt, record_receipts


class ReceiptRefused(ValidationError):
    """A receipt of a batch was refused: ``index`` says which (from 0); the error is its own."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(error.error_dict if hasattr(error, "error_dict") else error.error_list)
        self.index = index


@retried_on_conflict
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
    require(
        actor,
        Action.RECEIPT_MANAGE,
        trust,
        "Only a trustee of the trust records receipts.",
        "not_trustee",
        system=True,
    )
    checked: list[CheckedReceipt] = []
    seen: set[str] = set()
    for index, spec in enumerate(receipts):
        try:
            item = check_receipt(trust, spec)
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
                for receipt in record_receipts(trust, actor, new, progress)
            )
    return [existing[item.key] for item in checked]


_KEYS_PER_QUERY = 900  # SQLite allows 999 parameters a statement
