"""A trust's disbursement policy (two approvals above a threshold, who bears fees) and its care-plan
budgets, set by its trustees.

Thin pages: they find things through ``trust.access`` (another partner's or trust's is "not
found"), parse a form, call one service and render; a refusal shows the service's message on the
form, with what was typed kept."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from disbursements.forms import (
    BudgetForm,
    FeeBearerForm,
    ThresholdForm,
    add_service_errors,
)
from disbursements.models import Budget
from disbursements.services import (
    budget_set,
    policy_for,
    policy_set_dual_approval,
    policy_set_fee_bearer,
)
from trust.access import (
    can,
    trust_for,
)
from trust.money import from_minor
from trust.roles import Action


def _policy_page(request: HttpRequest, trust: Any, **forms: Any) -> HttpResponse:
    base = trust.base_currency
    policy = policy_for(trust)
    budgets = (
        Budget.objects.filter(beneficiary__trust=trust)
        .select_related("beneficiary")
        .order_by(Length("beneficiary__pseudonym"), "beneficiary__pseudonym", "category")
    )
    context = {
        "trust": trust,
        "policy": policy,
        "threshold": from_minor(policy.dual_approval_minor, base),
        "page": Paginator(budgets, 50).get_page(request.GET.get("page")),
        "query": "",
        "threshold_form": ThresholdForm(
            currency=base, initial={"threshold": from_minor(policy.dual_approval_minor, base)}
        ),
        "fee_form": FeeBearerForm(initial={"bearer": policy.fees_charged_to}),
        "budget_form": BudgetForm(currency=base),
        **forms,
    }
    return render(request, "disbursements/policy.html", context, status=400 if forms else 200)


def _policy_trust(request: HttpRequest, trust_id: int) -> Any:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.PARTNER_MANAGE, trust):
        raise PermissionDenied("Trustees set approvals, fees and budgets.")
    return trust


@login_required
def trust_policy(request: HttpRequest, trust_id: int) -> HttpResponse:
    return _policy_page(request, _policy_trust(request, trust_id))


@login_required
@require_POST
def policy_threshold(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = _policy_trust(request, trust_id)
    form = ThresholdForm(request.POST, currency=trust.base_currency)
    if form.is_valid():
        try:
            policy_set_dual_approval(
                trust=trust, actor=request.user, threshold=form.cleaned_data["threshold"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Threshold recorded.")
            return redirect("trust-policy", trust_id=trust.pk)
    return _policy_page(request, trust, threshold_form=form)


@login_required
@require_POST
def policy_fees(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = _policy_trust(request, trust_id)
    form = FeeBearerForm(request.POST)
    if form.is_valid():
        try:
            policy_set_fee_bearer(
                trust=trust, actor=request.user, bearer=form.cleaned_data["bearer"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Who bears fees recorded, for payments from now on.")
            return redirect("trust-policy", trust_id=trust.pk)
    return _policy_page(request, trust, fee_form=form)


@login_required
@require_POST
def budget_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = _policy_trust(request, trust_id)
    form = BudgetForm(request.POST, currency=trust.base_currency)
    if form.is_valid():
        data = form.cleaned_data
        beneficiary = trust.beneficiaries.filter(pseudonym=data["pseudonym"].strip()).first()
        try:
            if beneficiary is None:
                raise ValidationError({"pseudonym": "No beneficiary with that pseudonym here."})
            budget_set(
                beneficiary=beneficiary,
                actor=request.user,
                category=data["category"],
                period_start=data["period_start"],
                period_end=data["period_end"],
                amount=data["amount"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Budget recorded for {beneficiary.pseudonym}.")
            return redirect("trust-policy", trust_id=trust.pk)
    return _policy_page(request, trust, budget_form=form)
