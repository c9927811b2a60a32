"""API tokens: a user creates their own (named, read-only or read-write, expiring within a year)
and revokes them. The token is shown once; only its digest is stored (knox). Both are audit
events, on the global chain, naming the token by its key (its first characters), never by itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import ApiToken

MAX_DAYS = 365


def token_create(*, actor: Any, name: str, scope: str, days: int = 90) -> tuple[ApiToken, str]:
    """A new token for ``actor`` (an active, signed-in user): returns the row and the token itself,
    which is never shown again."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise ValidationError("Sign in to create a token.", code="not_signed_in")
    name = (name or "").strip()
    if not name:
        raise field_error("name", "Name what will use the token.", code="required")
    if len(name) > 100:
        raise field_error("name", "At most 100 characters.", code="too_long")
    if scope not in ApiToken.Scope.values:
        raise field_error(
            "scope", "A token reads (read) or reads and writes (write).", code="bad_scope"
        )
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise field_error("days", f"A token lasts from 1 to {MAX_DAYS} days.", code="bad_expiry")
    with transaction.atomic():
        token, raw = ApiToken.objects.create(
            user=actor, expiry=timedelta(days=days), name=name, scope=scope
        )
        audit_record(
            action="api_token.created",
            actor=actor,
            object_type="api_token",
            object_id=token.token_key,
            changes={"name": name, "scope": scope, "expiry": token.expiry},
        )
    return token, raw


def token_revoke(*, actor: Any, token: ApiToken) -> None:
    """Revoke one of ``actor``'s own tokens: it stops working at once."""
    if getattr(actor, "pk", None) != token.user_id:
        raise ValidationError("Only its owner revokes a token.", code="not_owner")
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(pk=token.pk).delete()
        if deleted:
            audit_record(
                action="api_token.revoked",
                actor=actor,
                object_type="api_token",
                object_id=token.token_key,
                changes={"name": token.name, "scope": token.scope},
            )
