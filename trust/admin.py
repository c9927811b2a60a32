"""Read-only admin for the ledger, the people and the orders: every write goes through the services.

Entries, receipts and allocations are written only by ``trust.services``; orders only by
``order_create``/``order_amend``; beneficiaries and defendants only by ``trust.services.people``.
The admin is a window for staff to look around, not a way in, so nothing here can add, change or
delete. Identifying details (DOMAIN.md rule 11) are not shown at all: ``BeneficiaryIdentity`` is not
registered, a beneficiary's page has no identity fields and no inline of them, and an implicated
person shows only how court papers refer to them, never the encrypted name or its blind index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from trust.access import grants, visible_q
from trust.models import (
    Account,
    Allocation,
    AllocationShare,
    Appointment,
    Beneficiary,
    Defendant,
    IdentityReveal,
    ImplicatedPerson,
    JournalEntry,
    LedgerCheck,
    OrderLine,
    Posting,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money


def _staff_with_a_role(user: Any) -> bool:
    held = grants(user)
    return bool(user.is_staff and (held.appointed or held.partner_id or held.superuser))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Looks only: every row through ``trust.access`` (another trust's or partner's rows are not
    there), for staff who hold a role; never add, change or delete."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(visible_q(request.user, self.model))

    def get_list_filter(self, request: HttpRequest) -> Sequence[Any]:
        """A filter on a relation offers only what the reader's rows point to (Django's default
        lists every row of the related table: every trust's caption, every partner's name)."""
        scoped: list[Any] = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            scoped.append(entry)
        return scoped

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff_with_a_role(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not _staff_with_a_role(request.user):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline that refuses add, change and delete itself, whatever its parent allows. Its
    rows hang off a parent the reader may see (the parent's admin is scoped)."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return _staff_with_a_role(request.user)

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(Trust)
class TrustAdmin(ReadOnlyAdmin):
    list_display = ("caption", "court", "case_number", "base_currency", "status", "lock_date")


@admin.register(Beneficiary)
class BeneficiaryAdmin(ReadOnlyAdmin):
    """Beneficiaries by pseudonym only. The date of birth is not shown (the majority date is what
    the work needs); the identifying details live elsewhere and are not reachable from here."""

    list_display = (
        "pseudonym",
        "trust",
        "kind",
        "status",
        "country",
        "care_partner",
        "majority_date",
    )
    list_filter = ("trust", "kind", "status")
    list_select_related = ("trust", "care_partner")
    search_fields = ("pseudonym",)
    fields = (
        "trust",
        "pseudonym",
        "kind",
        "status",
        "country",
        "care_partner",
        "majority_date",
        "created_at",
        "created_by",
    )
    readonly_fields = fields

    @admin.display(description="Majority date")
    def majority_date(self, obj: Beneficiary) -> date | None:
        return obj.majority_date(obj.trust.majority_age)


@admin.register(Defendant)
class DefendantAdmin(ReadOnlyAdmin):
    list_display = ("name", "reference", "trust", "created_at")
    list_filter = ("trust",)
    list_select_related = ("trust",)
    search_fields = ("name", "reference")
    fields = ("trust", "name", "reference", "created_at", "created_by")
    readonly_fields = fields


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "trust", "type", "role", "currency", "balance", "no_negative")
    list_filter = ("trust", "type", "role", "currency")


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("account", "amount_minor", "currency")
    readonly_fields = fields


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "trust", "effective_date", "kind", "memo", "reverses", "created_by")
    list_filter = ("trust", "kind")
    date_hierarchy = "effective_date"
    inlines = [PostingInline]


@admin.register(LedgerCheck)
class LedgerCheckAdmin(ReadOnlyAdmin):
    list_display = ("operation_id", "trust", "started_at", "finished_at", "ok")


# --- orders -------------------------------------------------------------------------------------


def _money(obj: Model, name: str) -> str:
    return format_money(getattr(obj, name))


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = (
        "position",
        "beneficiary",
        "liability",
        "defendants",
        "amount_shown",
        "collected_shown",
        "outstanding_shown",
        "carried_from",
    )
    readonly_fields = fields

    @admin.display(description="Amount")
    def amount_shown(self, obj: OrderLine) -> str:
        return _money(obj, "amount")

    @admin.display(description="Collected")
    def collected_shown(self, obj: OrderLine) -> str:
        return _money(obj, "collected")

    @admin.display(description="Outstanding")
    def outstanding_shown(self, obj: OrderLine) -> str:
        return _money(obj, "outstanding")


@admin.register(RestitutionOrder)
class RestitutionOrderAdmin(ReadOnlyAdmin):
    """Every version of every order; an amended judgment shows the version it supersedes."""

    list_display = (
        "case_number",
        "trust",
        "version",
        "status",
        "judgment_date",
        "total_shown",
        "supersedes",
        "payment_terms",
    )
    list_filter = ("trust", "status")
    list_select_related = ("trust", "supersedes")
    fields = (
        "trust",
        "court",
        "case_number",
        "judgment_date",
        "document_reference",
        "version",
        "status",
        "supersedes",
        "total_shown",
        "payment_terms",
        "schedule_note",
        "first_payment_due",
        "reason",
        "defendants",
        "created_at",
        "created_by",
    )
    readonly_fields = fields
    inlines = [OrderLineInline]

    @admin.display(description="Total")
    def total_shown(self, obj: RestitutionOrder) -> str:
        return _money(obj, "total")


# --- receipts and allocations -------------------------------------------------------------------


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fields = ("method", "from_unallocated", "unallocated_change_minor", "reason", "entry")
    readonly_fields = fields
    show_change_link = True


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "trust",
        "received_on",
        "amount_shown",
        "source",
        "payer",
        "unallocated_shown",
        "status",
    )
    list_filter = ("trust", "status", "source")
    list_select_related = ("trust", "payer")
    date_hierarchy = "received_on"
    fields = (
        "trust",
        "received_on",
        "amount_shown",
        "source",
        "payer",
        "bank_account",
        "bank_reference",
        "memo",
        "unallocated_shown",
        "status",
        "reversal_reason",
        "entry",
        "idempotency_key",
        "created_at",
        "created_by",
    )
    readonly_fields = fields
    inlines = [AllocationInline]

    @admin.display(description="Amount")
    def amount_shown(self, obj: Receipt) -> str:
        return _money(obj, "amount")

    @admin.display(description="Unallocated")
    def unallocated_shown(self, obj: Receipt) -> str:
        return _money(obj, "unallocated")


class AllocationShareInline(ReadOnlyInline):
    model = AllocationShare
    fields = ("beneficiary", "line", "amount_shown")
    readonly_fields = fields

    @admin.display(description="Amount")
    def amount_shown(self, obj: AllocationShare) -> str:
        return _money(obj, "amount")


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ("id", "receipt", "method", "from_unallocated", "created_at")
    list_filter = ("method",)
    list_select_related = ("receipt",)
    fields = (
        "receipt",
        "method",
        "from_unallocated",
        "unallocated_change_minor",
        "reason",
        "entry",
        "created_at",
        "created_by",
    )
    readonly_fields = fields
    inlines = [AllocationShareInline]


# --- people's private records -------------------------------------------------------------------


@admin.register(ImplicatedPerson)
class ImplicatedPersonAdmin(ReadOnlyAdmin):
    """How court papers refer to the person and when it was recorded: nothing else. The encrypted
    name and its blind index are never shown (a blind index can be matched against guesses)."""

    list_display = ("reference", "created_at")
    list_filter = ("trust",)
    search_fields = ("reference",)
    fields = ("reference", "created_at")
    readonly_fields = fields


@admin.register(IdentityReveal)
class IdentityRevealAdmin(ReadOnlyAdmin):
    """Who looked at a beneficiary's identifying details, when and why: for auditing. The record
    names the fields that were shown, never their values."""

    list_display = ("revealed_at", "beneficiary", "actor", "fields", "purpose")
    list_filter = ("beneficiary__trust",)
    list_select_related = ("beneficiary", "actor")
    date_hierarchy = "revealed_at"
    fields = ("beneficiary", "actor", "revealed_at", "fields", "purpose")
    readonly_fields = fields


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    """Who holds which role in which trust (administrators of the trust see them)."""

    list_display = ("user", "role", "trust", "starts_on", "ends_on", "reference")
    list_filter = ("role", "trust")
    search_fields = ("user__username", "reference")
    fields = (*list_display, "created_by", "created_at", "ended_by")
    readonly_fields = fields


# django-otp registers its devices with the admin, with pages that show a device's key as a QR
# code: whoever opens them can make that user's codes. Second factors are reset by an operator
# (``manage.py second_factor_reset``), never read.
for _device in ("otp_totp.TOTPDevice", "otp_static.StaticDevice"):
    _model = apps.get_model(_device)
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
