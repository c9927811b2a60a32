"""How long a signed-in session lasts (docs/security.md, "Sign-in").

Two limits. Idle: Django's own session expiry, ``SESSION_COOKIE_AGE`` (``TRUST_SESSION_IDLE_MINUTES``)
from the last request, as the session is saved on every request (``SESSION_SAVE_EVERY_REQUEST``).
Absolute: ``SESSION_ABSOLUTE_AGE`` (``TRUST_SESSION_MAX_HOURS``) from the sign-in, however busy the
session is; the sign-in time is kept in the session when the user signs in, and
``SessionLimitMiddleware`` signs out a session older than that and sends the person to the sign-in
page with a message (an API call on such a session simply goes on signed out).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

SIGNED_IN_AT = "signed_in_at"  # seconds since the epoch, in the session


def _signed_in(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session[SIGNED_IN_AT] = int(time.time())


class SessionLimitMiddleware:
    """Signs out a session signed in longer ago than ``SESSION_ABSOLUTE_AGE`` seconds. A session
    from before this rule (no sign-in time kept) counts from its first request after it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            started = request.session.get(SIGNED_IN_AT)
            if not isinstance(started, int):
                request.session[SIGNED_IN_AT] = now
            elif now - started >= settings.SESSION_ABSOLUTE_AGE:
                return self._end(request)
        return self.get_response(request)

    def _end(self, request: HttpRequest) -> HttpResponse:
        logout(request)
        login_url = resolve_url(settings.LOGIN_URL)
        if request.path_info.startswith("/api/") or request.path_info == login_url:
            return self.get_response(request)  # goes on signed out (the API answers 401)
        hours = settings.SESSION_ABSOLUTE_AGE // 3600
        messages.info(
            request,
            f"You were signed out: a session lasts at most {hours} hours. Sign in again.",
        )
        return redirect_to_login(request.get_full_path(), login_url)


def connect() -> None:
    user_logged_in.connect(_signed_in, dispatch_uid="session-signed-in-at")
