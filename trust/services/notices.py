"""Scheduled notices, each sent to each person once: a child of the trust reaching majority (the
trust's trustees, 90 days ahead). ``disbursements.services.notifications`` sends the care
partners' (vetting expiring) through ``notice_send``.

Messages name children by pseudonym only, never by anything that identifies them."""

from __future__ import annotations

from typing import Any

from django.core.mail import send_mail
from django.db import transaction

from trust.access import people_in
from trust.models import Notice, Trust
from trust.roles import TRUSTEE
from trust.selectors import beneficiaries_reaching_majority

MAJORITY_NOTICE_DAYS = 90


def notice_send(
    *, kind: str, key: str, recipient: Any, subject: str, body: str, trust: Trust | None = None
) -> bool:
    """Email ``recipient`` about ``kind``/``key`` unless they were told already; returns whether
    it was sent now. The row and the message go together: a failed send leaves no row, and the
    next run sends it."""
    if not recipient.email:
        return False
    with transaction.atomic():
        _, created = Notice.objects.get_or_create(
            kind=kind, key=key[:100], recipient=recipient, defaults={"trust": trust}
        )
        if not created:
            return False
        send_mail(subject, body, None, [recipient.email])
    return True


def majority_notify() -> int:
    """Tell each active trust's trustees of every minor reaching the trust's majority age within
    90 days (or past it while still recorded as a minor), once per child and date. Returns how
    many messages were sent now. The message gives no date (it would give away the date of
    birth)."""
    sent = 0
    for trust in Trust.objects.filter(status=Trust.Status.ACTIVE).order_by("pk"):
        due = beneficiaries_reaching_majority(trust=trust, within_days=MAJORITY_NOTICE_DAYS)
        if not due:
            continue
        trustees = list(people_in((TRUSTEE,), trust=trust))
        for beneficiary, when in due:
            for trustee in trustees:
                sent += notice_send(
                    kind=Notice.Kind.MAJORITY,
                    key=f"{beneficiary.pk}:{when.isoformat()}",
                    recipient=trustee,
                    trust=trust,
                    # The date is not written out: it would give away the date of birth.
                    subject=f"{beneficiary.pseudonym} reaches majority within 90 days",
                    body=(
                        f"{beneficiary.pseudonym} in {trust.caption} reaches the trust's age of"
                        f" majority ({trust.majority_age}) within the next 90 days. Under the"
                        " trust's terms the funds may then be paid to them directly: plan the"
                        " handover with their care partner."
                    ),
                )
    return sent
