"""Read-only admin for the ledger: entries are written only by the posting service."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from trust.models import Account, Beneficiary, JournalEntry, LedgerCheck, Posting, Trust


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Trust)
class TrustAdmin(ReadOnlyAdmin):
    list_display = ("caption", "court", "case_number", "base_currency", "status", "lock_date")


@admin.register(Beneficiary)
class BeneficiaryAdmin(ReadOnlyAdmin):
    list_display = ("pseudonym", "trust")
    list_filter = ("trust",)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "trust", "type", "role", "currency", "balance", "no_negative")
    list_filter = ("trust", "type", "role", "currency")


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ("account", "amount_minor", "currency")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "trust", "effective_date", "kind", "memo", "reverses", "created_by")
    list_filter = ("trust", "kind")
    date_hierarchy = "effective_date"
    inlines = [PostingInline]


@admin.register(LedgerCheck)
class LedgerCheckAdmin(ReadOnlyAdmin):
    list_display = ("operation_id", "trust", "started_at", "finished_at", "ok")
