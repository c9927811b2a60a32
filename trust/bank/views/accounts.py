"""The trust's bank accounts: each ledger bank account with its bank details, and one account with
its imports, its statements and its lines (filtered by state, searched, 50 a page).

Thin pages: ``trust.access`` says who may see the trust's books (trustees and auditors; anyone
else finds nothing) and who may change them (trustees: others are refused, and are shown no form);
one service or selector acts. Every bank object is fetched by id within the trust."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from trust.access import can, trust_for
from trust.bank.forms import BankDetailsForm, LineFilterForm
from trust.bank.models import BankAccount
from trust.bank.selectors.overview import (
    bank_account_rows,
    bank_imports,
    bank_statements,
    last_statement,
)
from trust.bank.selectors.reconciliation import latest_signed_off, statement_lines
from trust.bank.services.matching import auto_match
from trust.bank.services.statements import bank_account_set
from trust.forms import add_service_errors
from trust.models import Account, Trust
from trust.roles import Action

LINES_PER_PAGE = 50


def books_of(request: HttpRequest, trust_id: int) -> Trust:
    """The trust, if the user reads its books (else 404)."""
    return trust_for(request.user, trust_id, Action.LEDGER_VIEW)


def may_manage(request: HttpRequest, trust: Trust) -> bool:
    return can(request.user, Action.BANK_MANAGE, trust)


def managing(request: HttpRequest, trust_id: int) -> Trust:
    """The trust, if the user reads its books (else 404) and is its trustee (else 403)."""
    trust = books_of(request, trust_id)
    if not may_manage(request, trust):
        raise PermissionDenied("Only a trustee of this trust manages its bank accounts.")
    return trust


def bank_of(trust: Trust, bank_id: int) -> BankAccount:
    return get_object_or_404(
        BankAccount.objects.select_related("account", "trust"), pk=bank_id, trust=trust
    )


@login_required
def accounts_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = books_of(request, trust_id)
    return render(
        request,
        "trust/bank/accounts.html",
        {
            "trust": trust,
            "rows": bank_account_rows(trust=trust),
            "may_manage": may_manage(request, trust),
        },
    )


@login_required
def bank_details_view(request: HttpRequest, trust_id: int, account_id: int) -> HttpResponse:
    """Set or change which account at which bank a ledger bank account is."""
    trust = managing(request, trust_id)
    account = get_object_or_404(Account, pk=account_id, trust=trust, role=Account.Role.BANK)
    bank = BankAccount.objects.filter(account=account).first()
    initial = (
        {
            "number": bank.number,
            "bank_name": bank.bank_name,
            "match_window_days": bank.match_window_days,
        }
        if bank
        else {}
    )
    form = BankDetailsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = bank_account_set(
                actor=request.user,
                account=account,
                number=data["number"],
                bank_name=data["bank_name"],
                match_window_days=data["match_window_days"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Bank details of {account.code} saved: {saved}.")
            return redirect("bank-account", trust_id=trust.pk, bank_id=saved.pk)
    return render(
        request,
        "trust/bank/details.html",
        {"trust": trust, "account": account, "bank": bank, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
def bank_account_view(request: HttpRequest, trust_id: int, bank_id: int) -> HttpResponse:
    trust = books_of(request, trust_id)
    bank = bank_of(trust, bank_id)
    filters = LineFilterForm(request.GET or None)
    state = search = ""
    if filters.is_valid():
        state = filters.cleaned_data["state"]
        search = filters.cleaned_data["q"].replace("\x00", "").strip()
    page = Paginator(statement_lines(bank=bank, state=state, search=search), LINES_PER_PAGE)
    lines = page.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        "trust": trust,
        "bank": bank,
        "currency": bank.account.currency,
        "imports": list(bank_imports(bank=bank)[:20]),
        "statements": list(bank_statements(bank=bank)[:50]),
        "last_statement": last_statement(bank=bank),
        "signed_off": latest_signed_off(bank=bank),
        "filters": filters,
        "page": lines,
        "query": query.urlencode(),
        "may_manage": may_manage(request, trust),
    }
    return render(request, "trust/bank/account.html", context)


@login_required
@require_POST
def auto_match_view(request: HttpRequest, trust_id: int, bank_id: int) -> HttpResponse:
    """Match the account's waiting lines with the ledger again (after receipts were recorded)."""
    trust = managing(request, trust_id)
    bank = bank_of(trust, bank_id)
    try:
        matched = auto_match(actor=request.user, bank=bank)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"{matched} line(s) matched with the ledger.")
    return redirect("bank-account", trust_id=trust.pk, bank_id=bank.pk)
