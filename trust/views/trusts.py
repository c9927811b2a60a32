"""The trusts a user holds a role in, a trust's dashboard (its books for their readers, a caseworker's
children otherwise), creating a trust (system administrators) and closing a period (its trustees).

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.db.models.functions import Length, Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from trust.access import (
    can,
    in_every_trust,
    roles_in,
    trust_for,
    trust_ids,
    visible_accounts,
    visible_trusts,
)
from trust.audit.selectors import checkpoint_latest
from trust.dashboard import trust_panels
from trust.forms import (
    LockDateForm,
    TrustForm,
    TrustTermsForm,
    add_service_errors,
)
from trust.models import (
    AuditVerification,
    LedgerCheck,
)
from trust.roles import LABELS, Action
from trust.selectors import (
    beneficiaries_reaching_majority,
    receipts_to_resolve,
    trust_identity,
)
from trust.services.trusts import TERMS, trust_create, trust_set_lock_date, trust_update


def _roles(user: object, trust: object) -> str:
    return ", ".join(LABELS[r].lower() for r in sorted(roles_in(user, trust)))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    rows = []
    for trust in visible_trusts(user):
        lines = []
        if can(user, Action.LEDGER_VIEW, trust):
            lines = sorted(trust_identity(trust=trust).values(), key=lambda line: line.currency)
        rows.append((trust, lines, _roles(user, trust)))
    # The last check of books this user reads: of their trusts, or of all at once when they
    # read every trust (its figures cover them all).
    readable, _ = trust_ids(user, Action.LEDGER_VIEW)
    scope = Q(trust_id__in=readable)
    if in_every_trust(user, Action.LEDGER_VIEW):
        scope |= Q(trust__isnull=True)
    last_check = (
        LedgerCheck.objects.filter(scope, finished_at__isnull=False).first() if readable else None
    )
    return render(request, "trust/home.html", {"rows": rows, "last_check": last_check})


@login_required
def trust_detail(request: HttpRequest, trust_id: int) -> HttpResponse:
    user = request.user
    trust = trust_for(user, trust_id)
    books = can(user, Action.LEDGER_VIEW, trust)
    # The books' readers see every account; a caseworker the sub-ledgers of their children.
    accounts = visible_accounts(user, Action.LEDGER_VIEW if books else Action.BENEFICIARY_VIEW)
    # Natural order: by the code's number, then shorter codes first (2100-MV-2 before MV-10).
    accounts = (
        accounts.filter(trust=trust)
        .select_related("beneficiary")
        .order_by(Substr("code", 1, 4), Length("code"), "code")
    )
    page = Paginator(accounts, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/trust_detail.html",
        {
            "trust": trust,
            "roles": _roles(user, trust),
            "books": books,
            "page": page,
            "identity": sorted(trust_identity(trust=trust).values(), key=lambda x: x.currency)
            if books
            else [],
            "to_resolve": list(receipts_to_resolve(trust=trust)) if books else [],
            "reaching_majority": beneficiaries_reaching_majority(trust=trust) if books else [],
            "panels": trust_panels(user, trust) if books else [],
            "may_manage_beneficiaries": can(user, Action.BENEFICIARY_MANAGE, trust),
            "may_appoint": can(user, Action.APPOINTMENT_MANAGE, trust),
            "may_manage_trust": can(user, Action.TRUST_MANAGE, trust),
            "last_check": LedgerCheck.objects.filter(
                Q(trust=trust) | Q(trust__isnull=True), finished_at__isnull=False
            ).first()
            if books
            else None,
            "verification": AuditVerification.objects.filter(finished_at__isnull=False)
            .order_by("-finished_at")
            .first()
            if can(user, Action.AUDIT_VIEW, trust)
            else None,
            "checkpoint": checkpoint_latest() if can(user, Action.AUDIT_VIEW, trust) else None,
        },
    )


@login_required
def trust_new(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_superuser and request.user.is_active):
        raise PermissionDenied("System administrators create trusts.")
    form = TrustForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            trust = trust_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{trust.caption} created: now appoint its trustees.")
            return redirect("appointments", trust_id=trust.pk)
    return render(
        request, "trust/trust_new.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def trust_edit(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.TRUST_MANAGE, trust):
        raise PermissionDenied("Trustees change a trust's terms.")
    form = TrustTermsForm(
        request.POST or None, initial={name: getattr(trust, name) for name in TERMS}
    )
    if request.method == "POST" and form.is_valid():
        try:
            # A term left empty (the retention period) stays as it is.
            terms = {k: v for k, v in form.cleaned_data.items() if v is not None}
            changed = trust_update(trust=trust, actor=request.user, **terms)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if form.has_changed():
                messages.success(request, f"{changed.caption}: terms saved.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("trust-detail", trust_id=trust.pk)
    return render(
        request,
        "trust/trust_edit.html",
        {"trust": trust, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
def trust_close(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.TRUST_MANAGE, trust):
        raise PermissionDenied("Trustees close periods.")
    form = LockDateForm(request.POST or None, initial={"lock_date": trust.lock_date})
    if request.method == "POST" and form.is_valid():
        try:
            trust_set_lock_date(
                trust=trust, lock_date=form.cleaned_data["lock_date"], actor=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Closed up to {form.cleaned_data['lock_date']:%Y-%m-%d}.")
            return redirect("trust-detail", trust_id=trust.pk)
    return render(
        request,
        "trust/trust_close.html",
        {"trust": trust, "form": form},
        status=400 if form.errors else 200,
    )
