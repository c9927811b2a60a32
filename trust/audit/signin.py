"""Audit events for users, roles and sign-ins, which Django's auth app changes on its own (the
admin, ``createsuperuser``, the login view): its signals are the one place to see them. Business
rules never live here; these receivers only record.

Events go on the global chain. The actor of a change made through a web request is the signed-in
user (``AuditActorMiddleware``); a command or a migration has none. Passwords and their hashes
are never recorded, nor is the text typed at a failed sign-in (people type passwords there): only a
keyed hash of the normalised username (HMAC-SHA256 under a key of its own, ``trust.crypto``), enough
to count tries per username, the address and the form. A flood cannot grow the trail without bound:
django-axes counts every try in its own short-lived table (``trust.lockout``); the trail keeps the
first failure of each username from each address in a lockout window, and one event when a lockout
starts (docs/security.md, "Sign-in").
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.http import HttpRequest, HttpResponse

from trust.audit.canonical import audit_via
from trust.audit.events import audit_record
from trust.crypto import blind_index
from trust.lockout import failure_is_first_in_window, lockout_minutes

_actor: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_actor", default=None)
USER_FIELDS = ("username", "is_active", "is_staff", "is_superuser")


class AuditActorMiddleware:
    """Remembers who is signed in for the length of a request, for events recorded by signals."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        token = _actor.set(user if getattr(user, "is_authenticated", False) else None)
        via = audit_via.set(None)
        try:
            return self.get_response(request)
        finally:
            audit_via.reset(via)
            _actor.reset(token)


def _record(action: str, actor: Any, user_id: int | None, changes: dict[str, Any]) -> None:
    with transaction.atomic():  # its own transaction, or a savepoint in the caller's
        audit_record(
            action=action,
            actor=actor,
            object_type="user",
            object_id=user_id or "",
            changes=changes,
        )


def _user_saved(sender: Any, instance: Any, created: bool, update_fields: Any, **kw: Any) -> None:
    if update_fields and set(update_fields) <= {"last_login"}:
        return  # every sign-in saves last_login; the sign-in is its own event
    changes = {name: getattr(instance, name) for name in USER_FIELDS}
    _record("user.created" if created else "user.changed", _actor.get(), instance.pk, changes)


def _groups_changed(sender: Any, instance: Any, action: str, pk_set: Any, **kw: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if isinstance(instance, Group):  # group.user_set.add(...): the users changed
        users, groups = sorted(pk_set or []), [instance.name]
    else:
        users = [instance.pk]
        groups = sorted(Group.objects.filter(pk__in=pk_set or []).values_list("name", flat=True))
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    for user_id in users:
        _record("user.roles_changed", _actor.get(), user_id, {verb: groups})


def _permissions_changed(sender: Any, instance: Any, action: str, pk_set: Any, **kw: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"} or not isinstance(instance, Group):
        return
    with transaction.atomic():
        audit_record(
            action="role.permissions_changed",
            actor=_actor.get(),
            object_type="group",
            object_id=instance.pk,
            changes={"group": instance.name, action.removeprefix("post_"): sorted(pk_set or [])},
        )


def _logged_in(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    _record("user.logged_in", user, user.pk, {})


def _logged_out(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    if user is not None:
        _record("user.logged_out", user, user.pk, {})


def username_digest(typed: str) -> str:
    """HMAC-SHA256 (hex) of a username as typed at a sign-in, normalised (casefolded, accents and
    extra spaces dropped), under the sign-in purpose's own key: equal for the same username, and
    without the key nothing can be learnt from it. Empty for an empty username."""
    try:
        return blind_index(typed, purpose="signin-username")
    except ValueError:  # nothing but spaces
        return ""


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any) -> None:
    """A failed sign-in: the first for its username and address in the lockout window, or the one
    that starts a lockout (axes has already counted it); nothing for the tries in between or during
    a lockout, which only axes' table counts."""
    changes = {
        "username_hmac": username_digest(str(credentials.get("username") or "")),
        "address": str(getattr(request, "axes_ip_address", None) or ""),
        "form": str(getattr(request, "path_info", "") or "")[:200],
    }
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:  # axes did not count this one (switched off): record each
        _record("user.login_failed", None, None, changes)
    elif failures >= settings.AXES_FAILURE_LIMIT:
        if failures == settings.AXES_FAILURE_LIMIT:
            changes |= {"failures": failures, "locked_minutes": lockout_minutes(request)}
            _record("user.locked_out", None, None, changes)
    elif failure_is_first_in_window(request, credentials):
        _record("user.login_failed", None, None, changes)


def connect() -> None:
    user_model = get_user_model()
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="audit-user-saved")
    m2m_changed.connect(
        _groups_changed, sender=user_model.groups.through, dispatch_uid="audit-user-groups"
    )
    m2m_changed.connect(
        _permissions_changed, sender=Group.permissions.through, dispatch_uid="audit-group-perms"
    )
    user_logged_in.connect(_logged_in, dispatch_uid="audit-logged-in")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logged-out")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
