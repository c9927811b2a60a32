"""Background work of the reports app: tasks take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from reports.models import Kind
from reports.periods import previous_month, previous_quarter
from reports.services import report_batch_create, report_generate
from trust.background import JobTask


@shared_task(base=JobTask, retry_backoff_max=300, time_limit=1800, soft_time_limit=1700)
def generate_report_task(report_id: int, batch_id: int | None = None) -> dict:
    """Generate one report (of batch ``batch_id``, if given). Delivered twice, it makes one
    document (the report's row is locked and a report that is done is returned as it is)."""
    report = report_generate(report_id=report_id, batch_id=batch_id)
    return {"report": report.pk, "status": report.status}


@shared_task(base=JobTask)
def schedule_statements_task(kind: str = Kind.BENEFICIARY_STATEMENT) -> dict:
    """Celery beat: on the 1st of each month, every beneficiary's statement for the month before;
    on the 1st of each quarter, each trust's account to the court for the quarter before. The
    operation id names the trust, kind and period, so a schedule that fires twice asks once."""
    from trust.models import Trust

    today = timezone.localdate()
    period = previous_quarter(today) if kind == Kind.COURT_ACCOUNT else previous_month(today)
    batches = []
    for trust in Trust.objects.filter(status=Trust.Status.ACTIVE).order_by("pk"):
        batch = report_batch_create(
            trust=trust,
            period=period,
            actor=None,
            kind=kind,
            operation_id=f"scheduled:{kind}:{trust.pk}:{period.key}",
        )
        batches.append(batch.operation_id)
    return {"period": period.key, "batches": batches}
