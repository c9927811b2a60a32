"""The end of a trust (DOMAIN.md rule 17): closing it for good once every account is settled, and
erasing the children's identifying data after the retention period, by two trustees.

Thin pages: they ask ``trust.access`` what the user may see, call one service, and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trust.access import can, object_for, trust_for
from trust.forms import ErasureProposeForm, TrustCloseForm, add_service_errors
from trust.models import Beneficiary, Erasure, Trust
from trust.roles import Action
from trust.services.closing import trust_close, trust_closing_blockers, trust_today
from trust.services.erasure import (
    erasure_confirm,
    erasure_propose,
    erasure_withdraw,
    retention_ends,
    retention_refusal,
)
from trust.twofactor import require_fresh


def _manager_of(request: HttpRequest, trust_id: int, action: Action, refusal: str) -> Trust:
    """The trust, for a reader of its books (else 404); 403 unless the user may ``action``."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, action, trust):
        raise PermissionDenied(refusal)
    return trust


@login_required
def trust_close_for_good(request: HttpRequest, trust_id: int) -> HttpResponse:
    """What still stands in the way of closing the trust, and the closing itself (trustees)."""
    trust = _manager_of(request, trust_id, Action.TRUST_MANAGE, "Trustees close the trust.")
    form = TrustCloseForm(request.POST or None, initial={"closed_on": trust_today(trust)})
    if request.method == "POST" and form.is_valid():
        try:
            trust_close(trust=trust, actor=request.user, closed_on=form.cleaned_data["closed_on"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"{trust.caption} closed on {trust.closed_on:%Y-%m-%d}: the books take no more "
                "entries.",
            )
            return redirect("retention", trust_id=trust.pk)
    return render(
        request,
        "trust/trust_close_for_good.html",
        {"trust": trust, "form": form, "blockers": trust_closing_blockers(trust=trust)},
        status=400 if form.errors else 200,
    )


def _retention_page(
    request: HttpRequest, trust: Trust, *, status: int = 200, **extra: Any
) -> HttpResponse:
    user = request.user
    may_erase = can(user, Action.IDENTITY_ERASE, trust)
    erasures = Erasure.objects.filter(beneficiary__trust=trust).select_related(
        "beneficiary", "proposed_by", "decided_by"
    )
    waiting = [e for e in erasures if e.status == Erasure.Status.PROPOSED]
    done = {e.beneficiary_id: e for e in erasures if e.status == Erasure.Status.DONE}
    proposed = {e.beneficiary_id: e for e in waiting}
    children = Beneficiary.objects.filter(trust=trust).order_by("pseudonym")
    refusal = retention_refusal(trust)
    eligible = (
        [c for c in children if not c.erased and c.pk not in proposed]
        if refusal is None and may_erase
        else []
    )
    page = Paginator(children, 50).get_page(request.GET.get("page"))
    context = {
        "trust": trust,
        "may_erase": may_erase,
        "may_close": can(user, Action.TRUST_MANAGE, trust),
        "retention_ends": retention_ends(trust),
        "refusal": refusal.messages[0] if refusal is not None else "",
        "waiting": waiting,
        "page": page,
        "rows": [(child, done.get(child.pk), proposed.get(child.pk)) for child in page],
        "propose_form": ErasureProposeForm(children=eligible) if eligible else None,
        "errors": [],
        **extra,
    }
    return render(request, "trust/retention.html", context, status=status)


@login_required
def retention_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    """The trust's retention: when the children's identifying data may be erased, each child's
    state, and the proposals waiting for a second trustee. Trustees and auditors read it;
    trustees act on it."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    return _retention_page(request, trust)


@login_required
@require_POST
def erasure_propose_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = _manager_of(request, trust_id, Action.IDENTITY_ERASE, "Trustees propose erasures.")
    if (again := require_fresh(request)) is not None:
        return again  # a second factor older than 15 minutes: give it again first
    children = list(
        Beneficiary.objects.filter(trust=trust, identity_erased_at__isnull=True).order_by(
            "pseudonym"
        )
    )
    form = ErasureProposeForm(request.POST, children=children)
    if form.is_valid():
        child = next(c for c in children if c.pk == form.cleaned_data["beneficiary"])
        try:
            erasure_propose(
                beneficiary=child, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Erasing {child.pseudonym}'s identifying data is proposed: another trustee "
                "confirms it.",
            )
            return redirect("retention", trust_id=trust.pk)
    return _retention_page(request, trust, status=400, propose_form=form)


def _erasure_for(request: HttpRequest, trust_id: int, erasure_id: int) -> tuple[Trust, Erasure]:
    trust = _manager_of(request, trust_id, Action.IDENTITY_ERASE, "Trustees decide erasures.")
    erasure = object_for(
        request.user,
        Erasure,
        None,
        Action.IDENTITY_ERASE,
        id=erasure_id,
        beneficiary__trust_id=trust.pk,
    )
    return trust, erasure


@login_required
@require_POST
def erasure_confirm_view(request: HttpRequest, trust_id: int, erasure_id: int) -> HttpResponse:
    trust, erasure = _erasure_for(request, trust_id, erasure_id)
    if (again := require_fresh(request)) is not None:
        return again
    try:
        erasure_confirm(erasure=erasure, actor=request.user)
    except ValidationError as error:
        return _retention_page(request, trust, status=400, errors=error.messages)
    messages.success(
        request,
        f"{erasure.beneficiary.pseudonym}'s identifying data is erased: its key is destroyed.",
    )
    return redirect("retention", trust_id=trust.pk)


@login_required
@require_POST
def erasure_withdraw_view(request: HttpRequest, trust_id: int, erasure_id: int) -> HttpResponse:
    trust, erasure = _erasure_for(request, trust_id, erasure_id)
    try:
        erasure_withdraw(erasure=erasure, actor=request.user)
    except ValidationError as error:
        return _retention_page(request, trust, status=400, errors=error.messages)
    messages.success(
        request, f"The proposal to erase {erasure.beneficiary.pseudonym}'s data is withdrawn."
    )
    return redirect("retention", trust_id=trust.pk)
