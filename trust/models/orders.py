"""Restitution orders, their lines, and what has been collected on each line.

An amended judgment is a new version of the order (``supersedes`` the previous one); both stay.
Each line of the new version that matches a line of the old one (same beneficiary, same
defendants) carries over what was collected on it, so outstanding amounts survive an amendment.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from moneyed import Money

from trust.models.ledger import Trust
from trust.models.people import Beneficiary, Defendant
from trust.money import from_minor


class RestitutionOrder(models.Model):
    class PaymentTerms(models.TextChoices):
        LUMP_SUM = "lump_sum", "Lump sum, due immediately"
        SCHEDULE = "schedule", "Payment schedule"

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        SUPERSEDED = "superseded", "Superseded by an amended judgment"

    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="orders")
    court = models.CharField(max_length=200)
    case_number = models.CharField(max_length=100)
    judgment_date = models.DateField()
    document_reference = models.CharField(
        max_length=200, blank=True, help_text="Docket entry of the judgment, e.g. 'ECF No. 87'."
    )
    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CURRENT)
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField(help_text="The total the judgment states.")
    payment_terms = models.CharField(
        max_length=10, choices=PaymentTerms.choices, default=PaymentTerms.LUMP_SUM
    )
    schedule_note = models.TextField(
        blank=True, help_text="The schedule as the judgment states it, e.g. '$500 monthly'."
    )
    first_payment_due = models.DateField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why this version exists (amendments).")
    defendants = models.ManyToManyField(Defendant, related_name="orders")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_order"
        ordering = ["trust_id", "judgment_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(total_minor__gt=0), name="order_total_positive"),
            models.CheckConstraint(
                condition=Q(supersedes__isnull=True, version=1)
                | Q(supersedes__isnull=False, version__gt=1),
                name="order_version_chain",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_number} v{self.version} ({self.judgment_date})"

    @property
    def total(self) -> Money:
        return from_minor(self.total_minor, self.currency)


class OrderLine(models.Model):
    """One amount the judgment orders paid to one victim by one defendant (several liability) or
    by a group of defendants together (joint and several: any payment by any of them reduces it)."""

    class Liability(models.TextChoices):
        SEVERAL = "several", "Several"
        JOINT = "joint", "Joint and several"

    order = models.ForeignKey(RestitutionOrder, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField(help_text="Line number in the judgment, from 1.")
    beneficiary = models.ForeignKey(
        Beneficiary, on_delete=models.PROTECT, related_name="order_lines"
    )
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    liability = models.CharField(max_length=8, choices=Liability.choices)
    defendants = models.ManyToManyField(Defendant, related_name="order_lines")
    collected_minor = models.BigIntegerField(
        default=0,
        help_text="Allocated to this line so far, including what the line it replaces collected.",
    )
    carried_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="carried_to",
        help_text="The matching line of the version this order supersedes.",
    )

    class Meta:
        db_table = "trust_order_line"
        ordering = ["order_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_line_position"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="order_line_positive"),
            models.CheckConstraint(
                condition=Q(collected_minor__gte=0), name="order_line_collected_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(liability__in=["several", "joint"]), name="order_line_liability"
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.position} of order #{self.order_id}"

    @property
    def outstanding_minor(self) -> int:
        return max(0, self.amount_minor - self.collected_minor)

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)

    @property
    def collected(self) -> Money:
        return from_minor(self.collected_minor, self.currency)

    @property
    def outstanding(self) -> Money:
        return from_minor(self.outstanding_minor, self.currency)
