"""Reads of the audit trail for the auditor's pages: events filtered and decoded from their hashed
bytes, the actions recorded, the latest signed checkpoint; and, per child, who saw what and when
(``child_view_list``, ``child_view_rows``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from trust.access import roles_in
from trust.audit.models import AuditCheckpoint, AuditEvent
from trust.audit.readable import Summary, summarise
from trust.audit.witness import WitnessedHead, witness_latest, witness_modes
from trust.models import Beneficiary, Trust
from trust.roles import ADMINISTRATOR, AUDITOR, CASEWORKER, LABELS, TRUSTEE


@dataclass(frozen=True)
class AuditRow:
    """An event as the auditor's page shows it: decoded from its hashed bytes, not its columns."""

    id: int
    chain: str
    seq: int | None
    sealed: bool
    data: dict
    size: int = 0  # bytes of the record
    whole: bool = True  # False: ``changes`` was too large to decode for a list

    @property
    def summary(self) -> Summary:
        if not self.whole:
            return Summary([("Changes", f"{self.size / 1024:,.0f} KiB recorded")], more=True)
        changes = self.data.get("changes")
        return summarise(changes if isinstance(changes, dict) else {"value": changes})


# A list decodes an event whole up to this size; beyond it, everything but its ``changes``.
LIST_DECODE_BYTES = 8 * 1024


def _decode_for_list(data: bytes) -> tuple[dict, bool]:
    """The event's record, decoded from its hashed bytes. A large one (a receipt shared among
    thousands of children) is decoded without its ``changes``: the record is canonical JSON
    (keys sorted: action, actor, at, changes, object, reason, trust, v; quotes inside strings
    escaped), so the text before the first ``,"changes":`` and after the last ``,"object":``
    are themselves its other fields."""
    if len(data) <= LIST_DECODE_BYTES:
        return json.loads(data), True
    start = data.find(b',"changes":')
    end = data.rfind(b',"object":')
    if start < 0 or end < start:
        return json.loads(data), True
    head = json.loads(data[:start] + b"}")
    tail = json.loads(b"{" + data[end + 1 :])
    return {**head, **tail}, False


def audit_event_list(
    *,
    events: QuerySet[AuditEvent] | None = None,
    trust_id: int | None = None,
    action: str = "",
    actor: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet:
    """``events`` (the ones the reader may see: ``trust.access.visible_audit_events``), newest
    first, filtered by trust, action (prefix), actor (username), dates."""
    events = (AuditEvent.objects.all() if events is None else events).order_by("-id")
    if trust_id:
        events = events.filter(trust_id=trust_id)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        ids = get_user_model().objects.filter(username=actor).values_list("pk", flat=True)
        events = events.filter(actor_id__in=list(ids))
    if since:
        events = events.filter(at__date__gte=since)
    if until:
        events = events.filter(at__date__lte=until)
    return events


def audit_rows(events: Iterable, *, whole: bool = False) -> list[AuditRow]:
    """Events as the pages show them; for a list (``whole=False``) a large event's ``changes``
    stay undecoded (its own page shows them)."""
    rows = []
    for e in events:
        data = bytes(e.data)
        decoded, complete = (json.loads(data), True) if whole else _decode_for_list(data)
        rows.append(
            AuditRow(
                id=e.pk,
                chain=f"trust:{e.trust_id}" if e.trust_id else "global",
                seq=e.seq,
                sealed=e.hash is not None,
                data=decoded,
                size=len(data),
                whole=complete,
            )
        )
    return rows


def audit_actions(events: QuerySet[AuditEvent] | None = None) -> list[str]:
    """The actions recorded among ``events`` (all by default), for the filter."""
    events = AuditEvent.objects.all() if events is None else events
    return list(events.order_by("action").values_list("action", flat=True).distinct())


def checkpoint_latest() -> AuditCheckpoint | None:
    """The signed tree head of the largest log, if any."""
    return AuditCheckpoint.objects.order_by("-size", "-id").first()


# Checkpoints are signed every minute when there are new events: older than this with events
# waiting, the schedule is not running (or signing was refused).
CHECKPOINT_LATE = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckpointStatus:
    """How fresh the signed state is, for the audit page: the latest checkpoint, how long ago it
    was signed, how many events it does not cover yet, and the latest witnessed head."""

    checkpoint: AuditCheckpoint | None
    age: timedelta | None
    uncovered: int
    witness: tuple[str, ...]
    witnessed: WitnessedHead | None

    @property
    def late(self) -> bool:
        return self.uncovered > 0 and (self.age is None or self.age > CHECKPOINT_LATE)

    @property
    def witness_behind(self) -> bool:
        """The witness holds a larger head than the database: checkpoints were rolled back."""
        size = self.checkpoint.size if self.checkpoint else 0
        return self.witnessed is not None and self.witnessed.size > size


def checkpoint_status() -> CheckpointStatus:
    checkpoint = checkpoint_latest()
    size = checkpoint.size if checkpoint else 0
    # Two counts, each on an index (the unsealed events' partial index, the sealed order's
    # unique one): an OR of the two scanned the whole event table.
    uncovered = (
        AuditEvent.objects.filter(hash__isnull=True).count()
        + AuditEvent.objects.filter(sealed__gt=size).count()
    )
    return CheckpointStatus(
        checkpoint=checkpoint,
        age=timezone.now() - checkpoint.signed_at if checkpoint else None,
        uncovered=uncovered,
        witness=witness_modes(),
        witnessed=witness_latest(),
    )


# --- who saw this child --------------------------------------------------------------------------

# A person's view of a child's page, sub-ledger, statement or documents
# (``trust.services.child_views``), and a reveal of their identifying details
# (``trust.services.people.beneficiary_identity_reveal``): the two lines of the log of views.
CHILD_VIEWED = "beneficiary.viewed"
CHILD_REVEALED = "beneficiary.identity_revealed"
# The role a view is listed under when the viewer holds several in the trust.
ROLE_ORDER = (TRUSTEE, AUDITOR, CASEWORKER, ADMINISTRATOR)
WHAT_LABELS = {
    "page": "Beneficiary page",
    "account": "Sub-ledger history",
    "statement": "Statement",
    "documents": "Documents",
    "document": "Supporting document",
    "identity": "Identifying details (revealed)",
    "api": "Beneficiary record (API)",
}


def viewer_role(actor: Any, trust_id: int | None) -> str:
    """The role ``actor`` holds in the trust today ("" for none), the highest first. Free in a
    web request (the grants are read once per request)."""
    held = roles_in(actor, trust_id)
    return next((role for role in ROLE_ORDER if role in held), "")


def trust_zone(trust: Trust) -> ZoneInfo:
    """The trust's time zone (the installation's if the trust's is not one)."""
    try:
        return ZoneInfo(trust.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class ChildView:
    """One line of the log of who saw a child: who (their username and role when they looked),
    when (in the trust's time zone), what (``WHAT_LABELS``), which (an id, a uid, the fields
    revealed), how ("web" or "api"); for a reveal, the purpose given."""

    id: int
    at: datetime
    username: str
    role: str
    what: str
    detail: str
    via: str
    purpose: str = ""

    @property
    def role_label(self) -> str:
        return str(LABELS.get(self.role, self.role or "no role now"))

    @property
    def what_label(self) -> str:
        return WHAT_LABELS.get(self.what, self.what)


def child_view_list(
    *,
    beneficiary: Beneficiary,
    trust: Trust,
    person: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """The events that record a view of ``beneficiary`` by a person (views and reveals), newest
    first: only of the person with username ``person`` (any letter case) if given, and from
    ``since`` to ``until`` inclusive, days of the trust's time zone. The caller decides who may
    read it (``Action.VIEW_LOG``); reading it is not itself a view of the child."""
    events = AuditEvent.objects.filter(
        trust_id=beneficiary.trust_id,
        action__in=(CHILD_VIEWED, CHILD_REVEALED),
        object_type="beneficiary",
        object_id=str(beneficiary.pk),
    ).order_by("-at", "-id")
    if person:
        ids = get_user_model().objects.filter(username__iexact=person).values_list("pk", flat=True)
        events = events.filter(actor_id__in=list(ids))
    zone = trust_zone(trust)
    if since:
        events = events.filter(at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until:
        after = until + timedelta(days=1)
        events = events.filter(at__lt=datetime.combine(after, time.min, tzinfo=zone))
    return events


def child_view_people(*, beneficiary: Beneficiary) -> list[str]:
    """The usernames of everyone who viewed ``beneficiary``, in order (for the filter)."""
    ids = (
        AuditEvent.objects.filter(
            trust_id=beneficiary.trust_id,
            action__in=(CHILD_VIEWED, CHILD_REVEALED),
            object_type="beneficiary",
            object_id=str(beneficiary.pk),
            actor_id__isnull=False,
        )
        .values_list("actor_id", flat=True)
        .distinct()
    )
    users = get_user_model().objects.filter(pk__in=list(ids))
    return sorted(users.values_list("username", flat=True), key=str.casefold)


def child_view_rows(events: Iterable[AuditEvent], *, trust: Trust) -> list[ChildView]:
    """``events`` (from ``child_view_list``) as the page and the PDF show them, decoded from
    their hashed bytes: the username and role recorded with the view (for a reveal recorded
    before roles were, the role held today), the time in the trust's zone."""
    zone = trust_zone(trust)
    decoded = [(event, json.loads(bytes(event.data))) for event in events]
    unknown = {
        event.actor_id
        for event, data in decoded
        if "role" not in (data.get("changes") or {}) and event.actor_id is not None
    }
    roles_now = {
        pk: viewer_role(user, trust.pk)
        for pk, user in get_user_model().objects.in_bulk(list(unknown)).items()
    }
    rows = []
    for event, data in decoded:
        changes = data.get("changes") or {}
        actor = data.get("actor") or {}
        role = changes.get("role", roles_now.get(event.actor_id, ""))
        if event.action == CHILD_REVEALED:
            fields = changes.get("fields") or []
            what = "identity"
            detail = ", ".join(str(name).replace("_", " ") for name in fields)
            via = changes.get("via") or ("api" if actor.get("via") else "web")
        else:
            what = str(changes.get("what", ""))
            detail = str(changes.get("detail", ""))
            via = str(changes.get("via", "web"))
        rows.append(
            ChildView(
                id=event.pk,
                at=event.at.astimezone(zone),
                username=str(actor.get("username") or f"user #{event.actor_id}"),
                role=str(role),
                what=what,
                detail=detail,
                via=via,
                purpose=str(data.get("reason", "")) if event.action == CHILD_REVEALED else "",
            )
        )
    return rows
