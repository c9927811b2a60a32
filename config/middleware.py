"""The site's own middleware: the Content-Security-Policy (django-csp's, with one exception) and
``Cache-Control: no-store`` on what a signed-in user is shown (docs/security.md, "Headers")."""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


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
