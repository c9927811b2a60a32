"""The site's own middleware: the Content-Security-Policy (django-csp's, with one exception),
``Cache-Control: no-store`` on what a signed-in user is shown (docs/security.md, "Headers"), and
503 with ``Retry-After`` while the database is away (docs/operations.md, "Database faults")."""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template import loader
from django.utils.cache import patch_cache_control

from trust.api.problems import PROBLEM, UNAVAILABLE_DETAIL, problem_body
from trust.db_faults import (
    RETRY_AFTER_SECONDS,
    database_unavailable,
    unavailable_answered,
    unavailable_code,
)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware: ``CONTENT_SECURITY_POLICY`` on every response, except a PDF.

    A PDF opened in the browser (a report with ``?inline=1``) is drawn by Chrome's viewer through
    an ``<embed>`` of its own, which ``object-src 'none'`` blocks (crbug.com/271452): a PDF gets
    ``frame-ancestors 'none'`` alone. It runs no script of ours, so the rest protects nothing."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and response.get("Content-Type", "").startswith("application/pdf"):
            return PolicyParts(config={"frame-ancestors": ["'none'"]}, nonce=parts.nonce)
        return parts


class NoStoreMiddleware:
    """``Cache-Control: private, no-store`` on every response to a signed-in user.

    Whatever a signed-in user is shown may name a child or their money: pages, API answers,
    downloads. None of it may stay in the browser's cache (the Back button after signing out on a
    shared computer) or in a cache on the way. Static files are the same for everyone and are served
    before this runs (WhiteNoise); their path is left alone here too, whoever asks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path.startswith(settings.STATIC_URL):
            return response
        # Read after the view: DRF puts the user of an API token on the request as it authenticates.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


def database_unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """503 with ``Retry-After`` for a request the database could not serve: a problem document
    under ``/api/``, the site's page elsewhere (drawn without the database: no user, no menu).
    Logged here on one line; Django does not log it again with a traceback."""
    unavailable_answered(request, exc)
    response: HttpResponse
    if request.path.startswith("/api/"):
        body = problem_body(
            503, unavailable_code(exc), UNAVAILABLE_DETAIL, retry_after=RETRY_AFTER_SECONDS
        )
        response = JsonResponse(body, status=503, content_type=PROBLEM)
    else:
        page = loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_cache_control(response, no_store=True)
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class DatabaseUnavailableMiddleware:
    """A view that failed because the database is away (refused or dropped connection, a
    restart, too many clients, a conflict retried to the end) answers 503 with ``Retry-After``
    instead of a 500 with a traceback. Django closes the broken connection at the end of the
    request, and the next request connects again (``CONN_HEALTH_CHECKS``): no restart needed.
    The same fault raised by another middleware (loading the session or the user) reaches
    ``config.views.server_error``, which answers the same."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None
