"""Enrolling an authenticator app (a QR code, then a code from the app, then recovery codes shown
once) and giving the second factor after the password, or again before an act that needs it
fresh. The rules are in ``trust.twofactor``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from trust.forms import add_service_errors
from trust.twofactor import (
    enrolment_confirm,
    enrolment_start,
    needs_second_factor,
    qr_svg,
    secret_text,
    verify,
)


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=20,
        label="Code",
        help_text="The six digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return "/"
    return target


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # a key or recovery codes are on the page
    return response


@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Enrol (or replace) the authenticator app. Replacing needs the current one first: a
    password alone (a stolen one) must not be able to swap the owner's authenticator for its own."""
    if user_has_device(request.user) and not request.user.is_verified():
        return redirect(f"/account/two-factor/verify/?next={_next(request)}")
    if request.method == "POST":
        device = TOTPDevice.objects.filter(
            user=request.user, confirmed=False, pk=request.POST.get("device", "0") or 0
        ).first()
        form = CodeForm(request.POST)
        if device is not None and form.is_valid():
            try:
                codes = enrolment_confirm(
                    request=request, device=device, code=form.cleaned_data["code"]
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Your authenticator app is set up.")
                return _no_store(
                    render(
                        request,
                        "trust/second_factor_codes.html",
                        {"codes": codes, "next": _next(request)},
                    )
                )
        if device is None:
            form.add_error(None, "Start again: scan the new code below.")
            device = enrolment_start(user=request.user)
    else:
        form = CodeForm()
        device = enrolment_start(user=request.user)
    context = {
        "form": form,
        "device": device,
        "qr": qr_svg(device, request.user),
        "secret": secret_text(device),
        "next": _next(request),
        "replacing": user_has_device(request.user),
        "required": needs_second_factor(request.user),
    }
    return _no_store(
        render(
            request, "trust/second_factor_setup.html", context, status=400 if form.errors else 200
        )
    )


@login_required
def verify_view(request: HttpRequest) -> HttpResponse:
    """Give the second factor: after the password, or again before an act that needs it fresh."""
    if not user_has_device(request.user):
        return redirect(f"/account/two-factor/setup/?next={_next(request)}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verify(request=request, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect(_next(request))
    return _no_store(
        render(
            request,
            "trust/second_factor_verify.html",
            {"form": form, "next": _next(request), "fresh": request.GET.get("fresh") == "1"},
            status=400 if form.errors else 200,
        )
    )
