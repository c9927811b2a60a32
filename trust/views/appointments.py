"""Appointments: who holds which role in a trust, for its administrators.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from trust.access import (
    trust_for,
)
from trust.forms import (
    AppointmentForm,
    EndAppointmentForm,
    add_service_errors,
)
from trust.models import (
    Appointment,
    Trust,
)
from trust.roles import LABELS, Action
from trust.services.appointments import appointment_create, appointment_end


def _end_form(appointment: Appointment, data: Any = None) -> EndAppointmentForm:
    """One form per row, each with its own field ids."""
    return EndAppointmentForm(
        data,
        prefix=f"end-{appointment.pk}",
        initial={"ends_on": timezone.localdate()},
    )


def _appointments_page(
    request: HttpRequest, trust: Trust, failed: EndAppointmentForm | None = None, **forms: Any
) -> HttpResponse:
    today = timezone.localdate()
    rows = []
    for appointment in (
        Appointment.objects.filter(trust=trust)
        .select_related("user", "created_by")
        .order_by("role", "-starts_on", "pk")
    ):
        open_ = appointment.ends_on is None or appointment.ends_on >= today
        form = failed if failed is not None and failed.prefix == f"end-{appointment.pk}" else None
        rows.append((appointment, (form or _end_form(appointment)) if open_ else None))
    context = {"trust": trust, "rows": rows, "form": AppointmentForm(), **forms}
    refused = failed is not None or bool(forms)
    return render(request, "trust/appointments.html", context, status=400 if refused else 200)


@login_required
def appointments_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.APPOINTMENT_MANAGE)
    if request.method != "POST":
        return _appointments_page(request, trust)
    form = AppointmentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        user = get_user_model().objects.filter(username=data["username"]).first()
        try:
            if user is None:
                raise ValidationError({"username": "No user signs in with that name."})
            appointment_create(
                trust=trust,
                user=user,
                role=data["role"],
                actor=request.user,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                reference=data["reference"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{user.username} appointed {LABELS[data['role']].lower()}.")
            return redirect("appointments", trust_id=trust.pk)
    return _appointments_page(request, trust, form=form)


@login_required
@require_POST
def appointment_end_view(request: HttpRequest, trust_id: int, appointment_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.APPOINTMENT_MANAGE)
    appointment = get_object_or_404(Appointment, trust=trust, pk=appointment_id)
    form = _end_form(appointment, request.POST)
    if form.is_valid():
        try:
            appointment_end(
                appointment=appointment,
                actor=request.user,
                ends_on=form.cleaned_data["ends_on"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "The appointment ends on that day.")
            return redirect("appointments", trust_id=trust.pk)
    return _appointments_page(request, trust, failed=form)
