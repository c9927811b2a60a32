"""Restitution orders: every version, an order's lines, and recording one (or an amended judgment)
from a CSV of its lines, checked in a rolled-back transaction first, or typed in a form.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from moneyed import Money

from trust.access import (
    can,
    trust_for,
)
from trust.forms import (
    OrderForm,
    OrderImportForm,
    OrderLineFormSet,
    add_order_errors,
    add_service_errors,
    more_lines,
)
from trust.models import (
    RestitutionOrder,
    Trust,
)
from trust.money import format_money
from trust.roles import Action
from trust.selectors import (
    order_lines,
    order_list,
)
from trust.services.imports import order_import
from trust.services.orders import LineSpec, order_amend, order_create


@login_required
def orders_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    return render(
        request,
        "trust/order_list.html",
        {
            "trust": trust,
            "orders": order_list(trust=trust).order_by("-judgment_date", "-pk"),
            "may_record": can(request.user, Action.ORDER_MANAGE, trust),
        },
    )


@login_required
def order_detail(request: HttpRequest, trust_id: int, order_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    order = get_object_or_404(RestitutionOrder, trust=trust, pk=order_id)
    return render(
        request,
        "trust/order_detail.html",
        {
            "trust": trust,
            "order": order,
            "lines": order_lines(order=order),
            "superseded_by": RestitutionOrder.objects.filter(supersedes=order).first(),
            "may_record": can(request.user, Action.ORDER_MANAGE, trust)
            and order.status == RestitutionOrder.Status.CURRENT,
        },
    )


ORDER_STASH = "order-import"


@login_required
def order_import_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    """An order (or, with ``?amends=<id>``, an amended judgment) from a CSV of its lines: checked
    first in a transaction that is rolled back (nothing written: the lines it would record, or
    the row and column of the error), then recorded exactly as checked."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.ORDER_MANAGE, trust):
        raise PermissionDenied("Trustees record orders.")
    amends = None
    amends_id = request.GET.get("amends", "") or request.POST.get("amends", "")
    if amends_id.isdigit():
        amends = get_object_or_404(RestitutionOrder, trust=trust, pk=int(amends_id))
    currencies = sorted({trust.base_currency, *trust.accounts.values_list("currency", flat=True)})
    form = OrderImportForm(
        request.POST or None,
        request.FILES or None,
        currencies=currencies,
        initial={
            "court": amends.court if amends else "",
            "case_number": amends.case_number if amends else "",
        },
    )
    preview = None
    digest = ""
    if request.method == "POST" and "record" in request.POST:
        stash = request.session.get(ORDER_STASH) or {}
        if stash.get("trust") != trust.pk or stash.get("sha256") != request.POST.get("sha256"):
            messages.error(request, "Check the file again before recording it.")
            return redirect("order-list", trust_id=trust.pk)
        try:
            result = _order_import(trust, request.user, stash, amends, dry_run=False)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("order-list", trust_id=trust.pk)
        request.session.pop(ORDER_STASH, None)
        if result.created:
            messages.success(request, f"Order recorded: {result.created} line(s).")
        else:  # recorded already, perhaps by a run of the same file at the same moment
            messages.info(
                request,
                f"Nothing new was recorded: these {result.already_recorded} line(s) are already"
                f" recorded as order #{result.order.pk} (v{result.order.version}).",
            )
        return redirect("order-detail", trust_id=trust.pk, order_id=result.order.pk)
    if request.method == "POST" and form.is_valid():
        content = form.cleaned_data["file"].read()
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text: save it as CSV UTF-8.")
        else:
            data = form.cleaned_data
            stash = {
                "trust": trust.pk,
                "text": text,
                "court": data["court"],
                "case_number": data["case_number"],
                "judgment_date": data["judgment_date"].isoformat(),
                "total": [str(data["total"].amount), data["total"].currency.code],
                "document_reference": data["document_reference"],
                "reason": data["reason"],
            }
            try:
                preview = _order_import(trust, request.user, stash, amends, dry_run=True)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                digest = hashlib.sha256(json.dumps(stash, sort_keys=True).encode()).hexdigest()
                request.session[ORDER_STASH] = {**stash, "sha256": digest}
    return render(
        request,
        "trust/order_import.html",
        {
            "trust": trust,
            "form": form,
            "amends": amends,
            "preview": preview,
            "sha256": digest,
        },
        status=400 if form.errors else 200,
    )


class _CheckOnly(Exception):
    """Rolls the check's transaction back."""


def _order_import(
    trust: Trust, actor: Any, stash: dict[str, Any], amends: Any, *, dry_run: bool
) -> Any:
    """Import ``stash``; with ``dry_run`` inside a transaction that is always rolled back, and
    return what it would have recorded (the order and its lines, as objects not kept)."""
    amount, currency = stash["total"]

    def run() -> Any:
        return order_import(
            trust=trust,
            actor=actor,
            rows=stash["text"],
            court=stash["court"],
            case_number=stash["case_number"],
            judgment_date=date.fromisoformat(stash["judgment_date"]),
            total=Money(amount, currency),
            document_reference=stash["document_reference"],
            amends=amends,
            reason=stash["reason"],
        )

    if not dry_run:
        return run()
    found: dict[str, Any] = {}
    try:
        with transaction.atomic():
            result = run()
            found["result"] = result
            found["lines"] = list(order_lines(order=result.order)) if result.order else []
            raise _CheckOnly
    except _CheckOnly:
        pass
    return found


@login_required
def order_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A trustee records an order typed in: the judgment and its lines, all or nothing."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.ORDER_MANAGE, trust):
        raise PermissionDenied("Trustees record orders.")
    return _order_form_page(request, trust, None)


@login_required
def order_amend_view(request: HttpRequest, trust_id: int, order_id: int) -> HttpResponse:
    """A trustee records an amended judgment of the current version of an order, starting from
    what that version states; it becomes the next version and supersedes it."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.ORDER_MANAGE, trust):
        raise PermissionDenied("Trustees amend orders.")
    order = get_object_or_404(RestitutionOrder, trust=trust, pk=order_id)
    if order.status != RestitutionOrder.Status.CURRENT:
        messages.error(request, f"Version {order.version} was superseded: amend the current one.")
        return redirect("order-detail", trust_id=trust.pk, order_id=order.pk)
    return _order_form_page(request, trust, order)


def _order_form_page(
    request: HttpRequest, trust: Trust, amends: RestitutionOrder | None
) -> HttpResponse:
    """The order form (``amends``: prefilled with that version); "More lines" shows it again with
    more empty rows, anything else posted is recorded through the order service."""
    if amends is None:
        currencies = sorted(
            {trust.base_currency, *trust.accounts.values_list("currency", flat=True)}
        )
        initial: dict[str, Any] = {}
        lines_initial: list[dict[str, Any]] = []
    else:
        currencies = [amends.currency]
        initial = {
            "judgment_date": amends.judgment_date,
            "total": [amends.total.amount, amends.currency],
            "document_reference": amends.document_reference,
            "payment_terms": amends.payment_terms,
            "schedule_note": amends.schedule_note,
            "first_payment_due": amends.first_payment_due,
        }
        lines_initial = [
            {
                "beneficiary": line.beneficiary_id,
                "amount": [line.amount.amount, line.currency],
                "defendants": [d.pk for d in line.defendants.all()],
                "liability": line.liability,
            }
            for line in order_lines(order=amends)
        ]
    beneficiaries = {b.pk: b for b in trust.beneficiaries.order_by("pseudonym")}
    defendants = {d.pk: d for d in trust.defendants.order_by("name")}
    more = request.method == "POST" and "more" in request.POST
    data = None
    if request.method == "POST":
        data = more_lines(request.POST) if more else request.POST
    form = OrderForm(data, currencies=currencies, amending=amends is not None, initial=initial)
    lines = OrderLineFormSet(
        data,
        prefix="lines",
        initial=lines_initial,
        form_kwargs={
            "currencies": currencies,
            "beneficiaries": list(beneficiaries.values()),
            "defendants": list(defendants.values()),
        },
    )
    checked = request.method == "POST" and not more
    if checked and all([form.is_valid(), lines.is_valid()]):
        filled = lines.filled()
        specs = [
            LineSpec(
                beneficiary=beneficiaries[row.cleaned_data["beneficiary"]],
                amount=row.cleaned_data["amount"],
                defendants=[defendants[pk] for pk in row.cleaned_data["defendants"]],
                liability=row.cleaned_data["liability"] or None,
            )
            for row in filled
        ]
        given = form.cleaned_data
        header = {
            "judgment_date": given["judgment_date"],
            "total": given["total"],
            "lines": specs,
            "document_reference": given["document_reference"],
            "payment_terms": given["payment_terms"],
            "schedule_note": given["schedule_note"],
            "first_payment_due": given["first_payment_due"],
        }
        try:
            if amends is None:
                order = order_create(
                    trust=trust,
                    actor=request.user,
                    court=given["court"],
                    case_number=given["case_number"],
                    **header,
                )
            else:
                order = order_amend(
                    order=amends, actor=request.user, reason=given["reason"], **header
                )
        except ValidationError as error:
            add_order_errors(form, filled, error)
        else:
            done = f"{len(specs)} line(s), {format_money(order.total)}"
            messages.success(
                request,
                f"Order recorded: {done}."
                if amends is None
                else f"Amended judgment recorded as version {order.version} ({done});"
                f" version {amends.version} is superseded.",
            )
            return redirect("order-detail", trust_id=trust.pk, order_id=order.pk)
    failed = checked and bool(form.errors or lines.total_error_count())
    return render(
        request,
        "trust/order_form.html",
        {"trust": trust, "form": form, "lines": lines, "amends": amends, "failed": failed},
        status=400 if failed else 200,
    )
