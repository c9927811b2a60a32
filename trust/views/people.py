"""Defendants and people implicated in the case.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trust.access import (
    can,
    trust_for,
)
from trust.forms import (
    DefendantForm,
    ImplicatedForm,
    add_service_errors,
)
from trust.models import (
    ImplicatedPerson,
    Trust,
)
from trust.roles import Action
from trust.services.people import (
    defendant_create,
    implicated_person_add,
)


def _people_page(request: HttpRequest, trust: Trust, **forms: Any) -> HttpResponse:
    context = {
        "trust": trust,
        "defendants": trust.defendants.order_by("name"),
        "implicated": ImplicatedPerson.objects.filter(trust=trust).order_by("reference"),
        "manage": can(request.user, Action.ORDER_MANAGE, trust),
        "defendant_form": DefendantForm(),
        "implicated_form": ImplicatedForm(),
        **forms,
    }
    return render(request, "trust/people.html", context, status=400 if forms else 200)


@login_required
def people_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    return _people_page(request, trust_for(request.user, trust_id, Action.LEDGER_VIEW))


@login_required
@require_POST
def defendant_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    form = DefendantForm(request.POST)
    if form.is_valid():
        try:
            defendant_create(trust=trust, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['name']} recorded as a defendant.")
            return redirect("people", trust_id=trust.pk)
    return _people_page(request, trust, defendant_form=form)


@login_required
@require_POST
def implicated_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    form = ImplicatedForm(request.POST)
    if form.is_valid():
        try:
            implicated_person_add(trust=trust, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"{form.cleaned_data['reference']} recorded: never to be paid."
            )
            return redirect("people", trust_id=trust.pk)
    return _people_page(request, trust, implicated_form=form)
