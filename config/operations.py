"""What operators and their tools read (docs/operations.md): ``/healthz``, ``/readyz``,
``/metrics``, and the middleware that writes one log line per request and counts it.

``/healthz`` and ``/readyz`` answer anyone (a load balancer signs in as no one) with states only;
``/readyz`` adds every check's details, and ``/metrics`` answers at all, only to a caller with the
bearer token ``TRUST_METRICS_TOKEN`` (without one set, ``/metrics`` is not there: 404).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.functional import empty
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric

from config.logs import log_context
from config.metrics import exposition, request_observe
from trust.health import FAIL, books_reading, broker_queue_depths, health_report

request_logger = logging.getLogger("trust.request")
# An X-Request-ID from the proxy is kept when it looks like an id; anything else is replaced.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
RETRY_AFTER_SECONDS = 30


# --- one line per request --------------------------------------------------------------------


def _user_id(request: HttpRequest) -> int | None:
    """The signed-in user's id if the request already knows who it is (no query made here:
    a session never read, as for a load balancer, stays unread)."""
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if user.is_authenticated else None


class RequestLogMiddleware:
    """First in ``MIDDLEWARE``: gives the request an id (``X-Request-ID``: the proxy's, or a new
    one; returned on the response), then writes one line when it is answered: method, the URL's
    pattern (never the path as typed, nor its query string), view, status, duration, user id,
    operation id (when the URL names one); and counts it for ``/metrics``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        token = log_context.set({"request_id": request_id})
        start = time.monotonic()
        try:
            response = self.get_response(request)
            seconds = time.monotonic() - start
            response["X-Request-ID"] = request_id
            self.log(request, response, request_id, seconds)
        finally:
            log_context.reset(token)
        return response

    def log(
        self, request: HttpRequest, response: HttpResponseBase, request_id: str, seconds: float
    ) -> None:
        match = request.resolver_match
        view = (match.view_name or "unnamed") if match else "unmatched"
        path = f"/{match.route}" if match else "<unmatched>"
        operation_id = match.kwargs.get("operation_id") if match else None
        status = response.status_code
        duration_ms = round(seconds * 1000, 1)
        user_id = _user_id(request)
        request_observe(view=view, method=request.method or "", status=status, seconds=seconds)
        request_logger.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s %s %.0f ms user=%s request=%s",
            request.method,
            path,
            status,
            duration_ms,
            user_id,
            request_id,
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": path,
                "view": view,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": user_id,
                "operation_id": operation_id,
            },
        )


# --- the token ---------------------------------------------------------------------------------


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def token_holder(request: HttpRequest) -> bool:
    """Whether the request carries ``TRUST_METRICS_TOKEN`` (compared in constant time)."""
    expected = settings.METRICS_TOKEN
    offered = _bearer(request)
    return bool(expected and offered) and hmac.compare_digest(offered.encode(), expected.encode())


# --- health --------------------------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: this process answers. Reads nothing, not even the database."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the database and the broker answer, 503 (with ``Retry-After``) when
    not. Anyone gets those two states; the token's holder gets every check with its details."""
    details = token_holder(request)
    report = health_report(readiness_only=not details)
    response = JsonResponse(report.as_dict(details=details), status=200)
    if report.status == FAIL:
        response.status_code = 503
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# --- metrics -------------------------------------------------------------------------------------


def _gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


class BooksCollector:
    """The database's and the broker's figures, read at each scrape (``trust.health``)."""

    def collect(self) -> Iterator[Metric]:
        try:
            reading = books_reading()
        except DatabaseError:
            yield GaugeMetricFamily("trust_database_up", "1 when the scrape read the database.", 0)
        else:
            yield GaugeMetricFamily("trust_database_up", "1 when the scrape read the database.", 1)
            yield from self.books(reading)
        try:
            depths = broker_queue_depths()
        except Exception:  # Redis unreachable: no figure rather than a wrong one
            depths = None
        if depths is not None:
            queued = GaugeMetricFamily(
                "trust_queue_messages",
                "Messages waiting in each Celery queue (Redis).",
                labels=["queue"],
            )
            for queue, depth in depths.items():
                queued.add_metric([queue], depth)
            yield queued

    @staticmethod
    def books(r: Any) -> Iterator[Metric]:
        def flag(value: bool | None) -> float | None:
            return None if value is None else float(value)

        yield from _gauge(
            "trust_ledger_entries_last_id",
            "Highest journal entry id (entries are never deleted: its rate is entries per second).",
            r.last_entry_id,
        )
        yield from _gauge(
            "trust_ledger_postings_last_id",
            "Highest posting id (postings are never deleted: its rate is postings per second).",
            r.last_posting_id,
        )
        yield from _gauge(
            "trust_audit_unsealed_events", "Audit events awaiting sealing.", r.unsealed_events
        )
        yield from _gauge(
            "trust_audit_checkpoint_age_seconds",
            "Seconds since the latest audit checkpoint was signed.",
            r.checkpoint_age_seconds,
        )
        yield from _gauge(
            "trust_ledger_check_age_seconds",
            "Seconds since the last ledger check of every trust finished.",
            r.ledger_check_age_seconds,
        )
        yield from _gauge(
            "trust_ledger_check_ok",
            "1 when that ledger check passed, 0 when not.",
            flag(r.ledger_check_ok),
        )
        yield from _gauge(
            "trust_audit_verification_age_seconds",
            "Seconds since the last audit verification finished.",
            r.audit_verification_age_seconds,
        )
        yield from _gauge(
            "trust_audit_verification_ok",
            "1 when that audit verification passed, 0 when not.",
            flag(r.audit_verification_ok),
        )


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format, for the holder of ``TRUST_METRICS_TOKEN`` only: 404 while no
    token is set, 401 without the right one."""
    if not settings.METRICS_TOKEN:
        raise Http404
    if not token_holder(request):
        response = HttpResponse(
            "a bearer token is required\n", status=401, content_type="text/plain"
        )
        error = ', error="invalid_token"' if _bearer(request) else ""
        response["WWW-Authenticate"] = f'Bearer realm="metrics"{error}'
        return response
    return HttpResponse(exposition([BooksCollector()]), content_type=CONTENT_TYPE_LATEST)
