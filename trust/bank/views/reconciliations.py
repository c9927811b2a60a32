"""Three-way reconciliation: choose a statement, see the bank, the ledger's bank account and the
trust identity side by side with every reconciling item, and sign it off; a signed-off
reconciliation shows the figures as signed, what drifted and what changed since."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from trust.bank.forms import SignOffForm
from trust.bank.models import BankStatement, Reconciliation
from trust.bank.selectors.overview import figures_signed, statement_reconciliations
from trust.bank.selectors.reconciliation import (
    reconciliation_document,
    reconciliation_drift,
    reconciliation_figures,
    statements_with_balances,
)
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.views.accounts import bank_of, books_of, managing, may_manage
from trust.forms import add_service_errors
from trust.models import Trust

# The reports app's PDF of a signed-off reconciliation, when it has one (report kind
# "bank_reconciliation"); the page links it by this URL name and the reconciliation's id.

DRIFT_LABELS = {
    "bank_closing_minor": "Bank's closing balance",
    "adjusted_bank_minor": "Adjusted bank balance",
    "ledger_bank_minor": "Ledger's bank account",
    "deposits_in_transit_minor": "Deposits in transit",
    "outstanding_payments_minor": "Outstanding payments",
    "bank_items_minor": "On the statement, not in the ledger",
    "held_minor": "Held in all",
    "cash_minor": "Cash in all bank accounts",
    "unexplained_minor": "Unexplained difference",
}


@login_required
def reconcile_view(request: HttpRequest, trust_id: int, bank_id: int) -> HttpResponse:
    """The account's statements with balances, to choose one to reconcile on, and its
    reconciliations signed off."""
    trust = books_of(request, trust_id)
    bank = bank_of(trust, bank_id)
    statements = list(statements_with_balances(bank=bank).order_by("-to_date", "-id"))
    reconciliations = list(
        Reconciliation.objects.filter(bank_account=bank)
        .exclude(status=Reconciliation.Status.DRAFT)
        .select_related("signed_off_by", "statement")
        .order_by("-as_of", "-id")
    )
    return render(
        request,
        "trust/bank/reconcile.html",
        {
            "trust": trust,
            "bank": bank,
            "currency": bank.account.currency,
            "statements": statements,
            "reconciliations": reconciliations,
        },
    )


def _statement_of(trust: Trust, statement_id: int) -> BankStatement:
    return get_object_or_404(
        BankStatement.objects.select_related("bank_account__account", "bank_account__trust"),
        pk=statement_id,
        trust=trust,
    )


def _statement_page(
    request: HttpRequest, trust: Trust, statement: BankStatement, form: SignOffForm | None = None
) -> HttpResponse:
    bank = statement.bank_account
    figures = None
    problem = ""
    try:
        figures = reconciliation_figures(bank=bank, statement=statement)
    except ValidationError as error:
        problem = " ".join(error.messages)
    context: dict[str, Any] = {
        "trust": trust,
        "bank": bank,
        "statement": statement,
        "currency": bank.account.currency,
        "figures": figures,
        "problem": problem,
        "signed": list(statement_reconciliations(statement=statement)),
        "may_manage": may_manage(request, trust),
        "form": form or SignOffForm(),
        "draft": True,
    }
    return render(request, "trust/bank/reconciliation.html", context, status=400 if form else 200)


@login_required
def statement_reconcile_view(
    request: HttpRequest, trust_id: int, statement_id: int
) -> HttpResponse:
    trust = books_of(request, trust_id)
    return _statement_page(request, trust, _statement_of(trust, statement_id))


@login_required
@require_POST
def sign_off_view(request: HttpRequest, trust_id: int, statement_id: int) -> HttpResponse:
    trust = managing(request, trust_id)
    statement = _statement_of(trust, statement_id)
    form = SignOffForm(request.POST)
    if form.is_valid():
        try:
            rec = reconciliation_sign_off(
                actor=request.user,
                bank=statement.bank_account,
                statement=statement,
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Reconciliation on {rec.as_of:%Y-%m-%d} signed off.")
            return redirect("bank-reconciliation", trust_id=trust.pk, reconciliation_id=rec.pk)
    return _statement_page(request, trust, statement, form)


@login_required
def reconciliation_view(
    request: HttpRequest, trust_id: int, reconciliation_id: int
) -> HttpResponse:
    """A reconciliation as it was signed off, and how the books differ from it today."""
    trust = books_of(request, trust_id)
    rec = get_object_or_404(
        Reconciliation.objects.select_related(
            "bank_account__account", "bank_account__trust", "statement", "signed_off_by"
        ),
        pk=reconciliation_id,
        trust=trust,
    )
    drift: list[dict[str, Any]] = []
    drift_problem = ""
    try:
        drift = [
            {
                "label": DRIFT_LABELS.get(d.field, d.field),
                "signed_minor": d.signed_minor,
                "now_minor": d.now_minor,
            }
            for d in reconciliation_drift(reconciliation=rec)
        ]
    except ValidationError as error:
        drift_problem = " ".join(error.messages)
    pdf = reconciliation_document(reconciliation=rec, user=request.user)
    return render(
        request,
        "trust/bank/reconciliation.html",
        {
            "trust": trust,
            "bank": rec.bank_account,
            "statement": rec.statement,
            "currency": rec.bank_account.account.currency,
            "rec": rec,
            "figures": figures_signed(reconciliation=rec),
            "drift": drift,
            "drift_problem": drift_problem,
            "changes": list(rec.changes.select_related("by").order_by("at", "id")),
            "pdf": pdf,
            "draft": False,
        },
    )
