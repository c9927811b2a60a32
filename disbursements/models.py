"""Care partners (NGOs), their caseworkers, care-plan budgets, and disbursement requests with
their approvals and history.

Amounts are integers in minor units with a currency code, as in the ledger; ``Money`` at every
boundary. Payout bank details and a payee's name are identifying data: stored encrypted
(``trust.crypto``), with a blind index of the payee's name so that it can be compared with the
people recorded as implicated without decrypting anything.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from moneyed import Money

from trust.models import Account, Beneficiary, JournalEntry, Trust
from trust.money import from_minor


class CarePartner(models.Model):
    """A care partner (NGO) that receives disbursements for the beneficiaries in its care."""

    ENCRYPTED_FIELDS = {"payout_token": lambda row: f"care-partner-payout:{row.uid}"}

    class Vetting(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        SUSPENDED = "suspended", "Suspended"

    uid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    registration_number = models.CharField(max_length=100, blank=True, default="")
    vetting_status = models.CharField(
        max_length=10, choices=Vetting.choices, default=Vetting.PENDING
    )
    vetted_on = models.DateField(null=True, blank=True)
    vetting_expires_on = models.DateField(null=True, blank=True)
    agreement_start = models.DateField(null=True, blank=True)
    agreement_end = models.DateField(null=True, blank=True)
    payout_currency = models.CharField(max_length=3, blank=True, default="")
    payout_token = models.TextField(blank=True, default="", help_text="Encrypted bank details.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_care_partner"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vetting_expires_on__isnull=True)
                | Q(vetted_on__isnull=True)
                | Q(vetting_expires_on__gte=models.F("vetted_on")),
                name="care_partner_vetting_dates",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Caseworker(models.Model):
    """A user who works for one care partner."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="caseworker"
    )
    partner = models.ForeignKey(CarePartner, on_delete=models.PROTECT, related_name="caseworkers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_caseworker"

    def __str__(self) -> str:
        return f"{self.user} ({self.partner})"


class Category(models.TextChoices):
    """What a disbursement is for (DOMAIN rule 8)."""

    MEDICAL = "medical", "Medical"
    MENTAL_HEALTH = "mental_health", "Mental health"
    EDUCATION = "education", "Education"
    SHELTER = "shelter", "Shelter"
    LIVING_SUPPORT = "living_support", "Living support"
    LEGAL = "legal", "Legal and documentation"
    VOCATIONAL = "vocational", "Vocational training"
    TRANSPORT = "transport", "Transport"
    OTHER = "other", "Other (with justification)"


# Above this (in the trust's base currency) two trustees approve, until the trust sets its own.
DEFAULT_DUAL_APPROVAL = "5000.00"


class DisbursementPolicy(models.Model):
    """A trust's rules for disbursements: above ``dual_approval_minor`` (in the trust's base
    currency, compared with the amount reserved) two different trustees must approve; bank fees
    on payments are charged to ``fees_charged_to``."""

    trust = models.OneToOneField(
        Trust, on_delete=models.PROTECT, related_name="disbursement_policy"
    )

    class FeeBearer(models.TextChoices):
        BENEFICIARY = "beneficiary", "The beneficiary's sub-ledger"
        ADMINISTRATION = "administration", "The trust's administration fund"

    dual_approval_minor = models.BigIntegerField()
    fees_charged_to = models.CharField(
        max_length=14,
        choices=FeeBearer.choices,
        default=FeeBearer.BENEFICIARY,
        help_text="Who bears the bank's fees on a payment.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "disbursements_policy"
        constraints = [
            models.CheckConstraint(
                condition=Q(dual_approval_minor__gt=0), name="policy_threshold_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"disbursement policy of trust #{self.trust_id}"


class Budget(models.Model):
    """A care-plan budget: what may be disbursed for one beneficiary in one category over a
    period, in the currency of the beneficiary's sub-ledger."""

    beneficiary = models.ForeignKey(Beneficiary, on_delete=models.PROTECT, related_name="budgets")
    category = models.CharField(max_length=20, choices=Category.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "disbursements_budget"
        ordering = ["beneficiary_id", "category", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["beneficiary", "category", "period_start"], name="budget_unique_period"
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="budget_positive"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="budget_period_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category} budget {self.period_start}..{self.period_end}"

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved (funds reserved)"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    PAID = "paid", "Paid"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RETURNED = "returned", "Returned"


# What a request in each status waits for, in the words of the people who use it.
WAITS_FOR = {
    Status.DRAFT: "the caseworker to submit it",
    Status.SUBMITTED: "a trustee's decision",
    Status.APPROVED: "the trustee to record the payment",
    Status.PAID: "the partner to say what arrived",
}

# Statuses that hold a reservation on the beneficiary's sub-ledger.
RESERVING = (Status.APPROVED,)


class DisbursementRequest(models.Model):
    """A caseworker's request to pay money out of one beneficiary's sub-ledger, for one purpose,
    to the care partner (or, with a court authorisation, another payee)."""

    ENCRYPTED_FIELDS = {"payee_token": lambda row: f"disbursement-payee:{row.uid}"}

    class PayeeKind(models.TextChoices):
        PARTNER = "partner", "The care partner"
        PROVIDER = "provider", "A provider (school, clinic, landlord)"
        FAMILY = "family", "A family member (needs a court authorisation)"

    uid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    beneficiary = models.ForeignKey(
        Beneficiary, on_delete=models.PROTECT, related_name="disbursement_requests"
    )
    partner = models.ForeignKey(CarePartner, on_delete=models.PROTECT, related_name="requests")
    sub_ledger = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=20, choices=Category.choices)
    # What the money is for, encrypted under the child's data key: see ``purpose``.
    purpose_token = models.TextField(default="", editable=False)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # What approval reserves on the sub-ledger, in its currency (the requested amount when it is
    # in that currency; the approving trustee's figure when it is in the local currency).
    reserve_minor = models.BigIntegerField(null=True, blank=True)
    payee_kind = models.CharField(
        max_length=10, choices=PayeeKind.choices, default=PayeeKind.PARTNER
    )
    payee_token = models.TextField(blank=True, default="")
    payee_index = models.CharField(max_length=64, blank=True, default="", db_index=True)
    court_authorisation = models.CharField(max_length=200, blank=True, default="")
    budget_override_token = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "disbursements_request"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sub_ledger", "status"], name="request_ledger_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"], name="request_unique_key"
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="request_positive"),
            models.CheckConstraint(
                condition=Q(reserve_minor__isnull=True) | Q(reserve_minor__gt=0),
                name="request_reserve_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(reserve_minor__isnull=False),
                name="request_approved_reserves",
            ),
        ]

    def __str__(self) -> str:
        return f"request #{self.pk} for {self.beneficiary}"

    # Free text about a child, encrypted under the child's data key (``Beneficiary.seal_text``):
    # read and written as plain attributes, "(erased)" once the child's data key is destroyed.

    @property
    def purpose(self) -> str:
        return self.beneficiary.open_text(self.purpose_token, context=f"request-purpose:{self.uid}")

    @purpose.setter
    def purpose(self, value: str) -> None:
        self.purpose_token = self.beneficiary.seal_text(
            value or "", context=f"request-purpose:{self.uid}"
        )

    @property
    def budget_override_reason(self) -> str:
        return self.beneficiary.open_text(
            self.budget_override_token, context=f"request-override:{self.uid}"
        )

    @budget_override_reason.setter
    def budget_override_reason(self, value: str) -> None:
        self.budget_override_token = self.beneficiary.seal_text(
            value or "", context=f"request-override:{self.uid}"
        )

    @property
    def amount(self) -> Money:
        return from_minor(self.amount_minor, self.currency)

    @property
    def reserve(self) -> Money | None:
        if self.reserve_minor is None:
            return None
        return from_minor(self.reserve_minor, self.sub_ledger.currency)

    @property
    def waits_for(self) -> str:
        """What the request waits for, in its users' words ("" once it is settled)."""
        return WAITS_FOR.get(self.status, "")


class Payment(models.Model):
    """The payment of an approved request, as the trustee recorded it from the bank's advice, and
    what became of it: acknowledged by the partner (with what arrived) or returned by the bank.

    Amounts are facts, each in its own currency: ``sent`` and ``fee`` in the sub-ledger's
    currency (what left the trust's bank), ``payout`` in the partner's currency (what the
    transfer was for). The rate is derived from them for display and never used to compute a
    booked amount. The ledger entries each step posted are linked here (docs/disbursements.md
    has the worked example).
    """

    request = models.OneToOneField(
        DisbursementRequest, on_delete=models.PROTECT, related_name="payment"
    )
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, help_text="The sub-ledger's (trust's) currency.")
    bank_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    sent_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField(default=0)
    fee_bearer = models.CharField(max_length=14, choices=DisbursementPolicy.FeeBearer.choices)
    payout_currency = models.CharField(max_length=3)
    payout_minor = models.BigIntegerField()
    value_date = models.DateField()
    transfer_reference = models.CharField(max_length=100)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    payment_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="+")
    fee_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Cleared: the partner acknowledged what arrived (later also: bank reconciliation).
    arrived_minor = models.BigIntegerField(null=True, blank=True)
    acknowledged_on = models.DateField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settlement_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shortfall_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Returned by the bank: what came back, in the trust's currency.
    returned_minor = models.BigIntegerField(null=True, blank=True)
    returned_on = models.DateField(null=True, blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    return_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fx_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "disbursements_payment"
        ordering = ["-value_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trust", "transfer_reference"], name="payment_unique_reference"
            ),
            models.CheckConstraint(condition=Q(sent_minor__gt=0), name="payment_sent_positive"),
            models.CheckConstraint(condition=Q(fee_minor__gte=0), name="payment_fee_not_negative"),
            models.CheckConstraint(condition=Q(payout_minor__gt=0), name="payment_payout_positive"),
            models.CheckConstraint(
                condition=Q(arrived_minor__isnull=True)
                | (Q(arrived_minor__gt=0) & Q(arrived_minor__lte=models.F("payout_minor"))),
                name="payment_arrived_within_payout",
            ),
            models.CheckConstraint(
                condition=Q(returned_minor__isnull=True) | Q(returned_minor__gt=0),
                name="payment_returned_positive",
            ),
            models.CheckConstraint(
                condition=Q(arrived_minor__isnull=True) | Q(returned_minor__isnull=True),
                name="payment_acknowledged_or_returned",
            ),
        ]

    def __str__(self) -> str:
        return f"payment of request #{self.request_id}"

    @property
    def sent(self) -> Money:
        return from_minor(self.sent_minor, self.currency)

    @property
    def fee(self) -> Money:
        return from_minor(self.fee_minor, self.currency)

    @property
    def payout(self) -> Money:
        return from_minor(self.payout_minor, self.payout_currency)

    @property
    def arrived(self) -> Money | None:
        if self.arrived_minor is None:
            return None
        return from_minor(self.arrived_minor, self.payout_currency)

    @property
    def shortfall(self) -> Money | None:
        if self.arrived_minor is None:
            return None
        return from_minor(self.payout_minor - self.arrived_minor, self.payout_currency)

    @property
    def returned(self) -> Money | None:
        if self.returned_minor is None:
            return None
        return from_minor(self.returned_minor, self.currency)

    @property
    def cross_currency(self) -> bool:
        return self.payout_currency != self.currency

    @property
    def rate(self) -> Decimal:
        """Units of the payout currency per unit of the trust's currency, derived from what was
        sent and what it was for (for display and reports; nothing is computed with it)."""
        return (self.payout.amount / self.sent.amount).quantize(Decimal("0.000001"))

    @property
    def settled(self) -> bool:
        return self.settlement_entry_id is not None


class Approval(models.Model):
    """One trustee's approval of a request (two, from different trustees, above the threshold)."""

    request = models.ForeignKey(
        DisbursementRequest, on_delete=models.PROTECT, related_name="approvals"
    )
    trustee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_approval"
        ordering = ["approved_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "trustee"], name="approval_once_per_trustee")
        ]

    def __str__(self) -> str:
        return f"approval of request #{self.request_id} by #{self.trustee_id}"


class RequestEvent(models.Model):
    """One transition of a request: who, when, why, from and to which status."""

    request = models.ForeignKey(
        DisbursementRequest, on_delete=models.PROTECT, related_name="events"
    )
    action = models.CharField(max_length=30)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    status_from = models.CharField(max_length=12, blank=True, default="")
    status_to = models.CharField(max_length=12)
    # Why (a rejection, a note on what arrived), encrypted under the child's data key.
    reason_token = models.TextField(blank=True, default="", editable=False)

    class Meta:
        db_table = "disbursements_request_event"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.status_from or '-'} -> {self.status_to}"

    @property
    def reason(self) -> str:
        return self.request.beneficiary.open_text(
            self.reason_token, context=f"request-event:{self.request.uid}"
        )

    @reason.setter
    def reason(self, value: str) -> None:
        self.reason_token = self.request.beneficiary.seal_text(
            value or "", context=f"request-event:{self.request.uid}"
        )


class RequestDocument(models.Model):
    """A supporting document of a request (a quote, an invoice, proof of use), stored through
    Django's storage API under a random name; its type was recognised from its content."""

    class Kind(models.TextChoices):
        QUOTE = "quote", "Quote"
        INVOICE = "invoice", "Invoice"
        PROOF = "proof", "Proof of use"

    uid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(
        DisbursementRequest, on_delete=models.PROTECT, related_name="documents"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    file = models.FileField(upload_to="requests/")
    # Whether the stored file is sealed (``trust.filecrypt``) under a subkey of the child's data
    # key; ``rotate_field_keys`` seals any file stored before documents were encrypted.
    sealed = models.BooleanField(default=False, editable=False)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    # A short description, encrypted under the child's data key (it may name the child).
    title_token = models.TextField(blank=True, default="", editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_request_document"
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "sha256"], name="document_once_per_request")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of request #{self.request_id}"

    @property
    def seal_context(self) -> str:
        return f"request-document:{self.uid}"

    @property
    def title(self) -> str:
        return self.request.beneficiary.open_text(
            self.title_token, context=f"request-document-title:{self.uid}"
        )

    @title.setter
    def title(self, value: str) -> None:
        self.title_token = self.request.beneficiary.seal_text(
            value or "", context=f"request-document-title:{self.uid}"
        )

    @property
    def extension(self) -> str:
        return {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
            self.content_type, "bin"
        )


class Notification(models.Model):
    """One message sent about a request event to one person: the unique pair makes a task that
    runs twice send once."""

    event = models.ForeignKey(RequestEvent, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_notification"
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient"], name="notification_once")
        ]

    def __str__(self) -> str:
        return f"notification of event #{self.event_id} to #{self.recipient_id}"
