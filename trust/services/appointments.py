"""Appointing users to a trust as trustee, auditor or administrator, and ending an appointment.

Both are audit events. An appointment is never deleted; ending it sets its last day. Only an
administrator of the trust (a superuser is one) appoints, or the system itself (``actor=None``: a
command run by an operator, the demo).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Appointment, Trust
from trust.roles import APPOINTED, CASEWORKER, Action


def _changes(appointment: Appointment) -> dict[str, Any]:
    return {
        "user": appointment.user_id,
        "username": appointment.user.get_username(),
        "role": appointment.role,
        "starts_on": appointment.starts_on,
        "ends_on": appointment.ends_on,
        "reference": appointment.reference,
    }


def appointment_create(
    *,
    trust: Trust,
    user: Any,
    role: str,
    actor: Any | None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    reference: str = "",
) -> Appointment:
    """Appoint ``user`` to ``trust`` as ``role`` from ``starts_on`` (today by default). Refuses an
    unknown role, an inactive user, an end before the start, and an appointment to the same role
    that overlaps one already held; a caseworker is placed with a care partner, not appointed."""
    require(
        actor,
        Action.APPOINTMENT_MANAGE,
        trust,
        "Only an administrator of the trust appoints.",
        "not_administrator",
        system=True,
    )
    if role == CASEWORKER:
        raise field_error(
            "role", "A caseworker is placed with a care partner, not appointed.", code="role"
        )
    if role not in APPOINTED:
        raise field_error("role", f"Unknown role {role!r}.", code="role")
    if not getattr(user, "pk", None) or not user.is_active:
        raise field_error("user", "Appoint an active user.", code="user")
    starts_on = starts_on or timezone.localdate()
    if ends_on is not None and ends_on < starts_on:
        raise field_error("ends_on", "The appointment ends before it starts.", code="dates")
    with transaction.atomic():
        overlapping = Appointment.objects.select_for_update().filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on),
            trust=trust,
            user=user,
            role=role,
        )
        if ends_on is not None:
            overlapping = overlapping.filter(starts_on__lte=ends_on)
        if overlapping.exists():
            raise ValidationError(
                "This user already holds this role in this trust for part of that time.",
                code="overlap",
            )
        appointment = Appointment.objects.create(
            trust=trust,
            user=user,
            role=role,
            starts_on=starts_on,
            ends_on=ends_on,
            reference=(reference or "").strip()[:200],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            action="appointment.created",
            actor=actor,
            trust_id=trust.pk,
            object_type="appointment",
            object_id=appointment.pk,
            changes=_changes(appointment),
        )
    return appointment


def appointment_end(
    *, appointment: Appointment, actor: Any | None, ends_on: date | None = None, reason: str = ""
) -> Appointment:
    """End ``appointment`` on ``ends_on`` (today by default; its last day in the role). Ending
    an ended appointment earlier is allowed, later is refused; the start stays."""
    require(
        actor,
        Action.APPOINTMENT_MANAGE,
        appointment.trust,
        "Only an administrator of the trust ends an appointment.",
        "not_administrator",
        system=True,
    )
    ends_on = ends_on or timezone.localdate()
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if ends_on < appointment.starts_on:
            raise field_error("ends_on", "That is before the appointment started.", code="dates")
        if appointment.ends_on is not None and ends_on > appointment.ends_on:
            raise field_error("ends_on", "The appointment has already ended.", code="ended")
        before = appointment.ends_on
        appointment.ends_on = ends_on
        appointment.ended_by = actor if getattr(actor, "pk", None) else None
        appointment.save(update_fields=["ends_on", "ended_by"])
        audit_record(
            action="appointment.ended",
            actor=actor,
            trust_id=appointment.trust_id,
            object_type="appointment",
            object_id=appointment.pk,
            changes={**_changes(appointment), "ends_on": {"before": before, "after": ends_on}},
            reason=(reason or "").strip(),
        )
    return appointment
