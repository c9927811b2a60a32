"""Issue 6's measurements: beneficiary statements on one core, a batch through real Celery
worker processes, and the account to the court of the large ledger. Import after django.setup().
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.cases import BENCH_COURT, beneficiaries_bulk_create
from benchmarks.scratch import REPO_DIR, bench_dir
from reports.models import Kind, Report
from reports.periods import Period, month
from reports.services import (
    batch_progress,
    report_batch_create,
    report_generate,
    report_request,
)
from trust.models import Account, Trust
from trust.money import from_minor
from trust.services.ledger import EntrySpec, Leg, entries_post
from trust.services.trusts import trust_create


@dataclass(frozen=True)
class Generated:
    count: int
    seconds: float
    pages: int
    failed: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def statements_one_core(trust: Trust, wanted: int) -> Generated:
    """Monthly statements of ``trust``'s beneficiaries, as batches (one per month, newest first)
    generated one after another in this process, as a worker does: figures, checkpoint, code,
    PDF, storage, audit event, commit."""
    last = trust.entries.order_by("-effective_date").values_list("effective_date", flat=True)[0]
    jobs: list[tuple[int, int]] = []
    year, number = last.year, last.month
    while len(jobs) < wanted:
        batch = report_batch_create(
            trust=trust, period=month(year, number), actor=None, enqueue=False
        )
        jobs += [(pk, batch.pk) for pk in batch.reports.values_list("pk", flat=True)]
        year, number = (year, number - 1) if number > 1 else (year - 1, 12)
    jobs = jobs[:wanted]
    report_generate(report_id=jobs[-1][0], batch_id=jobs[-1][1])  # warm-up
    jobs.pop()
    start = time.perf_counter()
    for report_id, batch_id in jobs:
        report_generate(report_id=report_id, batch_id=batch_id)
    seconds = time.perf_counter() - start
    ids = [pk for pk, _ in jobs]
    done = Report.objects.filter(pk__in=ids, status=Report.Status.DONE)
    pages = sum(done.values_list("pages", flat=True))
    return Generated(done.count(), seconds, pages, len(ids) - done.count())


def statement_trust(label: str, beneficiaries: int) -> tuple[Trust, Period]:
    """A trust with ``beneficiaries`` sub-ledgers and, in one month, three receipts and a payment
    on each (posted in bulk): a batch of one-page statements to generate."""
    trust = trust_create(
        caption=f"Statements benchmark {label} (fictitious)",
        court=BENCH_COURT,
        case_number=f"BENCH-{label}-STATEMENTS",
    )
    people = beneficiaries_bulk_create(trust, beneficiaries, prefix="SB")
    subs = dict(
        Account.objects.filter(trust=trust, role=Account.Role.SUB_LEDGER).values_list(
            "beneficiary_id", "pk"
        )
    )
    bank = trust.accounts.get(role=Account.Role.BANK)
    period = month(2026, 10)
    specs = []
    for n, person in enumerate(people):
        sub = subs[person.pk]
        for k, day in enumerate((3, 12, 21)):
            money = from_minor(10_000 + 37 * n + k, "USD")
            specs.append(
                EntrySpec(date(2026, 10, day), [Leg(bank, money), Leg(sub, -money)],
                          f"r-{n}-{k}", memo="Receipt (benchmark)", kind="receipt")
            )  # fmt: skip
        paid = from_minor(5_000 + n, "USD")
        specs.append(
            EntrySpec(date(2026, 10, 25), [Leg(sub, paid), Leg(bank, -paid)], f"p-{n}",
                      memo="Care payment (benchmark)", kind="payment")
        )  # fmt: skip
    for start in range(0, len(specs), 500):
        entries_post(trust=trust, actor=None, entries=specs[start : start + 500])
    return trust, period


def _worker_env(broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "TRUST_MEDIA_ROOT": os.environ.get("TRUST_MEDIA_ROOT", str(bench_dir() / "media")),
    }


def _publisher(broker: str) -> Any:
    """A kombu connection to ``broker`` (the bench process itself sends nowhere else)."""
    from kombu import Connection

    from benchmarks.scratch import var_dir

    options: dict[str, Any] = {}
    if broker.startswith("filesystem://"):
        folder = str(var_dir() / "celery" / "queue")
        options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(var_dir() / "celery" / "control"),
        }
    return Connection(broker, transport_options=options)


def batch_through_workers(trust: Trust, period: Period, broker: str, workers: int) -> Generated:
    """Every statement of ``trust`` for ``period`` as one batch, generated by ``workers`` real
    Celery worker processes (prefork) on a private queue of ``broker``; the clock runs from the
    first message sent to the last statement committed."""
    from reports.tasks import generate_report_task

    queue = f"bench-{uuid.uuid4().hex[:10]}"
    log = bench_dir() / f"{queue}.log"
    batch = report_batch_create(trust=trust, period=period, actor=None, enqueue=False)
    ids = list(batch.reports.values_list("pk", flat=True))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork",
             "-c", str(workers), "-Q", queue, "--without-heartbeat", "--without-gossip",
             "--without-mingle", "-l", "INFO"],
            cwd=REPO_DIR, env=_worker_env(broker), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        start = time.perf_counter()
        with _publisher(broker) as connection:
            producer_options = {"connection": connection, "queue": queue}
            for report_id in ids:
                generate_report_task.apply_async(args=[report_id, batch.pk], **producer_options)
        while not batch_progress(batch).finished:
            if process.poll() is not None:
                raise RuntimeError(f"worker died: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        seconds = time.perf_counter() - start
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    progress = batch_progress(batch)
    pages = sum(batch.reports.values_list("pages", flat=True).exclude(pages=None))
    return Generated(progress.done, seconds, pages, progress.failed)


@dataclass(frozen=True)
class AccountRun:
    period: Period
    seconds: float
    pages: int
    items: int
    postings_in_period: int
    ok: bool
    error: str


def court_account_timed(trust: Trust, period: Period) -> AccountRun:
    """The trust's account to the court for ``period``, generated end to end."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM trust_posting p JOIN trust_account a ON a.id = p.account_id"
            " WHERE a.trust_id = %s AND p.effective_date BETWEEN %s AND %s",
            [trust.pk, period.start, period.end],
        )
        (postings,) = cursor.fetchone()
    report = report_request(
        kind=Kind.COURT_ACCOUNT, trust=trust, actor=None, period=period, enqueue=False
    )
    start = time.perf_counter()
    report = report_generate(report_id=report.pk)
    seconds = time.perf_counter() - start
    items = 0
    if report.figures:
        items = sum(len(c["items"]) for c in report.figures["figures"]["currencies"])
    return AccountRun(
        period,
        seconds,
        report.pages or 0,
        items,
        int(postings),
        report.status == Report.Status.DONE,
        report.error,
    )


def trust_span(trust: Trust) -> Period:
    dates = trust.entries.order_by("effective_date").values_list("effective_date", flat=True)
    return Period(dates.first(), trust.entries.order_by("-effective_date")[0].effective_date)


def last_quarter(span: Period) -> Period:
    """The three calendar months that end with the trust's last entry."""
    end = span.end
    year, number = end.year, end.month - 2
    if number < 1:
        year, number = year - 1, number + 12
    return Period(max(span.start, date(year, number, 1)), end)


def last_year(span: Period) -> Period:
    return Period(max(span.start, span.end - timedelta(days=364)), span.end)


def media_dir() -> Path:
    return Path(os.environ.get("TRUST_MEDIA_ROOT", str(bench_dir() / "media")))
