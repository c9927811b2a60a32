"""The one serialisation of the audit trail that is hashed: canonical JSON (sorted keys, no
spaces, ASCII). Plain Python and py-moneyed, no Django, so reports and the posting service use
the same bytes."""

from __future__ import annotations

import contextvars
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from moneyed import Money

VERSION = 1

# --- canonical serialisation ---------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dates and times in ISO 8601 (times in UTC), money as
    ``{"amount": "12.50", "currency": "USD"}``, decimals and UUIDs as strings, sets sorted.
    Floats are refused: nothing near an amount is a float."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("no floats in the audit trail: use Decimal or minor units")
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency.code}
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    raise TypeError(f"cannot put a {type(value).__name__} in the audit trail")


def canonical(value: Any) -> bytes:
    """The one serialisation that is hashed: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def canonical_plain(value: Any) -> bytes:
    """``canonical`` for a value built only of str, int, bool, None, lists and dicts (the
    posting service's events, on its hot path): the same bytes, without the conversion pass."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


# How the actor reached us when it was not the browser's session: "token:<its key>" for a call
# with an API token (``trust.api.auth``), so each use of a token can be told apart in the trail.
# ``AuditActorMiddleware`` clears it at the end of every request.
audit_via: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_via", default=None)


def actor_ref(actor: Any | None) -> dict[str, Any] | None:
    if not getattr(actor, "pk", None):
        return None
    ref = {"id": actor.pk, "username": actor.get_username()}
    via = audit_via.get()
    if via:
        ref["via"] = via
    return ref
