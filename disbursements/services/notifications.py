"""Telling people about a request's events: which events tell whom, queueing the messages once
the transaction commits, and sending each (event, recipient) email once.

Services queue the task by its name (``trust.background.task_enqueue``) and never import
``disbursements.tasks``; the task calls ``request_event_notify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection, send_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.utils import timezone

from disbursements.models import CarePartner, Notification, RequestEvent
from trust.access import people_in
from trust.background import task_enqueue
from trust.models import Beneficiary, Notice
from trust.money import format_money
from trust.roles import TRUSTEE
from trust.services.notices import notice_send

VETTING_NOTICE_DAYS = 60

# Which events tell whom: the trust's trustees when a request awaits their decision and when the
# partner says what arrived; the requester when it is decided, paid, or its payment came back.
AWAITING_DECISION = {"submitted", "first_approval"}
TO_TRUSTEES = AWAITING_DECISION | {"acknowledged"}
TO_REQUESTER = {"approved", "rejected", "cancelled", "paid", "returned"}


def request_event_notify_later(event: RequestEvent) -> None:
    """Queue the event's notifications once the transaction commits (a rolled-back transition
    tells no one). The message waits in the outbox while the broker is down."""
    if event.action not in TO_TRUSTEES | TO_REQUESTER:
        return

    task_enqueue("disbursements.tasks.notify_request_event", event.pk, trust=event.request.trust_id)


def request_event_notify(*, event_id: int) -> int:
    """Email the people an event concerns; returns how many were sent now. Each (event,
    recipient) is sent once: running this again sends nothing new. Messages name the request by
    number and the beneficiary by pseudonym, never anyone's identity."""
    event = RequestEvent.objects.select_related("request__beneficiary", "request__trust").get(
        pk=event_id
    )
    request = event.request
    if event.action in TO_TRUSTEES:
        # Those who already approved are not asked again.
        already = (
            set(request.approvals.values_list("trustee_id", flat=True))
            if event.action in AWAITING_DECISION
            else set()
        )
        recipients = [
            u
            for u in people_in(
                (TRUSTEE,), trust=request.trust_id, exclude=request.requested_by_id
            ).exclude(email="")
            if u.pk not in already
        ]
        subject = (
            f"Disbursement request #{request.pk} awaits your decision"
            if event.action in AWAITING_DECISION
            else f"Disbursement request #{request.pk}: the partner acknowledged the payment"
        )
    elif event.action in TO_REQUESTER:
        recipients = [u for u in [request.requested_by] if u.is_active and u.email]
        subject = f"Disbursement request #{request.pk} was {event.action}"
    else:
        return 0
    body = (
        f"Request #{request.pk} for {request.beneficiary.pseudonym}"
        f" ({request.get_category_display()}, {format_money(request.amount)})"
        f" in {request.trust.caption}: {event.action.replace('_', ' ')}" + _reason_line(event)
    )
    sent = 0
    for recipient in recipients:
        with transaction.atomic():
            _, created = Notification.objects.get_or_create(event=event, recipient=recipient)
            if not created:
                continue
            # Sent inside the transaction: if sending fails the row goes too, and a retry sends.
            # A worker killed after the mail server took the message and before the commit sends
            # it again on redelivery: the same message, under the same Message-ID.
            send_mail(
                subject,
                body,
                None,
                [recipient.email],
                connection=_SameMessageId(notification_message_id(event, recipient)),
            )
            sent += 1
    return sent


def notification_message_id(event: RequestEvent, recipient: Any) -> str:
    """The Message-ID of the notification of ``event`` to ``recipient``: the same however often
    it is sent. Exactly once is out of reach over SMTP (the server's acceptance and our commit are
    two steps, and a worker can die between them); at least once under one Message-ID is what
    mail systems show as one message. Unique across installations by the request's random uid;
    the domain is the sender's, not the host's, so that every worker makes the same one."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{event.request.uid.hex}.{event.pk}.{recipient.pk}@{domain}>"


class _SameMessageId(BaseEmailBackend):
    """A mail connection that gives each message this Message-ID, then sends it through the
    configured backend."""

    def __init__(self, message_id: str) -> None:
        super().__init__()
        self.message_id = message_id

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        for message in messages:
            message.extra_headers["Message-ID"] = self.message_id
        return get_connection().send_messages(messages)


# Events whose reason the application composed (the transfer's reference, amounts and fee):
# nothing typed about the child, so it may travel by e-mail.
COMPOSED_REASONS = frozenset({"paid"})


def _reason_line(event: RequestEvent) -> str:
    """The event's reason for the e-mail: a composed one in full; one a person typed (it may be
    about the child, and e-mail is not encrypted) only as a pointer to the request's page."""
    if not event.reason_token:
        return "."
    if event.action in COMPOSED_REASONS:
        return f".\n{event.reason}"
    return ".\nThe reason is on the request's page."


def vetting_expiry_notify() -> int:
    """Tell the trustees of every trust a care partner serves that its vetting expires within 60
    days (or has expired): payments to it stop then. Once per partner, expiry date and person;
    returns how many messages were sent now."""
    today = timezone.localdate()
    sent = 0
    expiring = CarePartner.objects.filter(
        vetting_status=CarePartner.Vetting.APPROVED,
        vetting_expires_on__lte=today + timedelta(days=VETTING_NOTICE_DAYS),
    ).order_by("pk")
    for partner in expiring:
        expires = partner.vetting_expires_on
        served = (
            Beneficiary.objects.filter(care_partner=partner)
            .values_list("trust_id", flat=True)
            .distinct()
        )
        for trust_id in sorted(served):
            for trustee in people_in((TRUSTEE,), trust=trust_id):
                sent += notice_send(
                    kind=Notice.Kind.VETTING,
                    key=f"{partner.pk}:{expires.isoformat()}",
                    recipient=trustee,
                    trust=None,
                    subject=f"Vetting of {partner.name} expires on {expires.isoformat()}",
                    body=(
                        f"The vetting of {partner.name}, a care partner of children in your"
                        f" trust, {'expired' if expires < today else 'expires'} on"
                        f" {expires.isoformat()}. Payments to it are refused once it has"
                        " expired: renew it, or place the children with another partner."
                    ),
                )
    return sent
