"""Supporting documents of a request: quotes, invoices and proof of use, recognised by their
content, checked or cleaned (``uploads``: no active PDF content, no polyglots, images re-encoded
without metadata) and stored under a random name; every download recorded.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from disbursements.models import DisbursementRequest, RequestDocument, Status
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.requests import request_event_record
from disbursements.services.uploads import DOCUMENT_TYPES, upload_clean
from trust.access import is_trustee
from trust.audit.events import audit_record
from trust.errors import field_error

__all__ = ["DOCUMENT_TYPES", "document_download_record", "request_document_add"]


def request_document_add(
    *, request: DisbursementRequest, actor: Any, kind: str, content: bytes, title: str = ""
) -> RequestDocument:
    """Attach a quote, an invoice or a proof of use to a request: a caseworker of its partner or
    a trustee. Only PDF, JPEG and PNG (by content) up to ``UPLOAD_MAX_BYTES``, as
    ``upload_clean`` accepts them: a PDF without active content or another format hidden in it,
    an image re-encoded (what is stored, sized and hashed is the re-encoded file). Proof of use
    only once the request is paid. The same file twice on one request returns the first: the
    SHA-256 is of the stored bytes, and re-encoding the same image gives the same bytes."""
    partner = caseworker_partner(actor)
    if not (
        is_trustee(actor, request.trust_id)
        or (partner is not None and partner.pk == request.partner_id)
    ):
        raise ValidationError("You cannot add documents to this request.", code="not_allowed")
    if kind not in RequestDocument.Kind.values:
        raise field_error("kind", f"unknown kind of document {kind!r}", code="bad_kind")
    if kind == RequestDocument.Kind.PROOF and request.status not in (
        Status.PAID,
        Status.ACKNOWLEDGED,
    ):
        raise field_error("kind", "Proof of use comes after the payment.", code="not_paid")
    if not content:
        raise field_error("file", "The file is empty.", code="empty")
    if len(content) > settings.UPLOAD_MAX_BYTES:
        raise field_error(
            "file",
            f"The file is larger than {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MiB.",
            code="too_large",
        )
    clean = upload_clean(content)
    content = clean.content
    digest = hashlib.sha256(content).hexdigest()
    done = RequestDocument.objects.filter(request=request, sha256=digest).first()
    if done is not None:
        return done
    document = RequestDocument(
        request=request,
        kind=kind,
        content_type=clean.content_type,
        size=len(content),
        sha256=digest,
        title=" ".join((title or "").split())[:120],
        uploaded_by=actor,
    )
    # A random name: nothing about the child, the partner or the sender in the storage path.
    document.file.save(f"{uuid.uuid4().hex}.{clean.extension}", ContentFile(content), save=False)
    try:
        with transaction.atomic():
            document.save()
            request_event_record(request, f"document_{kind}", actor, request.status, document.title)
    except IntegrityError:
        document.file.delete(save=False)
        done = RequestDocument.objects.filter(request=request, sha256=digest).first()
        if done is None:
            raise
        return done
    except Exception:
        document.file.delete(save=False)
        raise
    return document


def document_download_record(*, document: RequestDocument, actor: Any) -> None:
    """Record that ``actor`` downloaded ``document`` (who read what, for the auditors), by its
    uid: never its title or file name, which may name a child. The page and the API both call it
    before they send the file."""
    with transaction.atomic():
        audit_record(
            action="document.downloaded",
            actor=actor,
            trust_id=document.request.trust_id,
            object_type="request_document",
            object_id=document.uid,
            changes={
                "request": document.request_id,
                "kind": document.kind,
                "sha256": document.sha256,
            },
        )
