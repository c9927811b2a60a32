"""The children and their funds, the requests (the list, a caseworker's form, each request's page
with the steps the user may take) and their supporting documents.

Thin pages: they find things through ``trust.access`` (another partner's or trust's is "not
found"), parse a form, call one service and render; a refusal shows the service's message on the
form, with what was typed kept."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from disbursements.forms import (
    AcknowledgeForm,
    ApproveForm,
    DocumentForm,
    PaymentForm,
    ReasonForm,
    RequestForm,
    add_service_errors,
)
from disbursements.models import Budget, Category, DisbursementRequest, Status
from disbursements.selectors import (
    child_funds,
    children_with_funds,
    document_for,
    request_list,
    request_page,
    requests_waiting_for,
)
from disbursements.services import (
    DraftKeyReused,
    request_approve,
    request_cancel,
    request_document_add,
    request_draft,
    request_reject,
    request_submit,
)
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.documents import (
    DocumentErased,
    document_download_name,
    document_download_record,
    document_stream,
)
from disbursements.services.payments import Transfer, payment_acknowledge, payment_record
from trust.access import (
    can,
    object_for,
    show_times_of,
    visible_beneficiaries,
    visible_trusts,
)
from trust.money import format_money
from trust.roles import Action
from trust.twofactor import require_fresh


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _request_for(user: Any, pk: int) -> DisbursementRequest:
    request = object_for(user, DisbursementRequest, pk)
    found = (
        DisbursementRequest.objects.select_related(
            "beneficiary", "trust", "partner", "sub_ledger", "requested_by"
        )
        .filter(pk=request.pk)
        .get()
    )
    show_times_of(found.trust)
    return found


def _payout_currency(request: DisbursementRequest) -> str:
    return request.partner.payout_currency or request.trust.base_currency


# --- the children and their funds ---------------------------------------------------------------


@login_required
def children(request: HttpRequest) -> HttpResponse:
    """The children the user may see, with what each has, what approvals hold and what is free;
    a caseworker's are those in their partner's care."""
    q = request.GET
    found = children_with_funds(
        user=request.user, trust_id=_number(q.get("trust", "")), search=q.get("q", "").strip()
    )
    page = Paginator(found, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "disbursements/children.html",
        {
            "page": page,
            "rows": [child_funds(b) for b in page.object_list],
            "trusts": visible_trusts(request.user, Action.BENEFICIARY_VIEW),
            "search": q.get("q", ""),
            "trust_id": _number(q.get("trust", "")),
            "query": query.urlencode(),
            "can_request": caseworker_partner(request.user) is not None,
        },
    )


# --- requests -----------------------------------------------------------------------------------


@login_required
def requests(request: HttpRequest) -> HttpResponse:
    q = request.GET
    status = q.get("status", "")
    found = request_list(
        user=request.user,
        status=status if status in Status.values else "",
        trust_id=_number(q.get("trust", "")),
        search=q.get("q", "").strip(),
    )
    page = Paginator(found, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "disbursements/request_list.html",
        {
            "page": page,
            "waiting": requests_waiting_for(request.user)[:50],
            "statuses": Status.choices,
            "status": status,
            "trusts": visible_trusts(request.user, Action.REQUEST_VIEW),
            "trust_id": _number(q.get("trust", "")),
            "search": q.get("q", ""),
            "query": query.urlencode(),
            "can_request": caseworker_partner(request.user) is not None,
        },
    )


@login_required
def request_new(request: HttpRequest) -> HttpResponse:
    """A caseworker asks for money for one of the children in their partner's care: saved as a
    draft, or submitted at once. Refused, it keeps what was typed and says why."""
    partner = caseworker_partner(request.user)
    if partner is None:
        raise PermissionDenied("Caseworkers ask for money for the children in their care.")
    beneficiaries = list(
        visible_beneficiaries(request.user, Action.REQUEST_DRAFT)
        .select_related("trust")
        .order_by("pseudonym")
    )
    currencies = sorted(
        {b.trust.base_currency for b in beneficiaries} | {partner.payout_currency} - {""}
    )
    form = RequestForm(
        request.POST or None,
        beneficiaries=beneficiaries,
        currencies=currencies or ["USD"],
        initial={"beneficiary": _number(request.GET.get("beneficiary", ""))},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = next(b for b in beneficiaries if b.pk == data["beneficiary"])
        try:
            made = request_draft(
                actor=request.user,
                beneficiary=chosen,
                category=data["category"],
                amount=data["amount"],
                purpose=data["purpose"],
                justification=data["justification"],
                idempotency_key=data["idempotency_key"],
            )
            if "submit" in request.POST and made.status == Status.DRAFT:
                made = request_submit(request=made, actor=request.user)
        except DraftKeyReused as error:
            # This form was sent before (then, say, changed after going back): what it made
            # stays as it was. A new key, so that sending it again asks for this as well.
            form.data = form.data.copy()
            form.data["idempotency_key"] = uuid4().hex
            form.add_error(
                None,
                f"This form was already sent: it made request #{error.request_id}, which"
                f" differs in {', '.join(error.differs)}. Nothing new was saved; send the form"
                " again to ask for this as a new request.",
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            submitted = made.status == Status.SUBMITTED
            messages.success(
                request,
                f"Request #{made.pk} {'submitted: the trustees are told' if submitted else 'saved as a draft'}.",
            )
            return redirect("request-detail", pk=made.pk)
    funds = [
        child_funds(b)
        for b in children_with_funds(user=request.user).filter(pk__in=[b.pk for b in beneficiaries])
    ]
    today = timezone.localdate()
    budgets: dict[int, dict[str, str]] = {}
    for budget in Budget.objects.filter(
        beneficiary__in=beneficiaries, period_start__lte=today, period_end__gte=today
    ):
        budgets.setdefault(budget.beneficiary_id, {})[budget.category] = (
            f"{format_money(budget.amount)} until {budget.period_end:%Y-%m-%d}"
        )
    hints = {
        str(f.beneficiary.pk): {
            "name": f.beneficiary.pseudonym,
            "available": format_money(f.available),
            "budgets": budgets.get(f.beneficiary.pk, {}),
        }
        for f in funds
    }
    return render(
        request,
        "disbursements/request_new.html",
        {"form": form, "funds": funds, "categories": Category.choices, "hints": hints},
        status=400 if form.errors else 200,
    )


def _detail(request: HttpRequest, found: DisbursementRequest, **forms: Any) -> HttpResponse:
    user = request.user
    context = request_page(found, user)
    mine = found.requested_by_id == user.pk
    trustee = context["trustee"]
    acts = {
        "submit": mine and found.status == Status.DRAFT,
        "decide": trustee and found.status == Status.SUBMITTED and not mine,
        "cancel": (mine or trustee)
        and found.status in (Status.DRAFT, Status.SUBMITTED, Status.APPROVED),
        "pay": trustee and found.status == Status.APPROVED,
        "acknowledge": can(user, Action.PAYMENT_ACKNOWLEDGE, found) and found.status == Status.PAID,
        "documents": can(user, Action.DOCUMENT_ADD, found)
        and found.status not in (Status.REJECTED, Status.CANCELLED),
    }
    payout = _payout_currency(found)
    defaults = {
        "approve_form": ApproveForm(sub_ledger_currency=found.sub_ledger.currency),
        "reject_form": ReasonForm(prefix="reject"),
        "cancel_form": ReasonForm(prefix="cancel"),
        "document_form": DocumentForm(),
        "payment_form": PaymentForm(
            trust_currency=found.sub_ledger.currency,
            payout_currency=payout,
            initial={"payout": found.amount if found.currency == payout else None},
        ),
        "acknowledge_form": AcknowledgeForm(payout_currency=payout),
    }
    defaults.update(forms)
    return render(
        request,
        "disbursements/request_detail.html",
        {"req": found, "acts": acts, **context, **defaults},
        status=400 if forms else 200,
    )


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _request_for(request.user, pk))


def _done(request: HttpRequest, found: DisbursementRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("request-detail", pk=found.pk)


@login_required
@require_POST
def request_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    try:
        found = request_submit(request=found, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("request-detail", pk=found.pk)
    return _done(request, found, f"Request #{found.pk} submitted: the trustees are told.")


@login_required
@require_POST
def request_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    if (again := require_fresh(request)) is not None:
        return again  # a second factor older than 15 minutes: give it again first
    form = ApproveForm(request.POST, sub_ledger_currency=found.sub_ledger.currency)
    if form.is_valid():
        try:
            found = request_approve(
                request=found,
                actor=request.user,
                reserve=form.cleaned_data["reserve"],
                override_reason=form.cleaned_data["override_reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if found.status == Status.APPROVED:
                return _done(request, found, f"Request #{found.pk} approved: funds reserved.")
            return _done(
                request, found, f"First approval of request #{found.pk}: a second trustee decides."
            )
    return _detail(request, found, approve_form=form)


@login_required
@require_POST
def request_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    form = ReasonForm(request.POST, prefix="reject")
    if form.is_valid():
        try:
            found = request_reject(
                request=found, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, found, f"Request #{found.pk} rejected: the caseworker is told.")
    return _detail(request, found, reject_form=form)


@login_required
@require_POST
def request_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    form = ReasonForm(request.POST, prefix="cancel")
    if form.is_valid():
        try:
            found = request_cancel(
                request=found, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, found, f"Request #{found.pk} cancelled.")
    return _detail(request, found, cancel_form=form)


@login_required
@require_POST
def request_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    form = DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            request_document_add(
                request=found,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                content=upload.read(),
                title=form.cleaned_data["title"] or upload.name[:120],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, found, "Document attached.")
    return _detail(request, found, document_form=form)


@login_required
@require_POST
def payment_record_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    if (again := require_fresh(request)) is not None:
        return again  # a second factor older than 15 minutes: give it again first
    form = PaymentForm(
        request.POST,
        trust_currency=found.sub_ledger.currency,
        payout_currency=_payout_currency(found),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            payment_record(
                request=found,
                actor=request.user,
                transfer=Transfer(
                    sent=data["sent"],
                    payout=data["payout"],
                    fee=data["fee"],
                    value_date=data["value_date"],
                    reference=data["reference"],
                ),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, found, "Payment recorded: the partner is asked to confirm it.")
    return _detail(request, found, payment_form=form)


@login_required
@require_POST
def payment_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = _request_for(request.user, pk)
    form = AcknowledgeForm(request.POST, payout_currency=_payout_currency(found))
    if form.is_valid():
        data = form.cleaned_data
        try:
            payment_acknowledge(
                request=found,
                actor=request.user,
                arrived=data["arrived"],
                received_on=data["received_on"],
                note=data["note"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, found, "Thank you: what arrived is recorded.")
    return _detail(request, found, acknowledge_form=form)


# --- documents ----------------------------------------------------------------------------------


@login_required
def document_download(request: HttpRequest, uid: UUID) -> FileResponse:
    """A supporting document, to a user who may see its request; 404 to anyone else (the same
    answer as for a document that does not exist)."""
    document = document_for(request.user, uid)
    if document is None:
        raise Http404("No such document.")
    try:
        content = document_stream(document)
    except DocumentErased as gone:
        return HttpResponse(str(gone), status=410, content_type="text/plain")
    document_download_record(document=document, actor=request.user)
    response = FileResponse(
        content,
        as_attachment=True,
        filename=document_download_name(document),
        content_type=document.content_type,
    )
    response["Content-Length"] = str(document.size)
    response["Content-Disposition"] = content_disposition_header(
        True, document_download_name(document)
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
