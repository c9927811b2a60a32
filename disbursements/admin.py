"""Read-only admin for care partners and disbursement requests: every write goes through
``disbursements.services``. Encrypted fields (payout details, a payee's name) and their blind
index are not shown; documents are listed without links (they are served only through the
scoped download)."""

from __future__ import annotations

from django.contrib import admin

from disbursements.models import (
    Approval,
    Budget,
    CarePartner,
    Caseworker,
    DisbursementRequest,
    Payment,
    RequestDocument,
    RequestEvent,
)
from trust.admin import ReadOnlyAdmin, ReadOnlyInline
from trust.money import format_money


@admin.register(CarePartner)
class CarePartnerAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "country",
        "vetting_status",
        "vetted_on",
        "vetting_expires_on",
        "payout_currency",
    )
    list_filter = ("vetting_status", "country")
    search_fields = ("name", "registration_number")
    fields = (
        "name",
        "country",
        "registration_number",
        "vetting_status",
        "vetted_on",
        "vetting_expires_on",
        "agreement_start",
        "agreement_end",
        "payout_currency",
        "created_at",
    )
    readonly_fields = fields


@admin.register(Caseworker)
class CaseworkerAdmin(ReadOnlyAdmin):
    list_display = ("user", "partner", "created_at")
    list_select_related = ("user", "partner")


@admin.register(Budget)
class BudgetAdmin(ReadOnlyAdmin):
    list_display = ("beneficiary", "category", "period_start", "period_end", "budget")
    list_filter = ("category",)
    list_select_related = ("beneficiary",)

    @admin.display(description="Amount")
    def budget(self, obj: Budget) -> str:
        return format_money(obj.amount)


class ApprovalInline(ReadOnlyInline):
    model = Approval
    fields = ("trustee", "approved_at")
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = RequestEvent
    fields = ("at", "action", "actor", "status_from", "status_to", "reason")
    readonly_fields = fields


class DocumentInline(ReadOnlyInline):
    model = RequestDocument
    fields = ("kind", "title", "content_type", "size", "uploaded_by", "uploaded_at")
    readonly_fields = fields


@admin.register(DisbursementRequest)
class DisbursementRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "beneficiary", "partner", "category", "requested", "status", "created_at")
    list_filter = ("status", "category", "partner")
    list_select_related = ("beneficiary", "partner")
    fields = (
        "trust",
        "beneficiary",
        "partner",
        "category",
        "purpose",
        "requested",
        "reserved",
        "payee_kind",
        "court_authorisation",
        "budget_override_reason",
        "status",
        "requested_by",
        "created_at",
        "submitted_at",
        "decided_at",
    )
    readonly_fields = fields
    inlines = [ApprovalInline, DocumentInline, EventInline]

    @admin.display(description="Requested")
    def requested(self, obj: DisbursementRequest) -> str:
        return format_money(obj.amount)

    @admin.display(description="Reserved")
    def reserved(self, obj: DisbursementRequest) -> str:
        return format_money(obj.reserve) if obj.reserve is not None else "-"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "request",
        "value_date",
        "transfer_reference",
        "sent_",
        "payout_",
        "rate",
        "arrived_",
        "returned_",
    )
    list_select_related = ("request__beneficiary",)
    search_fields = ("transfer_reference",)
    date_hierarchy = "value_date"
    fields = (
        "request",
        "trust",
        "bank_account",
        "value_date",
        "transfer_reference",
        "sent_",
        "fee_",
        "fee_bearer",
        "payout_",
        "rate",
        "recorded_by",
        "recorded_at",
        "payment_entry",
        "fee_entry",
        "arrived_",
        "acknowledged_on",
        "acknowledged_by",
        "settlement_entry",
        "shortfall_entry",
        "returned_",
        "returned_on",
        "returned_by",
        "return_entry",
        "fx_entry",
    )
    readonly_fields = fields

    @admin.display(description="Sent")
    def sent_(self, obj: Payment) -> str:
        return format_money(obj.sent)

    @admin.display(description="Bank fee")
    def fee_(self, obj: Payment) -> str:
        return format_money(obj.fee)

    @admin.display(description="For")
    def payout_(self, obj: Payment) -> str:
        return format_money(obj.payout)

    @admin.display(description="Arrived")
    def arrived_(self, obj: Payment) -> str:
        return format_money(obj.arrived) if obj.arrived is not None else "-"

    @admin.display(description="Returned")
    def returned_(self, obj: Payment) -> str:
        return format_money(obj.returned) if obj.returned is not None else "-"
