"""One statement line: what the bank says of it (the parts of a batch booking, a conversion), its
match with the ledger's entries and undoing it (with a reason), or, while it waits, the entries a
trustee may match it with by hand, an explanation, and links to record it through the existing
pages (a receipt, interest, a fee)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from trust.bank.forms import ExplainForm, MatchForm, UndoMatchForm
from trust.bank.models import BankMatch, StatementLine
from trust.bank.selectors.overview import (
    line_candidates,
    line_reconciled,
    lines_alongside,
    match_entries,
)
from trust.bank.services.matching import line_explain, lines_match, match_undo
from trust.bank.views.accounts import books_of, managing, may_manage
from trust.forms import add_service_errors
from trust.models import Trust
from trust.money import from_minor

# The interest and fee pages (trust/bank/urls_charges.py) take the line in the query string:
# interest for money in, a fee for money out.
CHARGE_PAGES = (("interest", "bank_interest_new", 1), ("fee", "bank_fee_new", -1))


def _line_of(trust: Trust, line_id: int) -> StatementLine:
    return get_object_or_404(
        StatementLine.objects.select_related("bank_account__account", "statement", "match"),
        pk=line_id,
        trust=trust,
    )


def _record_links(trust: Trust, line: StatementLine) -> dict[str, str]:
    """Where the line can be recorded as what it is, prefilled from it."""
    links: dict[str, str] = {}
    if line.amount_minor > 0:
        amount = from_minor(line.amount_minor, line.currency)
        query = {
            "received_on": line.booking_date.isoformat(),
            "amount": f"{amount.amount:f}",
            "currency": line.currency,
            "bank_reference": line.bank_reference or line.reference,
            "memo": " ".join(t for t in (line.counterparty, line.description) if t)[:300],
            "line": line.pk,
        }
        links["receipt"] = reverse("receipt-new", args=[trust.pk]) + "?" + urlencode(query)
    for what, name, sign in CHARGE_PAGES:
        if line.amount_minor * sign <= 0:
            continue
        try:
            url = reverse(name, kwargs={"trust_id": trust.pk})
        except NoReverseMatch:
            continue
        links[what] = f"{url}?{urlencode({'line': line.pk})}"
    return links


def _page(request: HttpRequest, trust: Trust, line: StatementLine, **forms: Any) -> HttpResponse:
    manage = may_manage(request, trust)
    waiting = line.state != StatementLine.State.MATCHED
    entries = line_candidates(line=line) if waiting else []
    alongside = list(lines_alongside(line=line)[:50]) if waiting else []
    match_lines: list[StatementLine] = []
    if line.match_id:
        match_lines = list(
            StatementLine.objects.filter(match_id=line.match_id).order_by("booking_date", "pk")
        )
    context = {
        "trust": trust,
        "bank": line.bank_account,
        "line": line,
        "currency": line.currency,
        "match": line.match,
        "match_entries": match_entries(match=line.match) if line.match_id else [],
        "match_lines": match_lines,
        "candidates": entries,
        "alongside": alongside,
        "reconciled": line_reconciled(line=line),
        "may_manage": manage,
        "links": _record_links(trust, line) if manage and waiting else {},
        "match_form": forms.get("match_form")
        or MatchForm(entries=entries, lines=alongside, prefix="match"),
        "explain_form": forms.get("explain_form")
        or ExplainForm(initial={"explanation": line.explanation}, prefix="explain"),
        "undo_form": forms.get("undo_form") or UndoMatchForm(prefix="undo"),
    }
    return render(request, "trust/bank/line.html", context, status=400 if forms else 200)


@login_required
def line_view(request: HttpRequest, trust_id: int, line_id: int) -> HttpResponse:
    trust = books_of(request, trust_id)
    return _page(request, trust, _line_of(trust, line_id))


@login_required
@require_POST
def line_match_view(request: HttpRequest, trust_id: int, line_id: int) -> HttpResponse:
    trust = managing(request, trust_id)
    line = _line_of(trust, line_id)
    entries = line_candidates(line=line)
    alongside = list(lines_alongside(line=line)[:50])
    form = MatchForm(request.POST, entries=entries, lines=alongside, prefix="match")
    if form.is_valid():
        data = form.cleaned_data
        try:
            lines_match(
                actor=request.user,
                bank=line.bank_account,
                line_ids=[line.pk, *data["lines"]],
                entry_ids=data["entries"],
                note=data["note"],
                reason=data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Matched by hand.")
            return redirect("bank-line", trust_id=trust.pk, line_id=line.pk)
    return _page(request, trust, line, match_form=form)


@login_required
@require_POST
def line_explain_view(request: HttpRequest, trust_id: int, line_id: int) -> HttpResponse:
    trust = managing(request, trust_id)
    line = _line_of(trust, line_id)
    form = ExplainForm(request.POST, prefix="explain")
    if form.is_valid():
        try:
            line_explain(
                actor=request.user, line=line, explanation=form.cleaned_data["explanation"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Explanation recorded.")
            return redirect("bank-line", trust_id=trust.pk, line_id=line.pk)
    return _page(request, trust, line, explain_form=form)


@login_required
@require_POST
def match_undo_view(request: HttpRequest, trust_id: int, match_id: int) -> HttpResponse:
    trust = managing(request, trust_id)
    match = get_object_or_404(
        BankMatch.objects.select_related("bank_account__trust"), pk=match_id, trust=trust
    )
    first = StatementLine.objects.filter(match=match).order_by("pk").first()
    form = UndoMatchForm(request.POST, prefix="undo")
    if form.is_valid():
        try:
            match_undo(actor=request.user, match=match, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Match undone: its lines wait for a match again.")
            if first is None:
                return redirect("bank-account", trust_id=trust.pk, bank_id=match.bank_account_id)
            return redirect("bank-line", trust_id=trust.pk, line_id=first.pk)
    if first is None:
        for message in [*form.non_field_errors(), *form.errors.get("reason", [])]:
            messages.error(request, message)
        return redirect("bank-account", trust_id=trust.pk, bank_id=match.bank_account_id)
    first = _line_of(trust, first.pk)
    return _page(request, trust, first, undo_form=form)
