"""Sign-in lockout (django-axes, docs/security.md "Sign-in"): the pieces axes is configured with.

Axes counts failed sign-ins in its own table (``axes.AccessAttempt``: short-lived, emptied on a
success and as tries age past the lockout window) and, from ``AXES_FAILURE_LIMIT`` failures for one
username or from one address, refuses every sign-in form (ours and the admin's) for
``AXES_COOLOFF_TIME`` after the last failed try, even with the right password. Here: the client
address it counts by (the API throttles' rule, ``TRUST_NUM_PROXIES``), the page a locked-out person
gets, and whether a failure is the first of its username and address in the window, which the audit
trail asks so that a flood of tries writes a bounded number of events.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_address(request: HttpRequest) -> str | None:
    """The caller's address, read as the API's throttles read it: ``X-Forwarded-For`` as many hops
    back as there are proxies in front (``TRUST_NUM_PROXIES``), else ``REMOTE_ADDR``. With no proxy
    the header is ignored, so a client cannot pick its own address to escape the lockout."""
    proxies = int(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0)
    remote = request.META.get("REMOTE_ADDR")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


def lockout_minutes(request: HttpRequest | None = None) -> int:
    """How long a lockout lasts after the last failed try, in whole minutes."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds() // 60) if cool_off else 0


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The page of a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``): styled like the site, saying
    how to get back in. It never repeats the username typed (people type passwords there)."""
    return render(
        request,
        "registration/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": lockout_minutes(request)},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


def failure_is_first_in_window(request: HttpRequest, credentials: dict[str, Any]) -> bool:
    """Whether axes has counted exactly one failed sign-in for this username from this address
    within the lockout window, that is: the one just made is the first. Asked after axes counted it
    (its receiver is connected first: ``axes`` comes before ``trust`` in ``INSTALLED_APPS``)."""
    counted = (
        AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=getattr(request, "axes_ip_address", None),
            attempt_time__gte=get_cool_off_threshold(request),
        ).aggregate(total=Sum("failures_since_start"))["total"]
        or 0
    )
    return counted == 1
