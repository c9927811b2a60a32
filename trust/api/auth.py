"""Who calls: the browser's session (with its CSRF check), or a user's API token (knox: only a
SHA-512 digest of it is stored; it expires; ``Authorization: Token <token>``). A read-only token
cannot write, whatever its user may do; each use is attributed in the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from trust.audit.canonical import audit_via
from trust.models import ApiToken

# ``last_used_at`` is written at most this often (a busy script would otherwise write per call).
TOUCH_EVERY = timedelta(minutes=1)


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's check (digest, expiry, an active user), then: the token's uses are attributed."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, ApiToken]:
        user, auth_token = super().authenticate_credentials(token)
        now = timezone.now()
        if auth_token.last_used_at is None or now - auth_token.last_used_at > TOUCH_EVERY:
            ApiToken.objects.filter(pk=auth_token.pk).update(last_used_at=now)
        audit_via.set(f"token:{auth_token.token_key}")
        return user, auth_token

    def authenticate_header(self, request: Any) -> str:
        return "Token"

    def _cleanup_token(self, auth_token: ApiToken) -> bool:
        """Whether this token has expired (then it is refused). knox's own version also reads
        and deletes the user's other expired tokens on every call: a query per call, and rows
        gone without a trace; expired tokens stay listed on the tokens page instead."""
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()


class TokenScope(BasePermission):
    """A read-only token reads; only a read-write token (or the session) writes."""

    message = "This token is read-only: create a read-write token to change anything."
    code = "token_read_only"

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        writing = request.method not in SAFE_METHODS
        if writing and isinstance(token, ApiToken) and not token.writes:
            raise exceptions.PermissionDenied(self.message, code=self.code)
        return True
