"""Report requests and the documents they produced.

A ``Report`` is one requested document (kind, trust, subject, period) and, once a worker has
generated it, the stored PDF with its SHA-256, its verification code and the audit checkpoint it
was built on. A ``ReportBatch`` groups the reports of one run (every beneficiary of a trust for a
period) so that its progress can be shown. Reports are working records: what the log keeps is the
``report.generated`` audit event written with each document.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from disbursements.models import CarePartner, Payment
from trust.models import AuditCheckpoint, Beneficiary, Reconciliation, Trust


class Kind(models.TextChoices):
    BENEFICIARY_STATEMENT = "beneficiary_statement", "Beneficiary statement"
    COURT_ACCOUNT = "court_account", "Trustee's account to the court"
    REMITTANCE_ADVICE = "remittance_advice", "Remittance advice"
    ORDER_STATUS = "order_status", "Restitution order status"
    AUDIT_CERTIFICATE = "audit_certificate", "Audit certificate"
    BANK_RECONCILIATION = "bank_reconciliation", "Bank reconciliation"


class ReportBatch(models.Model):
    """One run of many reports (all beneficiaries of a trust for a period, or a scheduled run)."""

    operation_id = models.CharField(max_length=100, unique=True)
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    total = models.PositiveIntegerField(default=0)
    # Chosen once for the whole batch (one checkpoint for every document of a run).
    checkpoint = models.ForeignKey(
        AuditCheckpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_period = models.BooleanField(default=False)

    class Meta:
        db_table = "reports_batch"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"batch {self.operation_id} ({self.get_kind_display()}, {self.total} reports)"


class Report(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    uid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    # The idempotency key: the same request twice (a double click, a task delivered twice, a
    # scheduled run that fires again) finds this row instead of making a second document.
    operation_id = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    beneficiary = models.ForeignKey(
        Beneficiary, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    partner = models.ForeignKey(
        CarePartner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A bank reconciliation's document: the signed-off reconciliation it prints.
    reconciliation = models.ForeignKey(
        Reconciliation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    period_start = models.DateField()
    period_end = models.DateField()
    batch = models.ForeignKey(
        ReportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # The document, once generated.
    file = models.FileField(upload_to="reports/", blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    verification_code = models.CharField(max_length=64, blank=True, default="", db_index=True)
    checkpoint = models.ForeignKey(
        AuditCheckpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    closed_period = models.BooleanField(
        default=False, help_text="Built on a closed period: generating it again gives the same."
    )
    figures = models.JSONField(null=True, blank=True, help_text="What the code is a hash of.")
    generated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "reports_report"
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["trust", "kind", "period_end"], name="report_trust_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="report_period_order"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | (~Q(sha256="") & ~Q(verification_code="")),
                name="report_done_has_document",
            ),
            models.CheckConstraint(
                condition=~Q(kind="beneficiary_statement") | Q(beneficiary__isnull=False),
                name="report_statement_has_beneficiary",
            ),
            models.CheckConstraint(
                condition=~Q(kind="remittance_advice") | Q(payment__isnull=False),
                name="report_advice_has_payment",
            ),
            models.CheckConstraint(
                condition=~Q(kind="bank_reconciliation") | Q(reconciliation__isnull=False),
                name="report_reconciliation_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def code_display(self) -> str:
        """The verification code as printed: groups of four, upper case."""
        return format_code(self.verification_code)


def format_code(code: str) -> str:
    text = code.upper()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
