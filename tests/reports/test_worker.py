"""A batch of statements through a real Celery worker process (the configured broker: Redis in
CI, the filesystem transport on a laptop), each task delivered twice: one document each."""

from __future__ import annotations

import pytest

from reports.models import Kind, Report
from reports.services import batch_progress, report_batch_create
from tests.conftest import wait_for
from tests.reports.scenario import build_case
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_worker_generates_a_batch_once_per_report(celery_worker) -> None:  # type: ignore[no-untyped-def]
    case = build_case()
    batch = report_batch_create(
        trust=case.trust, period=case.period, actor=case.trustee, enqueue=False
    )
    from reports.tasks import generate_report_task

    ids = list(batch.reports.values_list("pk", flat=True))
    for report_id in ids + ids:  # every message delivered twice
        generate_report_task.apply_async(args=[report_id, batch.pk], queue=celery_worker.queue)
    wait_for(lambda: batch_progress(batch).finished, timeout=120)
    assert batch_progress(batch).done == len(ids) == 2
    for report in Report.objects.filter(pk__in=ids):
        assert report.kind == Kind.BENEFICIARY_STATEMENT
        assert report.file.storage.exists(report.file.name)
        with report.file.open("rb") as handle:
            assert handle.read(5) == b"%PDF-"
    assert AuditEvent.objects.filter(action="report.generated").count() == len(ids)
    assert "Traceback" not in celery_worker.output()
