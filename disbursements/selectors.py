"""Reads of the disbursements app, scoped at the source: a caseworker sees only their partner's
requests, trustees and auditors every request; anyone else nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from disbursements.models import Caseworker, DisbursementRequest, RequestDocument
from trust.roles import READERS, has_role


def requests_visible_to(user: Any) -> QuerySet[DisbursementRequest]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return DisbursementRequest.objects.none()
    if has_role(user, *READERS):
        return DisbursementRequest.objects.all()
    partner_id = (
        Caseworker.objects.filter(user_id=user.pk).values_list("partner_id", flat=True).first()
    )
    if partner_id is None:
        return DisbursementRequest.objects.none()
    return DisbursementRequest.objects.filter(partner_id=partner_id)


def document_for(user: Any, uid: Any) -> RequestDocument | None:
    """The document ``uid`` if ``user`` may see its request, else ``None`` (the same answer as
    for a document that does not exist, so a caseworker learns nothing about other partners)."""
    return (
        RequestDocument.objects.filter(uid=uid, request__in=requests_visible_to(user))
        .select_related("request")
        .first()
    )
