"""Who saw this child: each time a person views a beneficiary's page, sub-ledger, statement,
supporting documents or identifying details, one audit event (``beneficiary.viewed``) says who,
when, what and how (docs/security.md, "Who saw this child").

The event goes in the trust's audit trail, so it is sealed and verifiable like every other, and it
costs one INSERT: nothing is locked, nothing else is read (the viewer's role comes from the grants
the request has already read). It never holds identifying data: ``detail`` is an id, a uid or an
account code (pseudonyms only). A reveal of the identifying details is recorded by
``beneficiary_identity_reveal`` itself (``beneficiary.identity_revealed``, with the purpose) and
is not recorded again here; the log of views reads both.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from trust.audit.events import AuditSpec, audit_record, audit_record_many
from trust.audit.selectors import CHILD_VIEWED, viewer_role
from trust.models import Beneficiary

# What was seen: the beneficiary's page, their sub-ledger's history, a statement (a report about
# them), the list of their documents or one document, their identity (a reveal), their record
# through the API.
WHAT = ("page", "account", "statement", "documents", "document", "identity", "api")
VIA = ("web", "api")
DETAIL_MAX = 100

__all__ = [
    "VIA",
    "WHAT",
    "child_view_record",
    "child_view_spec",
    "download_record",
    "viewer_role",
]


def _person(actor: Any) -> bool:
    return bool(getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False))


def child_view_spec(
    *,
    beneficiary_id: int,
    trust_id: int,
    actor: Any,
    what: str,
    detail: str = "",
    via: str = "web",
) -> AuditSpec | None:
    """The event that records one view, for a caller that writes it with an event of its own
    (a document or a report downloaded: both in one statement). ``None`` when there is no person
    to record (no actor, the system, a signed-out user). Refuses (``ValueError``, a programming
    error) a ``what`` or ``via`` outside the fixed sets, or an over-long ``detail``."""
    if what not in WHAT:
        raise ValueError(f"unknown kind of view {what!r}")
    if via not in VIA:
        raise ValueError(f"unknown way of viewing {via!r}")
    detail = str(detail or "")
    if len(detail) > DETAIL_MAX:
        raise ValueError("a view's detail is an id, a uid or a code, not text")
    if not _person(actor):
        return None
    return AuditSpec(
        action=CHILD_VIEWED,
        trust_id=trust_id,
        actor=actor,
        object_type="beneficiary",
        object_id=str(beneficiary_id),
        changes={
            "what": what,
            "detail": detail,
            "via": via,
            "role": viewer_role(actor, trust_id),
        },
        plain=True,
    )


def child_view_record(
    *, beneficiary: Beneficiary, actor: Any, what: str, detail: str = "", via: str = "web"
) -> None:
    """Record that ``actor`` viewed ``what`` of ``beneficiary`` (``detail``: which one, by id,
    uid or code; ``via``: "web" or "api"). Records nothing for no actor or the system: only
    people's views are the log. The caller has already checked that ``actor`` may see it."""
    spec = child_view_spec(
        beneficiary_id=beneficiary.pk,
        trust_id=beneficiary.trust_id,
        actor=actor,
        what=what,
        detail=detail,
        via=via,
    )
    if spec is None:
        return
    with transaction.atomic():
        audit_record(
            action=spec.action,
            actor=actor,
            trust_id=spec.trust_id,
            object_type=spec.object_type,
            object_id=spec.object_id,
            changes=spec.changes,
        )


def download_record(
    download: AuditSpec,
    *,
    beneficiary_id: int | None,
    what: str,
    detail: str,
    via: str = "web",
) -> None:
    """Record a download (``download``: its own event, e.g. ``document.downloaded``) and, when
    the file is about one child, the view of that child it also is (``what``, ``detail``), both
    in one statement."""
    specs = [download]
    if beneficiary_id is not None:
        viewed = child_view_spec(
            beneficiary_id=beneficiary_id,
            trust_id=download.trust_id,
            actor=download.actor,
            what=what,
            detail=detail,
            via=via,
        )
        if viewed is not None:
            specs.append(viewed)
    with transaction.atomic():
        audit_record_many(specs)
