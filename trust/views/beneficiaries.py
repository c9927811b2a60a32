"""Beneficiaries: adding, changing and placing them, their sub-ledger's history, identifying
details recorded encrypted and revealed only with a recorded purpose, and the log of who saw the
child (each view of the page is a line of it).

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trust.access import (
    can,
    object_for,
    trust_for,
)
from trust.audit.selectors import child_view_list, child_view_people, child_view_rows
from trust.forms import (
    BeneficiaryForm,
    ChildViewFilterForm,
    IdentityForm,
    RevealForm,
    add_service_errors,
)
from trust.models import (
    Account,
    Beneficiary,
    BeneficiaryIdentity,
    Erasure,
    Trust,
)
from trust.roles import Action
from trust.selectors import (
    balance_history,
)
from trust.services.child_views import child_view_record
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    beneficiary_update,
)
from trust.twofactor import require_fresh


def _partners() -> list[Any]:
    """The registry of care partners (a model of the disbursements app, above this one: named
    through the app registry, never imported)."""
    return list(apps.get_model("disbursements", "CarePartner").objects.order_by("name"))


@login_required
def beneficiary_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.BENEFICIARY_MANAGE, trust):
        raise PermissionDenied("Trustees add beneficiaries.")
    partners = _partners()
    form = BeneficiaryForm(request.POST or None, partners=partners)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            beneficiary = beneficiary_create(
                trust=trust,
                actor=request.user,
                pseudonym=data["pseudonym"],
                kind=data["kind"],
                date_of_birth=data["date_of_birth"],
                country=data["country"],
                care_partner=next((p for p in partners if p.pk == data["care_partner"]), None),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{beneficiary.pseudonym} added, with a sub-ledger.")
            return redirect("beneficiary-detail", trust_id=trust.pk, beneficiary_id=beneficiary.pk)
    return render(
        request,
        "trust/beneficiary_form.html",
        {"trust": trust, "form": form, "title": "Add a beneficiary"},
        status=400 if form.errors else 200,
    )


def _beneficiary_for(
    request: HttpRequest, trust_id: int, beneficiary_id: int
) -> tuple[Trust, Beneficiary]:
    trust = trust_for(request.user, trust_id)
    beneficiary = object_for(request.user, Beneficiary, None, trust_id=trust.pk, id=beneficiary_id)
    return trust, beneficiary


def _beneficiary_page(
    request: HttpRequest, trust: Trust, beneficiary: Beneficiary, **extra: Any
) -> HttpResponse:
    user = request.user
    manage = can(user, Action.BENEFICIARY_MANAGE, beneficiary)
    partners = _partners() if manage else []
    sub_ledger = beneficiary.accounts.filter(role=Account.Role.SUB_LEDGER).first()
    context = {
        "trust": trust,
        "beneficiary": beneficiary,
        "sub_ledger": sub_ledger,
        "history": balance_history(account=sub_ledger) if sub_ledger else [],
        "books": can(user, Action.LEDGER_VIEW, trust),
        "manage": manage,
        "may_reveal": can(user, Action.IDENTITY_REVEAL, beneficiary),
        "may_view_log": can(user, Action.VIEW_LOG, beneficiary),
        "has_identity": BeneficiaryIdentity.objects.filter(beneficiary=beneficiary).exists(),
        # Erased (two trustees, trust.services.erasure): no reveal, no new details.
        "erasure": beneficiary.erasures.filter(status=Erasure.Status.DONE)
        .select_related("proposed_by", "decided_by")
        .first()
        if beneficiary.erased
        else None,
        "edit_form": BeneficiaryForm(
            partners=partners,
            editing=True,
            initial={"country": beneficiary.country, "care_partner": beneficiary.care_partner_id},
        )
        if manage
        else None,
        "identity_form": IdentityForm() if manage else None,
        "reveal_form": RevealForm(),
        "revealed": None,
        **extra,
    }
    status = 400 if any(getattr(f, "errors", None) for f in extra.values()) else 200
    response = render(request, "trust/beneficiary_detail.html", context, status=status)
    if context["revealed"]:
        response["Cache-Control"] = "private, no-store"
    return response


@login_required
def beneficiary_detail(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    trust, beneficiary = _beneficiary_for(request, trust_id, beneficiary_id)
    child_view_record(beneficiary=beneficiary, actor=request.user, what="page")
    return _beneficiary_page(request, trust, beneficiary)


@login_required
def beneficiary_views(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    """Who saw this child: every recorded view of the child's page, sub-ledger, statements,
    documents and identity, newest first, by person and dates. Trustees and auditors (403 for
    anyone else who may see the child); reading it is not a view of the child."""
    trust, beneficiary = _beneficiary_for(request, trust_id, beneficiary_id)
    if not can(request.user, Action.VIEW_LOG, beneficiary):
        raise PermissionDenied("The trust's trustees and auditors see who saw a child.")
    form = ChildViewFilterForm(request.GET)
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        "trust": trust,
        "beneficiary": beneficiary,
        "form": form,
        "people": child_view_people(beneficiary=beneficiary),
        "query": query.urlencode(),
    }
    if form.is_valid():
        filters = form.cleaned_data
        views = child_view_list(
            beneficiary=beneficiary,
            trust=trust,
            person=filters["person"],
            since=filters["since"],
            until=filters["until"],
        )
        page = Paginator(views, 50).get_page(request.GET.get("page"))
        context |= {
            "page": page,
            "rows": child_view_rows(page.object_list, trust=trust),
            "filtered": any(filters.values()),
        }
    # A filter that is not understood is refused (400), saying why; the live filter (htmx) gets
    # the same answer as 200, since htmx swaps no 4xx answer in and would leave stale rows.
    refused = not form.is_valid() and not getattr(request, "htmx", False)
    response = render(
        request, "trust/beneficiary_views.html", context, status=400 if refused else 200
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def beneficiary_edit(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    trust, beneficiary = _beneficiary_for(request, trust_id, beneficiary_id)
    partners = _partners()
    form = BeneficiaryForm(request.POST, partners=partners, editing=True)
    if form.is_valid():
        data = form.cleaned_data
        partner = next((p for p in partners if p.pk == data["care_partner"]), None)
        try:
            beneficiary_update(
                beneficiary=beneficiary,
                actor=request.user,
                country=data["country"],
                care_partner=partner,
                clear_care_partner=partner is None,
                date_of_birth=data["date_of_birth"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{beneficiary.pseudonym} updated.")
            return redirect("beneficiary-detail", trust_id=trust.pk, beneficiary_id=beneficiary.pk)
    return _beneficiary_page(request, trust, beneficiary, edit_form=form)


@login_required
@require_POST
def beneficiary_identity(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    """Record (or replace) the identifying details, encrypted; the page never shows them back."""
    trust, beneficiary = _beneficiary_for(request, trust_id, beneficiary_id)
    form = IdentityForm(request.POST)
    if form.is_valid():
        try:
            beneficiary_identity_set(
                beneficiary=beneficiary,
                actor=request.user,
                legal_name=form.cleaned_data["legal_name"],
                guardian_contact=form.cleaned_data["guardian_contact"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Identifying details recorded, encrypted.")
            return redirect("beneficiary-detail", trust_id=trust.pk, beneficiary_id=beneficiary.pk)
    return _beneficiary_page(request, trust, beneficiary, identity_form=form)


@login_required
@require_POST
def beneficiary_reveal(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    """Show the identifying details once, in this response only (never in a URL, never cached),
    after recording who asked, when and why."""
    trust, beneficiary = _beneficiary_for(request, trust_id, beneficiary_id)
    if (again := require_fresh(request)) is not None:
        return again  # a second factor older than 15 minutes: give it again first
    form = RevealForm(request.POST)
    revealed = None
    if form.is_valid():
        try:
            revealed = beneficiary_identity_reveal(
                beneficiary=beneficiary, actor=request.user, purpose=form.cleaned_data["purpose"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
    return _beneficiary_page(request, trust, beneficiary, reveal_form=form, revealed=revealed or {})
