"""Receipts: the list, recording one, its allocations child by child, allocating what is
unallocated, reversing, and a CSV import checked first and recorded exactly as checked.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

import contextlib
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from moneyed import Money

from trust.access import (
    can,
    trust_for,
)
from trust.bank.services.matching import line_match_recorded
from trust.forms import (
    AllocateForm,
    ImportForm,
    ReceiptForm,
    ReverseForm,
    add_service_errors,
)
from trust.models import (
    Account,
    Receipt,
    Trust,
)
from trust.money import format_money
from trust.roles import Action
from trust.selectors import (
    receipt_allocations,
    receipt_list,
)
from trust.services.imports import import_summary, receipts_import
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.unallocated import receipt_allocate


def _bank_accounts(trust: Trust) -> list[Account]:
    return list(trust.accounts.filter(role=Account.Role.BANK).order_by("code"))


@login_required
def receipts_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    found = receipt_list(
        trust=trust, search=q.get("q", "").strip(), to_resolve=q.get("to_resolve") == "1"
    )
    page = Paginator(found, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "trust/receipt_list.html",
        {
            "trust": trust,
            "page": page,
            "search": q.get("q", ""),
            "to_resolve": q.get("to_resolve") == "1",
            "query": query.urlencode(),
            "may_record": can(request.user, Action.RECEIPT_MANAGE, trust),
        },
    )


def _receipt_initial(query: Any, currencies: list[str]) -> dict[str, Any]:
    """A receipt prefilled from the query string: the bank pages link a statement line here
    (``?received_on=&amount=&currency=&bank_reference=&memo=``). What does not parse is left
    out; the trustee still checks and submits the form."""
    initial: dict[str, Any] = {
        name: query[name][:300]
        for name in ("received_on", "bank_reference", "memo")
        if query.get(name)
    }
    currency = query.get("currency", "")
    if query.get("amount") and currency in currencies:
        with contextlib.suppress(InvalidOperation, ValueError):
            initial["amount"] = Money(Decimal(query["amount"]), currency)
    return initial


@login_required
def receipt_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A trustee records money that reached the trust's bank; it is shared out at once among
    what the payer owes (or left unallocated)."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.RECEIPT_MANAGE, trust):
        raise PermissionDenied("Trustees record receipts.")
    banks = _bank_accounts(trust)
    payers = list(trust.defendants.order_by("name"))
    currencies = [b.currency for b in banks] or [trust.base_currency]
    form = ReceiptForm(
        request.POST or None,
        initial=_receipt_initial(request.GET, currencies) if request.method == "GET" else None,
        currencies=currencies,
        payers=payers,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        bank = next((b for b in banks if b.currency == data["amount"].currency.code), None)
        try:
            if bank is None:
                raise ValidationError(
                    {"amount": f"The trust has no bank account in {data['amount'].currency}."}
                )
            receipt = receipt_record(
                trust=trust,
                actor=request.user,
                amount=data["amount"],
                received_on=data["received_on"],
                source=data["source"],
                bank_account=bank,
                idempotency_key=data["idempotency_key"],
                payer=next((d for d in payers if d.pk == data["payer"]), None),
                bank_reference=data["bank_reference"],
                memo=data["memo"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            line = request.GET.get("line", "")
            if line.isdigit() and receipt.entry_id:
                # Recorded from a bank statement line's page: that line is this money.
                line_match_recorded(
                    actor=request.user,
                    trust_id=trust.pk,
                    line_id=int(line),
                    entry_id=receipt.entry_id,
                )
            messages.success(
                request,
                f"Receipt of {format_money(receipt.amount)} recorded"
                + (
                    f"; {format_money(receipt.unallocated)} left unallocated."
                    if receipt.unallocated_minor
                    else ", shared out in full."
                ),
            )
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return render(
        request,
        "trust/receipt_new.html",
        {"trust": trust, "form": form},
        status=400 if form.errors else 200,
    )


def _receipt_page(request: HttpRequest, trust: Trust, receipt: Receipt, **forms: Any) -> Any:
    manage = can(request.user, Action.RECEIPT_MANAGE, trust)
    payers = list(trust.defendants.order_by("name"))
    context = {
        "trust": trust,
        "receipt": receipt,
        "allocations": receipt_allocations(receipt=receipt),
        "may_allocate": manage
        and receipt.status == Receipt.Status.POSTED
        and receipt.unallocated_minor > 0,
        "may_reverse": manage and receipt.status == Receipt.Status.POSTED,
        "allocate_form": AllocateForm(payers=payers),
        "reverse_form": ReverseForm(),
        **forms,
    }
    return render(request, "trust/receipt_detail.html", context, status=400 if forms else 200)


def _receipt_for(request: HttpRequest, trust_id: int, receipt_id: int) -> tuple[Trust, Receipt]:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    receipt = get_object_or_404(
        Receipt.objects.select_related("payer", "bank_account", "created_by"),
        trust=trust,
        pk=receipt_id,
    )
    return trust, receipt


@login_required
def receipt_detail(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    return _receipt_page(request, trust, receipt)


@login_required
@require_POST
def receipt_allocate_view(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    payers = list(trust.defendants.order_by("name"))
    form = AllocateForm(request.POST, payers=payers)
    if form.is_valid():
        try:
            receipt_allocate(
                receipt=receipt,
                actor=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
                payer=next((d for d in payers if d.pk == form.cleaned_data["payer"]), None),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            receipt.refresh_from_db()
            messages.success(
                request,
                "Allocated"
                + (
                    f"; {format_money(receipt.unallocated)} still unallocated."
                    if receipt.unallocated_minor
                    else " in full."
                ),
            )
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return _receipt_page(request, trust, receipt, allocate_form=form)


@login_required
@require_POST
def receipt_reverse_view(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            receipt_reverse(receipt=receipt, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Receipt reversed, with every allocation of it.")
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return _receipt_page(request, trust, receipt, reverse_form=form)


IMPORT_STASH = "receipt-import"


@login_required
def receipt_import(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A CSV of receipts: checked first (nothing written; what would be recorded, or the row and
    column of the error), then recorded whole or not at all. The file checked is kept in the
    session by its SHA-256, so what is recorded is exactly what was previewed."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.RECEIPT_MANAGE, trust):
        raise PermissionDenied("Trustees import receipts.")
    form = ImportForm(request.POST or None, request.FILES or None)
    preview = None
    digest = ""
    if request.method == "POST" and "record" in request.POST:
        stash = request.session.get(IMPORT_STASH) or {}
        if stash.get("trust") != trust.pk or stash.get("sha256") != request.POST.get("sha256"):
            messages.error(request, "Check the file again before recording it.")
            return redirect("receipt-import", trust_id=trust.pk)
        try:
            result = receipts_import(trust=trust, actor=request.user, rows=stash["text"])
        except ValidationError as error:
            form = ImportForm()
            add_service_errors(form, error)
        else:
            request.session.pop(IMPORT_STASH, None)
            if result.created:
                messages.success(request, f"{import_summary(result)}.")
            else:  # recorded already, perhaps by a run of the same file at the same moment
                messages.info(request, f"Nothing new was recorded: {import_summary(result)}.")
            return redirect("receipt-list", trust_id=trust.pk)
    elif request.method == "POST" and form.is_valid():
        content = form.cleaned_data["file"].read()
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text: save it as CSV UTF-8.")
        else:
            try:
                preview = receipts_import(trust=trust, actor=request.user, rows=text, dry_run=True)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                digest = hashlib.sha256(content).hexdigest()
                request.session[IMPORT_STASH] = {"trust": trust.pk, "sha256": digest, "text": text}
    return render(
        request,
        "trust/receipt_import.html",
        {
            "trust": trust,
            "form": form,
            "preview": preview,
            "summary": import_summary(preview) if preview else "",
            "sha256": digest,
        },
        status=400 if form.errors else 200,
    )
