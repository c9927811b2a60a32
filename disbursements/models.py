"""Care partners (NGOs). Vetting, agreements, payout accounts, care plans and the disbursement
lifecycle arrive with the disbursements issue; the partner exists now because a beneficiary
records the partner currently responsible for them."""

from __future__ import annotations

from django.db import models


class CarePartner(models.Model):
    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "disbursements_care_partner"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
