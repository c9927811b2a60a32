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
