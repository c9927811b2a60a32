"""Supporting documents of a request: quotes, invoices and proof of use, recognised by their
content and stored under a random name.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from disbursements.models import DisbursementRequest, RequestDocument, Status
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.requests import request_event_record
from trust.access import is_trustee
from trust.errors import field_error

# What is accepted, recognised from the first bytes, never from the name a browser sends.
DOCUMENT_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def request_document_add(
    *, request: DisbursementRequest, actor: Any, kind: str, content: bytes, title: str = ""
) -> RequestDocument:
    """Attach a quote, an invoice or a proof of use to a request: a caseworker of its partner or
    a trustee. Only PDF, JPEG and PNG (by content) up to ``UPLOAD_MAX_BYTES``; proof of use only
    once the request is paid. The same file twice on one request returns the first."""
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
    guess = filetype.guess(content[:8192])
    mime = guess.mime if guess is not None else ""
    if mime not in DOCUMENT_TYPES:
        raise field_error("file", "Only PDF, JPEG and PNG files are accepted.", code="bad_type")
    digest = hashlib.sha256(content).hexdigest()
    done = RequestDocument.objects.filter(request=request, sha256=digest).first()
    if done is not None:
        return done
    document = RequestDocument(
        request=request,
        kind=kind,
        content_type=mime,
        size=len(content),
        sha256=digest,
        title=" ".join((title or "").split())[:120],
        uploaded_by=actor,
    )
    # A random name: nothing about the child, the partner or the sender in the storage path.
    document.file.save(
        f"{uuid.uuid4().hex}.{DOCUMENT_TYPES[mime]}", ContentFile(content), save=False
    )
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
