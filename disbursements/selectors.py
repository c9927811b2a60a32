"""Reads of the disbursements app, scoped at the source by ``trust.access``: a caseworker sees
only their partner's requests, a trustee or an auditor those of their trusts; anyone else
nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from disbursements.models import DisbursementRequest, RequestDocument
from trust.access import visible_documents, visible_requests


def requests_visible_to(user: Any) -> QuerySet[DisbursementRequest]:
    return visible_requests(user)


def document_for(user: Any, uid: Any) -> RequestDocument | None:
    """The document ``uid`` if ``user`` may see its request, else ``None`` (the same answer as
    for a document that does not exist, so a caseworker learns nothing about other partners)."""
    return visible_documents(user).filter(uid=uid).select_related("request").first()
