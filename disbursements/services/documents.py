"""Supporting documents of a request: quotes, invoices and proof of use, recognised by their
content, checked or cleaned (``uploads``: no active PDF content, no polyglots, images re-encoded
without metadata) and stored under a random name; every download recorded.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import IntegrityError, transaction

from disbursements.models import DisbursementRequest, RequestDocument, Status
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.requests import request_event_record
from disbursements.services.uploads import DOCUMENT_TYPES, upload_clean
from trust import filecrypt
from trust.access import is_trustee
from trust.audit.events import AuditSpec
from trust.errors import field_error
from trust.models import IdentityErased
from trust.services.child_views import download_record
from trust.services.keys import KeyRotationResult

__all__ = [
    "DOCUMENT_TYPES",
    "DocumentErased",
    "document_download_name",
    "document_download_record",
    "document_seal_stored",
    "document_stream",
    "request_document_add",
]


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
    # Judged on the child as stored now: the caller's copy may predate an erasure.
    request.beneficiary.refresh_from_db(fields=["data_key_token", "identity_erased_at"])
    request.beneficiary.forget_data_key()
    if request.beneficiary.erased:
        raise ValidationError(
            "This child's identifying data was erased; no document can be added.", code="erased"
        )
    document = RequestDocument(
        request=request,
        kind=kind,
        content_type=clean.content_type,
        size=len(content),
        sha256=digest,
        title=" ".join((title or "").split())[:120],
        uploaded_by=actor,
        sealed=True,
    )
    # A random name: nothing about the child, the partner or the sender, not even the type, in
    # the storage path. The file is sealed (encrypted, streamed) under a key derived from the
    # child's data key; the SHA-256 above is of the plaintext, so duplicates are still found.
    document.file.save(f"{uuid.uuid4().hex}.sealed", _sealed_file(document, content), save=False)
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


def _document_key(document: RequestDocument) -> bytes:
    return document.request.beneficiary.data_key(create=True).subkey(document.seal_context)


def _sealed_file(document: RequestDocument, content: bytes | BinaryIO) -> File:
    """The sealed form of ``content`` in a temporary file (spilled to disk past 1 MiB)."""
    source = io.BytesIO(content) if isinstance(content, bytes) else content
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (File owns it)
    for piece in filecrypt.seal(source, key=_document_key(document), context=document.seal_context):
        spool.write(piece)
    spool.seek(0)
    return File(spool)


class DocumentErased(Exception):
    """The document's child had their identifying data erased: the file cannot be opened."""


def document_stream(document: RequestDocument) -> Iterator[bytes]:
    """The document's content, piece by piece (opened from its sealed form). The whole file is
    authenticated before the first piece is given, so an altered file is an error, never a
    download cut short. ``DocumentErased`` once its child's data key was destroyed."""
    if not document.sealed:  # stored before documents were sealed, until rotate_field_keys
        return _plain_pieces(document)
    try:
        key = _document_key(document)
    except IdentityErased:
        raise DocumentErased(
            "This document was erased with the child's identifying data."
        ) from None
    with document.file.open("rb") as handle:
        for _piece in filecrypt.unseal(handle, key=key, context=document.seal_context):
            pass
    return _unsealed_pieces(document, key)


def _unsealed_pieces(document: RequestDocument, key: bytes) -> Iterator[bytes]:
    with document.file.open("rb") as handle:
        yield from filecrypt.unseal(handle, key=key, context=document.seal_context)


def _plain_pieces(document: RequestDocument) -> Iterator[bytes]:
    with document.file.open("rb") as handle:
        yield from iter(lambda: handle.read(filecrypt.SEGMENT), b"")


def document_download_name(document: RequestDocument) -> str:
    """The name a download is saved under: ids and kind only, never the title."""
    return f"request-{document.request_id}-{document.kind}-{document.pk}.{document.extension}"


def document_seal_stored(document: RequestDocument) -> bool:
    """Seal a document stored in clear before documents were encrypted (``rotate_field_keys``):
    the sealed copy is written under a new name, the row switched to it only if it still names
    the clear file (compare-and-set), then the clear file deleted. Safe to interrupt and run
    again: at worst a sealed copy is left unused. Returns whether this call sealed it."""
    if document.sealed or RequestDocument.objects.filter(pk=document.pk, sealed=True).exists():
        return False
    with document.file.storage.open(document.file.name, "rb") as handle:
        sealed = _sealed_file(document, handle)
        new_name = document.file.storage.save(f"requests/{uuid.uuid4().hex}.sealed", sealed)
    old_name = document.file.name
    switched = RequestDocument.objects.filter(pk=document.pk, sealed=False, file=old_name).update(
        file=new_name, sealed=True
    )
    if switched:
        document.file.storage.delete(old_name)
    else:
        document.file.storage.delete(new_name)
    return bool(switched)


def documents_seal_stored(batch_size: int, dry_run: bool) -> KeyRotationResult:
    """Seal every document still stored in clear, a batch at a time (``rotate_field_keys``).
    A file that cannot be read is reported and left as it is; the run goes on."""
    result = KeyRotationResult()
    after = 0
    while True:
        batch = list(
            RequestDocument.objects.filter(sealed=False, pk__gt=after)
            .select_related("request__beneficiary")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return result
        for document in batch:
            result.rows += 1
            if dry_run:
                result.rotated += 1
                continue
            try:
                result.rotated += document_seal_stored(document)
            except (OSError, IdentityErased) as exc:
                result.failures.append(f"document {document.uid}: {type(exc).__name__}")
        after = batch[-1].pk


def document_download_record(*, document: RequestDocument, actor: Any, via: str = "web") -> None:
    """Record that ``actor`` downloaded ``document`` (who read what, for the auditors), by its
    uid: never its title or file name, which may name a child. A document hangs off one child's
    request, so it is also a view of the child, in the log of who saw them
    (``beneficiary.viewed``, what "document", the document's uid; both events in one statement).
    The page and the API (``via="api"``) both call it before they send the file."""
    request = document.request
    download_record(
        AuditSpec(
            action="document.downloaded",
            actor=actor,
            trust_id=request.trust_id,
            object_type="request_document",
            object_id=str(document.uid),
            changes={
                "request": document.request_id,
                "kind": document.kind,
                "sha256": document.sha256,
            },
        ),
        beneficiary_id=request.beneficiary_id,
        what="document",
        detail=str(document.uid),
        via=via,
    )
