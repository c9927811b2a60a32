"""Interest and fees: the list, recording interest or charging a fee (previewed first, then
recorded exactly as previewed), and a charge with its schedule, child by child.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector, and
render. Readers of the books (trustees, auditors) see them; only trustees write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from trust.access import can, trust_for
from trust.bank.forms_charges import FeeForm, InterestForm
from trust.bank.models import SharedCharge
from trust.bank.selectors.charges import (
    Schedule,
    charge_list,
    charge_schedule,
    fee_schedule,
    interest_schedule,
)
from trust.bank.services.charges import fee_charge, interest_allocate
from trust.forms import add_service_errors
from trust.models import Account, Trust
from trust.money import format_money, from_minor
from trust.roles import Action
from trust.services.amounts import positive_minor

PREVIEW_ROWS = 200  # a preview lists this many children; the totals cover all of them


def _amount(charge: SharedCharge) -> str:
    return format_money(from_minor(charge.amount_minor, charge.currency))


def _banks(trust: Trust) -> list[Account]:
    return list(trust.accounts.filter(role=Account.Role.BANK).order_by("code"))


def _manager(request: HttpRequest, trust_id: int) -> Trust:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.BANK_MANAGE, trust):
        raise PermissionDenied("Trustees record interest and charge fees.")
    return trust


@login_required
def charges_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    page = Paginator(charge_list(trust=trust), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/bank/charge_list.html",
        {
            "trust": trust,
            "page": page,
            "query": "",
            "may_manage": can(request.user, Action.BANK_MANAGE, trust),
        },
    )


def _form_page(
    request: HttpRequest,
    trust: Trust,
    form: Any,
    *,
    title: str,
    schedule: Schedule | None = None,
) -> HttpResponse:
    return render(
        request,
        "trust/bank/charge_form.html",
        {
            "trust": trust,
            "form": form,
            "title": title,
            "interest": isinstance(form, InterestForm),
            "schedule": schedule,
            "rows": schedule.rows[:PREVIEW_ROWS] if schedule else [],
            "more": max(len(schedule.rows) - PREVIEW_ROWS, 0) if schedule else 0,
        },
        status=400 if form.errors else 200,
    )


def _confirmed(request: HttpRequest, form: Any) -> bool:
    """Whether the trustee pressed "record" on the very details previewed; if they changed them,
    the preview is shown again."""
    if request.POST.get("action") != "confirm":
        return False
    if form.cleaned_data.get("previewed") == form.digest():
        return True
    messages.info(request, "The details changed since the preview: check the schedule again.")
    return False


def _previewed(form: Any) -> None:
    data = form.data.copy()
    data["previewed"] = form.digest()
    form.data = data


@login_required
def interest_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A trustee records interest the bank credited: previewed as a schedule (each child's average
    daily balance and share), then recorded as one entry."""
    trust = _manager(request, trust_id)
    title = "Record interest"
    form = InterestForm(request.POST or None, banks=_banks(trust))
    if request.method != "POST" or not form.is_valid():
        return _form_page(request, trust, form, title=title)
    data = form.cleaned_data
    bank = form.bank(data["bank_account"])
    if _confirmed(request, form):
        try:
            charge = interest_allocate(
                actor=request.user,
                trust=trust,
                bank_account=bank,
                amount=data["amount"],
                period_start=data["period_start"],
                period_end=data["period_end"],
                effective_date=data["effective_date"],
                idempotency_key=data["idempotency_key"],
                description=data["description"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return _form_page(request, trust, form, title=title)
        messages.success(request, f"Interest of {_amount(charge)} recorded.")
        return redirect("bank_charge_detail", trust_id=trust.pk, charge_id=charge.pk)
    try:
        schedule = interest_schedule(
            trust=trust,
            currency=data["amount"].currency.code,
            amount_minor=positive_minor(data["amount"], "amount"),
            period_start=data["period_start"],
            period_end=data["period_end"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _form_page(request, trust, form, title=title)
    _previewed(form)
    return _form_page(request, trust, form, title=title, schedule=schedule)


@login_required
def fee_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A trustee charges a fee or expense: previewed as a schedule (each child's balance, what is
    reserved, and share), then recorded as one entry."""
    trust = _manager(request, trust_id)
    title = "Charge a fee or expense"
    form = FeeForm(request.POST or None, banks=_banks(trust), default_rule=trust.charge_sharing)
    if request.method != "POST" or not form.is_valid():
        return _form_page(request, trust, form, title=title)
    data = form.cleaned_data
    rule = data["rule"] or trust.charge_sharing
    try:
        if _confirmed(request, form):
            charge = fee_charge(
                actor=request.user,
                trust=trust,
                kind=data["kind"],
                amount=data["amount"],
                effective_date=data["effective_date"],
                order_reference=data["order_reference"],
                description=data["description"],
                pay_from=form.bank(data["pay_from"]),
                rule=rule,
                idempotency_key=data["idempotency_key"],
            )
            messages.success(request, f"{charge.get_kind_display()} of {_amount(charge)} charged.")
            return redirect("bank_charge_detail", trust_id=trust.pk, charge_id=charge.pk)
        schedule = fee_schedule(
            trust=trust,
            kind=data["kind"],
            rule=rule,
            currency=data["amount"].currency.code,
            amount_minor=positive_minor(data["amount"], "amount"),
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _form_page(request, trust, form, title=title)
    _previewed(form)
    return _form_page(request, trust, form, title=title, schedule=schedule)


@login_required
def charge_detail(request: HttpRequest, trust_id: int, charge_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    charge = get_object_or_404(
        SharedCharge.objects.select_related("created_by", "line"), trust=trust, pk=charge_id
    )
    schedule = charge_schedule(charge=charge)
    page = Paginator(schedule.rows, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/bank/charge_detail.html",
        {"trust": trust, "charge": charge, "schedule": schedule, "page": page, "query": ""},
    )
