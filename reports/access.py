"""Who sees which reports, decided at the source (one filter), like the requests' selector:
trustees and auditors see every report; a caseworker sees only the statements of their partner's
beneficiaries and the remittance advices of their partner's payments; anyone else nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from disbursements.models import Caseworker
from reports.models import Kind, Report

STAFF_GROUPS = ("trustee", "auditor")


def is_staff_reader(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or user.groups.filter(name__in=STAFF_GROUPS).exists())


def can_request(user: Any) -> bool:
    return is_staff_reader(user)


def reports_visible_to(user: Any) -> QuerySet[Report]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Report.objects.none()
    if is_staff_reader(user):
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
