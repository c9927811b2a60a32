"""Pages of the trust app: thin, they ask ``trust.access`` what the user may see, call selectors
and render. A trust the user holds no role in is "not found"; a caseworker sees only the children
in their partner's care, never the trust's cash."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Length, Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from moneyed import Money

from trust.access import (
    can,
    in_every_trust,
    object_for,
    roles_in,
    trust_for,
    trust_ids,
    visible_accounts,
    visible_trusts,
)
from trust.audit.selectors import checkpoint_latest
from trust.dashboard import trust_panels
from trust.forms import (
    AllocateForm,
    AppointmentForm,
    BeneficiaryForm,
    DefendantForm,
    EndAppointmentForm,
    IdentityForm,
    ImplicatedForm,
    ImportForm,
    LockDateForm,
    OrderImportForm,
    ReceiptForm,
    RevealForm,
    ReverseForm,
    TrustForm,
    add_service_errors,
)
from trust.models import (
    Account,
    Appointment,
    AuditVerification,
    Beneficiary,
    BeneficiaryIdentity,
    EntryKind,
    ImplicatedPerson,
    JournalEntry,
    LedgerCheck,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money
from trust.roles import LABELS, Action
from trust.selectors import (
    account_balance_as_of,
    account_postings,
    balance_history,
    beneficiaries_reaching_majority,
    entry_postings,
    journal,
    order_lines,
    order_list,
    receipt_allocations,
    receipt_list,
    receipts_to_resolve,
    running_balances,
    trust_identity,
)
from trust.services.appointments import appointment_create, appointment_end
from trust.services.imports import import_summary, order_import, receipts_import
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    beneficiary_update,
    defendant_create,
    implicated_person_add,
)
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.trusts import trust_create, trust_set_lock_date
from trust.services.unallocated import receipt_allocate


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


# --- the books: journal, entries, accounts (readers of the books only) -------------------------


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@login_required
def journal_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    kind = q.get("kind", "") if q.get("kind", "") in EntryKind.values else ""
    since, until = _day(q.get("since", "")), _day(q.get("until", ""))
    entries = journal(
        trust=trust, kind=kind, since=since, until=until, search=q.get("q", "").strip()
    )
    page = Paginator(entries, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "trust/journal.html",
        {
            "trust": trust,
            "page": page,
            "kinds": EntryKind.choices,
            "kind": kind,
            "since": since,
            "until": until,
            "search": q.get("q", ""),
            "query": query.urlencode(),
            "bad_dates": bool((q.get("since") and not since) or (q.get("until") and not until)),
        },
    )


@login_required
def entry_detail(request: HttpRequest, trust_id: int, entry_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    entry = object_for(request.user, JournalEntry, None, trust_id=trust.pk, id=entry_id)
    reversed_by = JournalEntry.objects.filter(reverses=entry).first()
    return render(
        request,
        "trust/entry_detail.html",
        {
            "trust": trust,
            "entry": entry,
            "postings": entry_postings(entry=entry),
            "reversed_by": reversed_by,
        },
    )


@login_required
def account_detail(request: HttpRequest, trust_id: int, account_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    account = object_for(request.user, Account, None, trust_id=trust.pk, id=account_id)
    page = Paginator(account_postings(account=account), 50).get_page(request.GET.get("page"))
    as_of = _day(request.GET.get("as_of", ""))
    return render(
        request,
        "trust/account_detail.html",
        {
            "trust": trust,
            "account": account,
            "page": page,
            "rows": running_balances(account=account, postings=list(page.object_list)),
            "as_of": as_of,
            "balance_as_of": account_balance_as_of(account=account, as_of=as_of) if as_of else None,
            "query": "",
        },
    )


# --- receipts (trustees record and resolve; readers of the books read) --------------------------


def _bank_accounts(trust: Trust) -> list[Account]:
    return list(trust.accounts.filter(role=Account.Role.BANK).order_by("code"))


@login_required
def receipts_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    found = receipt_list(
        trust=trust, search=q.get("q", "").strip(), to_resolve=q.get("to_resolve") == "1"
    )
    page = Paginator(found, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "trust/receipt_list.html",
        {
            "trust": trust,
            "page": page,
            "search": q.get("q", ""),
            "to_resolve": q.get("to_resolve") == "1",
            "query": query.urlencode(),
            "may_record": can(request.user, Action.RECEIPT_MANAGE, trust),
        },
    )


@login_required
def receipt_new(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A trustee records money that reached the trust's bank; it is shared out at once among
    what the payer owes (or left unallocated)."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.RECEIPT_MANAGE, trust):
        raise PermissionDenied("Trustees record receipts.")
    banks = _bank_accounts(trust)
    payers = list(trust.defendants.order_by("name"))
    form = ReceiptForm(
        request.POST or None,
        currencies=[b.currency for b in banks] or [trust.base_currency],
        payers=payers,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        bank = next((b for b in banks if b.currency == data["amount"].currency.code), None)
        try:
            if bank is None:
                raise ValidationError(
                    {"amount": f"The trust has no bank account in {data['amount'].currency}."}
                )
            receipt = receipt_record(
                trust=trust,
                actor=request.user,
                amount=data["amount"],
                received_on=data["received_on"],
                source=data["source"],
                bank_account=bank,
                idempotency_key=data["idempotency_key"],
                payer=next((d for d in payers if d.pk == data["payer"]), None),
                bank_reference=data["bank_reference"],
                memo=data["memo"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Receipt of {format_money(receipt.amount)} recorded"
                + (
                    f"; {format_money(receipt.unallocated)} left unallocated."
                    if receipt.unallocated_minor
                    else ", shared out in full."
                ),
            )
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return render(
        request,
        "trust/receipt_new.html",
        {"trust": trust, "form": form},
        status=400 if form.errors else 200,
    )


def _receipt_page(request: HttpRequest, trust: Trust, receipt: Receipt, **forms: Any) -> Any:
    manage = can(request.user, Action.RECEIPT_MANAGE, trust)
    payers = list(trust.defendants.order_by("name"))
    context = {
        "trust": trust,
        "receipt": receipt,
        "allocations": receipt_allocations(receipt=receipt),
        "may_allocate": manage
        and receipt.status == Receipt.Status.POSTED
        and receipt.unallocated_minor > 0,
        "may_reverse": manage and receipt.status == Receipt.Status.POSTED,
        "allocate_form": AllocateForm(payers=payers),
        "reverse_form": ReverseForm(),
        **forms,
    }
    return render(request, "trust/receipt_detail.html", context, status=400 if forms else 200)


def _receipt_for(request: HttpRequest, trust_id: int, receipt_id: int) -> tuple[Trust, Receipt]:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    receipt = get_object_or_404(
        Receipt.objects.select_related("payer", "bank_account", "created_by"),
        trust=trust,
        pk=receipt_id,
    )
    return trust, receipt


@login_required
def receipt_detail(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    return _receipt_page(request, trust, receipt)


@login_required
@require_POST
def receipt_allocate_view(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    payers = list(trust.defendants.order_by("name"))
    form = AllocateForm(request.POST, payers=payers)
    if form.is_valid():
        try:
            receipt_allocate(
                receipt=receipt,
                actor=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
                payer=next((d for d in payers if d.pk == form.cleaned_data["payer"]), None),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            receipt.refresh_from_db()
            messages.success(
                request,
                "Allocated"
                + (
                    f"; {format_money(receipt.unallocated)} still unallocated."
                    if receipt.unallocated_minor
                    else " in full."
                ),
            )
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return _receipt_page(request, trust, receipt, allocate_form=form)


@login_required
@require_POST
def receipt_reverse_view(request: HttpRequest, trust_id: int, receipt_id: int) -> HttpResponse:
    trust, receipt = _receipt_for(request, trust_id, receipt_id)
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            receipt_reverse(receipt=receipt, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Receipt reversed, with every allocation of it.")
            return redirect("receipt-detail", trust_id=trust.pk, receipt_id=receipt.pk)
    return _receipt_page(request, trust, receipt, reverse_form=form)


IMPORT_STASH = "receipt-import"


@login_required
def receipt_import(request: HttpRequest, trust_id: int) -> HttpResponse:
    """A CSV of receipts: checked first (nothing written; what would be recorded, or the row and
    column of the error), then recorded whole or not at all. The file checked is kept in the
    session by its SHA-256, so what is recorded is exactly what was previewed."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    if not can(request.user, Action.RECEIPT_MANAGE, trust):
        raise PermissionDenied("Trustees import receipts.")
    form = ImportForm(request.POST or None, request.FILES or None)
    preview = None
    digest = ""
    if request.method == "POST" and "record" in request.POST:
        stash = request.session.get(IMPORT_STASH) or {}
        if stash.get("trust") != trust.pk or stash.get("sha256") != request.POST.get("sha256"):
            messages.error(request, "Check the file again before recording it.")
            return redirect("receipt-import", trust_id=trust.pk)
        try:
            result = receipts_import(trust=trust, actor=request.user, rows=stash["text"])
        except ValidationError as error:
            form = ImportForm()
            add_service_errors(form, error)
        else:
            request.session.pop(IMPORT_STASH, None)
            messages.success(request, f"{import_summary(result)}.")
            return redirect("receipt-list", trust_id=trust.pk)
    elif request.method == "POST" and form.is_valid():
        content = form.cleaned_data["file"].read()
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text: save it as CSV UTF-8.")
        else:
            try:
                preview = receipts_import(trust=trust, actor=request.user, rows=text, dry_run=True)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                digest = hashlib.sha256(content).hexdigest()
                request.session[IMPORT_STASH] = {"trust": trust.pk, "sha256": digest, "text": text}
    return render(
        request,
        "trust/receipt_import.html",
        {
            "trust": trust,
            "form": form,
            "preview": preview,
            "summary": import_summary(preview) if preview else "",
            "sha256": digest,
        },
        status=400 if form.errors else 200,
    )


# --- beneficiaries (trustees manage; identifying details only through a recorded reveal) --------


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
        "has_identity": BeneficiaryIdentity.objects.filter(beneficiary=beneficiary).exists(),
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
    return _beneficiary_page(request, trust, beneficiary)


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


# --- appointments (administrators of the trust) -----------------------------------------------


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


# --- orders (trustees record them; readers of the books read them) ------------------------------


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
        messages.success(request, f"Order recorded: {result.created} line(s).")
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


# --- creating a trust (system administrators) and closing a period (its trustees) ---------------


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


# --- defendants and implicated people (trustees record; readers of the books read) --------------


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
