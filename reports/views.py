"""Pages of the reports app: ask for documents, watch a batch, download, check a printed code.
Thin: they parse input, call a service or selector, and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from reports.documents.child_views import MOST_ROWS, render_child_views
from reports.models import Kind, Report, ReportBatch
from reports.periods import PeriodError, parse_period
from reports.services import (
    batch_progress,
    report_batch_create,
    report_downloaded,
    report_request,
    report_verify_code,
)
from trust.access import (
    can,
    object_for,
    trust_for,
    visible,
    visible_payments,
    visible_reports,
    visible_trusts,
)
from trust.audit.selectors import child_view_list, child_view_rows
from trust.forms import ChildViewFilterForm
from trust.models import Beneficiary
from trust.roles import Action

ALL_BENEFICIARIES = "all"


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    reports = visible_reports(request.user).select_related("trust", "beneficiary")
    trust_id = request.GET.get("trust", "")
    if trust_id.isdigit():
        reports = reports.filter(trust_id=int(trust_id))
    trusts = list(visible_trusts(request.user, Action.REPORT_REQUEST).order_by("caption"))
    return render(
        request,
        "reports/report_list.html",
        {
            "page": Paginator(reports.order_by("-requested_at", "-pk"), 50).get_page(
                request.GET.get("page")
            ),
            "query": f"trust={trust_id}" if trust_id.isdigit() else "",
            "batches": visible(request.user, ReportBatch).select_related("trust")[:10],
            "trusts": trusts,
            # Advices and reconciliations are made from their payment and their sign-off.
            "kinds": [
                (k.value, k.label)
                for k in Kind
                if k not in (Kind.REMITTANCE_ADVICE, Kind.BANK_RECONCILIATION)
            ],
            "can_request": bool(trusts),
        },
    )


@login_required
@require_POST
def report_create(request: HttpRequest) -> HttpResponse:
    """The request form: one document, or every beneficiary's statement as a batch."""
    asking = visible_trusts(request.user, Action.REPORT_REQUEST)
    if not asking.exists():
        raise PermissionDenied("Trustees and auditors ask for reports.")
    form = request.POST
    trust_id = form.get("trust", "")
    trust = asking.filter(pk=int(trust_id)).first() if trust_id.isdigit() else None
    kind = form.get("kind", "")
    try:
        if trust is None:
            raise ValidationError("Choose a trust.")
        period = None
        if kind in (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT):
            try:
                period = parse_period(form.get("period", ""))
            except PeriodError as exc:
                raise ValidationError(str(exc)) from exc
        token = form.get("token", "")[:64] or None  # one submission, one report (double click)
        who = form.get("beneficiary", "")
        if kind == Kind.BENEFICIARY_STATEMENT and who.strip().lower() == ALL_BENEFICIARIES:
            batch = report_batch_create(
                trust=trust, period=period, actor=request.user, operation_id=token
            )
            return redirect("report-batch", operation_id=batch.operation_id)
        beneficiary = None
        if kind == Kind.BENEFICIARY_STATEMENT:
            beneficiary = Beneficiary.objects.filter(trust=trust, pseudonym=who.strip()).first()
            if beneficiary is None:
                raise ValidationError(
                    f"No beneficiary {who.strip()!r} in this trust: type their pseudonym, or all."
                )
        report = report_request(
            kind=kind,
            trust=trust,
            actor=request.user,
            period=period,
            beneficiary=beneficiary,
            operation_id=token,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("report-list")
    messages.success(request, f"{report.get_kind_display()} requested.")
    return redirect("report-detail", uid=report.uid)


def _visible(request: HttpRequest, uid: str) -> Report:
    report = (
        visible_reports(request.user).select_related("trust", "beneficiary").filter(uid=uid).first()
    )
    if report is None:  # the same answer whether it does not exist or is someone else's
        raise Http404("No such report.")
    return report


@login_required
def report_detail(request: HttpRequest, uid: str) -> HttpResponse:
    report = _visible(request, uid)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"status": report.status, "error": report.error})
    return render(request, "reports/report_detail.html", {"report": report})


@login_required
def report_download(request: HttpRequest, uid: str) -> FileResponse:
    report = _visible(request, uid)
    if report.status != Report.Status.DONE:
        raise Http404("This report is not ready.")
    report_downloaded(report=report, actor=request.user)
    subject = report.beneficiary.pseudonym if report.beneficiary else f"trust-{report.trust_id}"
    response = FileResponse(
        report.file.open("rb"),
        as_attachment=request.GET.get("inline") != "1",
        filename=f"{report.kind}-{subject}-{report.period_start}-{report.period_end}.pdf",
        content_type="application/pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def report_batch(request: HttpRequest, operation_id: str) -> HttpResponse:
    batch = get_object_or_404(
        visible(request.user, ReportBatch).select_related("trust"), operation_id=operation_id
    )
    progress = batch_progress(batch)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(
            {
                "total": progress.total,
                "done": progress.done,
                "failed": progress.failed,
                "percent": progress.percent,
                "finished": progress.finished,
            }
        )
    reports = batch.reports.select_related("beneficiary").order_by("beneficiary__pseudonym", "pk")
    return render(
        request,
        "reports/batch.html",
        {"batch": batch, "progress": progress, "reports": reports[:500]},
    )


@login_required
def report_verify(request: HttpRequest) -> HttpResponse:
    """Type the code printed on a document: the books say whether its figures still hold."""
    if not visible_trusts(request.user, Action.REPORT_REQUEST).exists():
        raise PermissionDenied("Trustees and auditors check documents.")
    result = None
    code = request.POST.get("code", "") if request.method == "POST" else ""
    if request.method == "POST":
        result = report_verify_code(code=code, actor=request.user)
    return render(request, "reports/verify.html", {"result": result, "code": code})


@login_required
@require_POST
def payment_advice(request: HttpRequest, payment_id: int) -> HttpResponse:
    """A remittance advice for one payment (from the payment's page, later the partner's)."""
    payment = get_object_or_404(
        visible_payments(request.user).select_related("trust", "request__partner"), pk=payment_id
    )
    if not can(request.user, Action.REPORT_REQUEST, payment.trust):
        raise PermissionDenied("Trustees and auditors ask for reports.")
    report = report_request(
        kind=Kind.REMITTANCE_ADVICE, trust=payment.trust, actor=request.user, payment=payment
    )
    return redirect("report-detail", uid=report.uid)


@login_required
def beneficiary_views_pdf(request: HttpRequest, trust_id: int, beneficiary_id: int) -> HttpResponse:
    """Who saw this child, as a PDF (the page ``beneficiary-views`` with the same filters), by
    pseudonym only. The trust's trustees and auditors; 403 for anyone else who may see the
    child, 404 for anyone who may not; a filter that is not understood is refused (400), saying
    why. Reading it is not a view of the child."""
    trust = trust_for(request.user, trust_id)
    beneficiary = object_for(request.user, Beneficiary, None, trust_id=trust.pk, id=beneficiary_id)
    if not can(request.user, Action.VIEW_LOG, beneficiary):
        raise PermissionDenied("The trust's trustees and auditors see who saw a child.")
    form = ChildViewFilterForm(request.GET)
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label if name in form.fields else 'Filter'}: {message}"
            for name, messages_ in form.errors.items()
            for message in messages_
        ]
        return HttpResponse(
            "The filters were not understood.\n" + "\n".join(problems),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    filters = form.cleaned_data
    views = child_view_list(
        beneficiary=beneficiary,
        trust=trust,
        person=filters["person"],
        since=filters["since"],
        until=filters["until"],
    )
    rows = child_view_rows(views[:MOST_ROWS], trust=trust)
    total = len(rows) if len(rows) < MOST_ROWS else views.count()
    now = timezone.now()
    rendered = render_child_views(
        trust=trust,
        beneficiary=beneficiary,
        rows=rows,
        total=total,
        since=filters["since"],
        until=filters["until"],
        person=filters["person"],
        generated_at=now,
    )
    response = HttpResponse(rendered.pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True,
        filename=f"who-saw-{beneficiary.pseudonym}-{timezone.localdate(now):%Y-%m-%d}.pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
