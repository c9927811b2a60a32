"""Background work of the disbursements app: tasks take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from disbursements.services.notifications import request_event_notify, vetting_expiry_notify
from trust.background import JobTask


@shared_task(base=JobTask)
def notify_request_event(event_id: int) -> int:
    """Email the people a request event concerns (once each, however often this runs)."""
    return request_event_notify(event_id=event_id)


@shared_task(base=JobTask)
def notify_vetting_expiry_task() -> int:
    """Celery beat, daily: tell trustees of care partners whose vetting expires within 60 days
    (each person once per partner and expiry date, however often this runs)."""
    return vetting_expiry_notify()
