"""Notices: scheduled messages (a child reaching majority, a partner's vetting expiring), each sent
to each person once. Written only by ``trust.services.notices``."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trust.models.ledger import Trust


class Notice(models.Model):
    class Kind(models.TextChoices):
        MAJORITY = "majority", "Beneficiary reaching majority"
        VETTING = "vetting", "Care partner's vetting expiring"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="What it is about, e.g. '<id>:<date>'.")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    trust = models.ForeignKey(Trust, null=True, blank=True, on_delete=models.PROTECT)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trust_notice"
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "recipient"], name="notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.recipient_id}"
