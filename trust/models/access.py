"""Appointments: who holds which role in which trust, from when to when (docs/roles.md).

Roles are not system-wide: a trustee of one trust is nobody in another. An appointment is written
only by ``trust.services.access`` (recorded in the audit trail) and is never deleted; ending one sets
its end date.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q

from trust import roles
from trust.models.ledger import Trust


class Appointment(models.Model):
    class Role(models.TextChoices):
        TRUSTEE = roles.TRUSTEE, roles.LABELS[roles.TRUSTEE]
        AUDITOR = roles.AUDITOR, roles.LABELS[roles.AUDITOR]
        ADMINISTRATOR = roles.ADMINISTRATOR, roles.LABELS[roles.ADMINISTRATOR]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    trust = models.ForeignKey(Trust, on_delete=models.PROTECT, related_name="appointments")
    role = models.CharField(max_length=16, choices=Role.choices)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True, help_text="Last day in the role.")
    reference = models.CharField(
        max_length=200, blank=True, help_text="The order or resolution that appoints, if any."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "trust_appointment"
        ordering = ["trust_id", "role", "starts_on", "id"]
        indexes = [models.Index(fields=["user", "trust"], name="appointment_user_trust")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="appointment_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(role__in=list(roles.APPOINTED)), name="appointment_role_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.get_role_display().lower()} of {self.trust}"

    def current_on(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)
