"""Caseworkers: placing a user with a care partner, and finding the partner a user works for."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from disbursements.models import CarePartner, Caseworker
from disbursements.services.partners import care_partner_audit_record
from trust.access import holds
from trust.errors import field_error
from trust.roles import TRUSTEE


def caseworker_add(*, partner: CarePartner, user: Any, actor: Any) -> Caseworker:
    """Make ``user`` a caseworker of ``partner``. A user works for one partner; a trustee cannot
    be a caseworker (segregation of duties). Only a trustee places caseworkers."""
    if not holds(actor, TRUSTEE):
        raise ValidationError("Only a trustee places caseworkers.", code="not_trustee")
    if holds(user, TRUSTEE):
        raise field_error("user", "A trustee cannot be a caseworker.", code="is_trustee")
    existing = Caseworker.objects.filter(user=user).first()
    if existing is not None:
        if existing.partner_id != partner.pk:
            raise field_error(
                "user", "This user is a caseworker of another partner.", code="other_partner"
            )
        return existing
    with transaction.atomic():
        caseworker = Caseworker.objects.create(user=user, partner=partner)
        care_partner_audit_record(
            partner,
            "care_partner.caseworker_added",
            actor,
            {"user": {"id": user.pk, "username": user.get_username()}},
        )
    return caseworker


def caseworker_partner(user: Any) -> CarePartner | None:
    """The partner an active caseworker works for (``None`` for anyone else)."""
    if not getattr(user, "is_active", False):
        return None
    caseworker = Caseworker.objects.filter(user_id=getattr(user, "pk", None)).first()
    return caseworker.partner if caseworker else None
