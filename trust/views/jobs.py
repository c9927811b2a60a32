"""Failed background jobs: a trust's page (its trustees and auditors read it, its trustees retry
or dismiss), and one for every trust at once (jobs of no trust only for who reads them all).

Thin pages: they ask ``trust.access`` what the user may see, call one service, and render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from trust.access import (
    can_resolve_failed_job,
    in_every_trust,
    trust_for,
    trust_ids,
    visible_failed_jobs,
)
from trust.models import FailedJob, Trust
from trust.roles import Action
from trust.services.jobs import failed_job_dismiss, failed_job_retry

RESOLVED_SHOWN = 20


def _task_label(task_name: str) -> str:
    """``reports.tasks.generate_report_task`` -> "Generate report"."""
    words = task_name.rsplit(".", 1)[-1].removesuffix("_task").replace("_", " ")
    return words.capitalize()


def _render(
    request: HttpRequest, jobs: list[FailedJob], trust: Trust | None, title: str
) -> HttpResponse:
    open_jobs = [j for j in jobs if j.open]
    page = Paginator(open_jobs, 50).get_page(request.GET.get("page"))
    rows = [
        (job, _task_label(job.task_name), can_resolve_failed_job(request.user, job)) for job in page
    ]
    resolved = (
        visible_failed_jobs(request.user)
        .exclude(state=FailedJob.State.FAILED)
        .select_related("trust", "resolved_by")
        .order_by("-resolved_at", "-pk")
    )
    if trust is not None:
        resolved = resolved.filter(trust=trust)
    return render(
        request,
        "trust/failed_jobs.html",
        {
            "trust": trust,
            "title": title,
            "page": page,
            "rows": rows,
            "resolved": [(job, _task_label(job.task_name)) for job in resolved[:RESOLVED_SHOWN]],
            "next": request.get_full_path(),
            "max_tries": settings.TASK_MAX_RETRIES + 1,
        },
    )


@login_required
def failed_jobs_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    """The trust's background jobs that gave up: what, when, why (the kind of error, never its
    text), and for its trustees a button to send each again or dismiss it."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    jobs = list(
        visible_failed_jobs(request.user)
        .filter(trust=trust, state=FailedJob.State.FAILED)
        .select_related("trust")
    )
    return _render(request, jobs, trust, f"Failed jobs · {trust.caption}")


@login_required
def failed_jobs_all_view(request: HttpRequest) -> HttpResponse:
    """Every failed job the user may read: of the trusts whose books they read, and the jobs of
    no trust for one who reads every trust's books."""
    fully, _ = trust_ids(request.user, Action.LEDGER_VIEW)
    if not fully:
        raise PermissionDenied("Trustees and auditors read the failed jobs.")
    jobs = list(
        visible_failed_jobs(request.user)
        .filter(state=FailedJob.State.FAILED)
        .select_related("trust")
    )
    title = "Failed jobs" + (
        " of every trust" if in_every_trust(request.user, Action.LEDGER_VIEW) else ""
    )
    return _render(request, jobs, None, title)


def _job_for(request: HttpRequest, job_id: int) -> FailedJob:
    """The job if the user may read it (else 404); 403 unless they may act on it."""
    job = visible_failed_jobs(request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such failed job.")
    if not can_resolve_failed_job(request.user, job):
        raise PermissionDenied("Only the trust's trustees retry or dismiss its failed jobs.")
    return job


def _back(request: HttpRequest, job: FailedJob) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    if job.trust_id is not None:
        return redirect("failed-jobs", trust_id=job.trust_id)
    return redirect("failed-jobs-all")


@login_required
@require_POST
def failed_job_retry_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    try:
        message = failed_job_retry(actor=request.user, job=job)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        if message is None:
            messages.info(request, "This job was retried or dismissed already.")
        else:
            messages.success(request, f"{_task_label(job.task_name)}: sent again.")
    return _back(request, job)


@login_required
@require_POST
def failed_job_dismiss_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    if failed_job_dismiss(actor=request.user, job=job):
        messages.success(request, f"{_task_label(job.task_name)}: dismissed.")
    else:
        messages.info(request, "This job was retried or dismissed already.")
    return _back(request, job)
