"""``Idempotency-Key`` on a POST: the first response (status and body) is kept per user and key for
at least a day (``idempotency_purge`` removes older ones); a retry with the same key and the same
body gets it again and writes nothing; the same key with another body is refused (422).

The first request inserts the key's row and keeps its transaction open while it works: a
concurrent retry's insert waits on the unique key (PostgreSQL) or on the database (SQLite), then
finds the committed row and replays it. A refusal (4xx) rolls everything back, the key included,
so a corrected retry may use it again. The services get an operation key derived from the
user and the key too (``operation_key``): the effect is single even if this row were lost."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions

from trust.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=48)


class IdempotencyConflict(exceptions.APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was used with another request body: use a new key for a new request."
    )


class Replay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


def _fingerprint(request: Any) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    content_type = request.content_type or ""
    if content_type.startswith("multipart/"):
        # A retried upload gets a new multipart boundary: compare what was sent, not its wrapping.
        fields = sorted(
            (k, v) for k in request.data for v in request.data.getlist(k) if isinstance(v, str)
        )
        files = sorted(
            (name, f.name, hashlib.sha256(b"".join(f.chunks())).hexdigest())
            for name in request.FILES
            for f in request.FILES.getlist(name)
        )
        for f in (f for name in request.FILES for f in request.FILES.getlist(name)):
            f.seek(0)
        digest.update(json.dumps([fields, files]).encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def key_of(request: Any) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise exceptions.ValidationError(
            {HEADER: ["A key is 1 to 255 printable characters (a UUID is a good one)."]}
        )
    return key


def claim(request: Any) -> IdempotencyRecord | None:
    """Insert the key's row (status 0: in progress) or raise ``Replay``/``IdempotencyConflict``."""
    key = key_of(request)
    if key is None:
        return None
    fingerprint = _fingerprint(request)
    now = timezone.now()
    # One statement, no savepoint: on PostgreSQL a concurrent first call's uncommitted row makes
    # this wait, then find it committed (nothing inserted) and replay it below.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO trust_idempotency"
            " (user_id, key, fingerprint, status, body, content_type, location, created_at)"
            " VALUES (%s, %s, %s, 0, %s, '', '', %s)"
            " ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [request.user.pk, key, fingerprint, b"", now],
        )
        row = cursor.fetchone()
    if row is not None:
        return IdempotencyRecord(
            pk=row[0], user=request.user, key=key, fingerprint=fingerprint, status=0, created_at=now
        )
    record = IdempotencyRecord.objects.get(user=request.user, key=key)
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    raise Replay(record)


def keep(record: IdempotencyRecord, response: Any) -> None:
    response.render()
    record.status = response.status_code
    record.body = bytes(response.content)
    record.content_type = response.get("Content-Type", "application/json")
    record.location = response.get("Location", "")
    record.save(update_fields=["status", "body", "content_type", "location"])


def forget(record: IdempotencyRecord) -> None:
    """A refused call keeps nothing, its key neither (for views not wrapped in a transaction)."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def replayed(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    if record.location:
        response["Location"] = record.location
    return response


def operation_key(request: Any, what: str) -> str:
    """The services' idempotency key for this call: from the user's ``Idempotency-Key`` (the same
    effect on a retry), else a new one (each call is its own operation)."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return f"api:{what}:{uuid.uuid4()}"
    return "api:" + hashlib.sha256(f"{request.user.pk}:{what}:{key}".encode()).hexdigest()[:40]


def idempotency_purge(older_than: timedelta = KEEP) -> int:
    """Forget the responses kept longer than ``older_than`` (beat runs it daily)."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
