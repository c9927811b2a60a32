"""Money that reached the trust, and how it was shared among beneficiaries.

A receipt is posted as one entry: its bank account up, each beneficiary's sub-ledger up by its share,
and whatever could not be allocated to the unallocated account. Every later move of that money
(allocating the unallocated part, reversing the receipt) is an allocation of its own with its own
entry; ``AllocationShare`` rows say which order line each amount went to, and are what an order
line's ``collected_minor`` adds up.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from moneyed import Money

from trust.models.ledger import Account, JournalEntry, Trust
from trust.models.orders import OrderLine
from trust.models.people import Beneficiary, Defendant
from trust.money import from_minor


class Receipt(models.Model):
    class Source(models.TextChoices):
        CLERK = "clerk", "Clerk of court"
        DEFENDANT = "defendant", "Defendant directly"
        FORFEITURE = "forfeiture", "Forfeiture or remission"
        INTEREST = "interest", "Interest"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        REVERSED = "reversed", "Reversed"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="receipts")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    received_on = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    payer = models.ForeignKey(
        Defendant, null=True, blank=True, on_delete=models.PROTECT, related_name="receipts"
    )
    bank_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="receipts")
    bank_reference = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64)
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="receipt", db_constraint=False
    )
    unallocated_minor = models.BigIntegerField(
        default=0, help_text="Part of this receipt still waiting in the unallocated account."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.POSTED)
    reversal_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_receipt"
        ordering = ["trust_id", "received_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["trust", "idempotency_key"], name="receipt_unique_key"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="receipt_positive"),
            models.CheckConstraint(
                condition=Q(unallocated_minor__gte=0)
                & Q(unallocated_minor__lte=models.F("amount_minor")),
                name="receipt_unallocated_range",
            ),
            models.CheckConstraint(
                condition=Q(status="posted") | ~Q(reversal_reason=""),
                name="receipt_reversal_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["trust"],
                condition=Q(unallocated_minor__gt=0, status="posted"),
                name="receipt_to_resolve",
            ),
        ]

    def __str__(self) -> str:
        return f"receipt #{self.pk} {self.amount} on {self.received_on}"

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)

    @property
    def unallocated(self) -> Money:
        return from_minor(self.unallocated_minor, self.currency)


class Allocation(models.Model):
    """One move of a receipt's money among sub-ledgers, with its ledger entry."""

    class Method(models.TextChoices):
        PRO_RATA = "pro_rata", "Pro rata to what the payer owes"
        MANUAL = "manual", "Manual, by court document"
        REVERSAL = "reversal", "Reversal of the receipt"

    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="allocations")
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="allocation", db_constraint=False
    )
    method = models.CharField(max_length=8, choices=Method.choices)
    from_unallocated = models.BooleanField(
        default=False, help_text="Allocated later, out of the unallocated account."
    )
    unallocated_change_minor = models.BigIntegerField(
        default=0, help_text="How this allocation changed the receipt's unallocated part."
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_allocation"
        ordering = ["receipt_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(method="manual") | ~Q(reason=""), name="allocation_manual_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"allocation #{self.pk} of receipt #{self.receipt_id} ({self.method})"


class AllocationShare(models.Model):
    """What one allocation moved to (or, negative, back from) one beneficiary, and on which
    order line it counts."""

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="shares")
    beneficiary = models.ForeignKey(
        Beneficiary, on_delete=models.PROTECT, related_name="allocation_shares"
    )
    line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="shares"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        db_table = "trust_allocation_share"
        ordering = ["allocation_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="allocation_share_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} to #{self.beneficiary_id}"

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)
