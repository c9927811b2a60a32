"""Care partners: the registry shared by the trusts (add, vet, payout details, caseworkers).

Thin pages: they find things through ``trust.access`` (another partner's or trust's is "not
found"), parse a form, call one service and render; a refusal shows the service's message on the
form, with what was typed kept."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from disbursements.forms import (
    CaseworkerForm,
    PartnerForm,
    PayoutForm,
    VetForm,
    add_service_errors,
)
from disbursements.models import CarePartner
from disbursements.services import (
    care_partner_create,
    care_partner_set_payout,
    care_partner_vet,
    caseworker_add,
    vetting_current,
)
from trust.access import (
    can,
    holds,
    object_for,
    visible_beneficiaries,
    visible_partners,
)
from trust.roles import TRUSTEE, Action


@login_required
def partners(request: HttpRequest) -> HttpResponse:
    found = (
        visible_partners(request.user)
        .annotate(children=Count("beneficiaries", distinct=True))
        .order_by("name")
    )
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "disbursements/partner_list.html",
        {"page": page, "query": "", "manage": holds(request.user, TRUSTEE)},
    )


@login_required
def partner_new(request: HttpRequest) -> HttpResponse:
    if not holds(request.user, TRUSTEE):
        raise PermissionDenied("Trustees record care partners.")
    form = PartnerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner = care_partner_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{partner.name} recorded: vet it before paying it.")
            return redirect("partner-detail", pk=partner.pk)
    return render(
        request,
        "disbursements/partner_new.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def _partner_page(request: HttpRequest, partner: Any, **forms: Any) -> HttpResponse:
    context = {
        "partner": partner,
        "manage": can(request.user, Action.PARTNER_MANAGE, partner),
        "caseworkers": partner.caseworkers.select_related("user").order_by("user__username"),
        "children": visible_beneficiaries(request.user)
        .filter(care_partner=partner)
        .select_related("trust")
        .order_by("trust__caption", "pseudonym")[:200],
        "vet_form": VetForm(
            initial={
                "status": partner.vetting_status,
                "vetted_on": partner.vetted_on,
                "expires_on": partner.vetting_expires_on,
            }
        ),
        "payout_form": PayoutForm(initial={"currency": partner.payout_currency}),
        "caseworker_form": CaseworkerForm(),
        "vetting_current": vetting_current(partner),
        **forms,
    }
    return render(
        request, "disbursements/partner_detail.html", context, status=400 if forms else 200
    )


def _partner_for(user: Any, pk: int) -> Any:
    return object_for(user, CarePartner, pk, Action.REQUEST_VIEW)


@login_required
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _partner_page(request, _partner_for(request.user, pk))


@login_required
@require_POST
def partner_vet(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner_for(request.user, pk)
    form = VetForm(request.POST)
    if form.is_valid():
        try:
            care_partner_vet(partner=partner, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Vetting recorded.")
            return redirect("partner-detail", pk=partner.pk)
    return _partner_page(request, partner, vet_form=form)


@login_required
@require_POST
def partner_payout(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner_for(request.user, pk)
    form = PayoutForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            care_partner_set_payout(
                partner=partner,
                actor=request.user,
                currency=data["currency"],
                details={"bank": data["bank"], "account_number": data["account_number"]},
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Payout details recorded, encrypted.")
            return redirect("partner-detail", pk=partner.pk)
    return _partner_page(request, partner, payout_form=form)


@login_required
@require_POST
def partner_caseworker_add(request: HttpRequest, pk: int) -> HttpResponse:
    partner = _partner_for(request.user, pk)
    form = CaseworkerForm(request.POST)
    if form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        try:
            if user is None:
                raise ValidationError({"username": "No user signs in with that name."})
            caseworker_add(partner=partner, user=user, actor=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{user.username} now works for {partner.name}.")
            return redirect("partner-detail", pk=partner.pk)
    return _partner_page(request, partner, caseworker_form=form)
