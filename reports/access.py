"""Who sees which reports, decided at the source (one filter), like the requests' selector:
trustees and auditors see every report; a caseworker sees only the statements of their partner's
beneficiaries and the remittance advices of their partner's payments; anyone else nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from disbursements.models import Caseworker
from reports.models import Kind, Report
from trust.roles import reads_everything


def can_request(user: Any) -> bool:
    return reads_everything(user)


def reports_visible_to(user: Any) -> QuerySet[Report]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Report.objects.none()
    if reads_everything(user):
        return Report.objects.all()
    partner_id = (
        Caseworker.objects.filter(user_id=user.pk).values_list("partner_id", flat=True).first()
    )
    if partner_id is None:
        return Report.objects.none()
    return Report.objects.filter(
        Q(kind=Kind.BENEFICIARY_STATEMENT, beneficiary__care_partner_id=partner_id)
        | Q(kind=Kind.REMITTANCE_ADVICE, payment__request__partner_id=partner_id)
    )
