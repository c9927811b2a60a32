"""The auditor's pages: browse and filter the audit log, the latest signed checkpoint and the
public key, start a verification and watch it run, download a bundle. Trustees and auditors
(and superusers) only; anyone else gets 403."""

from __future__ import annotations

import json
from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from trust.access import audits_everything, trust_ids, visible_audit_events, visible_trusts
from trust.audit.export import audit_bundle_download, checkpoint_json, trusted_keys_json
from trust.audit.models import AuditVerification
from trust.audit.runs import audit_verification_start
from trust.audit.selectors import (
    audit_actions,
    audit_event_list,
    audit_rows,
    checkpoint_latest,
    checkpoint_status,
)
from trust.roles import Action


def _require_auditor(request: HttpRequest) -> None:
    fully, _ = trust_ids(request.user, Action.AUDIT_VIEW)
    if not fully:
        raise PermissionDenied("The audit trail is for the trusts' trustees and auditors.")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    q = request.GET
    trust_id = q.get("trust", "")
    filters = {
        "trust_id": int(trust_id) if trust_id.isdigit() else None,
        "action": q.get("action", "").strip(),
        "actor": q.get("actor", "").strip(),
        "since": _date(q.get("since", "")),
        "until": _date(q.get("until", "")),
    }
    visible = visible_audit_events(request.user)
    page = Paginator(audit_event_list(events=visible, **filters), 50).get_page(q.get("page"))
    status = checkpoint_status()
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "trust/audit_log.html",
        {
            "page": page,
            "rows": audit_rows(page.object_list),
            "filters": filters,
            "query": query.urlencode(),
            "trusts": visible_trusts(request.user, Action.AUDIT_VIEW).order_by("caption"),
            "actions": audit_actions(visible),
            "checkpoint": status.checkpoint,
            "status": status,
            "keys": trusted_keys_json(),
            "total": visible.count(),
            "whole_log": audits_everything(request.user),
            "runs": AuditVerification.objects.select_related("requested_by")[:5],
        },
    )


@login_required
@require_POST
def audit_verify_start(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    run = audit_verification_start(actor=request.user)
    return redirect("audit-verification", operation_id=run.operation_id)


@login_required
def audit_verification(request: HttpRequest, operation_id: str) -> HttpResponse:
    _require_auditor(request)
    run = get_object_or_404(AuditVerification, operation_id=operation_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(
            {
                "status": run.status,
                "percent": run.percent,
                "done": run.done,
                "total": run.total,
                "ok": run.ok,
                "problems": run.problems[:10],
            }
        )
    return render(request, "trust/audit_verification.html", {"run": run})


@login_required
def audit_checkpoint_latest(request: HttpRequest) -> HttpResponse:
    """The latest signed tree head as JSON: what an auditor keeps to prove a later rewrite."""
    _require_auditor(request)
    checkpoint = checkpoint_latest()
    if checkpoint is None:
        return JsonResponse({"error": "no checkpoint yet"}, status=404)
    response = JsonResponse(checkpoint_json(checkpoint), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="checkpoint-{checkpoint.size}.json"'
    return response


@login_required
def audit_bundle(request: HttpRequest) -> HttpResponse:
    """The audit bundle as a zip, with the standalone verifier. The download is recorded. It
    holds every trust's events, so only a reader of every trust's trail gets it (404 otherwise)."""
    _require_auditor(request)
    try:
        buffer, name = audit_bundle_download(actor=request.user)
    except PermissionError as refused:
        raise Http404("No bundle for you.") from refused
    return FileResponse(buffer, as_attachment=True, filename=name)


@login_required
def audit_event(request: HttpRequest, event_id: int) -> HttpResponse:
    """One event whole: its summary, every field as recorded (the hashed bytes, decoded), and
    its place in its chain and in the log. Another trust's event is "not found"."""
    _require_auditor(request)
    event = visible_audit_events(request.user).filter(pk=event_id).first()
    if event is None:
        raise Http404("No such event.")
    [row] = audit_rows([event], whole=True)
    return render(
        request,
        "trust/audit_event.html",
        {
            "row": row,
            "event": event,
            "pretty": json.dumps(row.data, indent=1, sort_keys=True, ensure_ascii=False),
            "hash": bytes(event.hash).hex() if event.hash is not None else "",
        },
    )
