"""manage.py generate_statements --trust ID --period 2026-Q3: every beneficiary's statement."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from reports.models import Kind, Report, ReportBatch
from reports.periods import PeriodError, parse_period
from reports.services import batch_progress, batch_requeue, report_batch_create, report_generate
from trust.models import Trust


def _workers_answer() -> bool:
    """Whether any Celery worker answers a ping within a second (the embedded filesystem
    broker cannot broadcast: there the answer is no, and the command generates here)."""
    from celery import current_app

    try:
        return bool(current_app.control.ping(timeout=1.0))
    except Exception:
        return False


class Command(BaseCommand):
    help = (
        "Generate the statements of every beneficiary of a trust for a period (or, with --kind "
        "court_account, the trust's account to the court), with a progress bar. By default the "
        "work goes to the Celery workers and this command watches it; with no worker answering "
        "(or --inline) it is done here."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trust", type=int, required=True, help="the trust's id")
        parser.add_argument(
            "--period", required=True, help="2026-Q3, 2026-09, 2026 or 2026-07-01..2026-09-30"
        )
        parser.add_argument(
            "--kind",
            default=Kind.BENEFICIARY_STATEMENT,
            choices=[Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT],
        )
        parser.add_argument(
            "--operation-id",
            help="idempotency key: running the command again with it resumes the same batch",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--inline", action="store_true", help="generate in this process")
        mode.add_argument(
            "--no-wait", action="store_true", help="queue for the workers and return at once"
        )
        parser.add_argument("--out", type=Path, help="also copy the PDFs into this folder")

    def handle(self, *args: Any, **options: Any) -> None:
        trust = Trust.objects.filter(pk=options["trust"]).first()
        if trust is None:
            raise CommandError(f"no trust with id {options['trust']}")
        try:
            period = parse_period(options["period"])
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
        try:
            batch = report_batch_create(
                trust=trust,
                period=period,
                actor=None,
                kind=options["kind"],
                operation_id=options["operation_id"],
                enqueue=False,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"Batch {batch.operation_id}: {batch.total} {Kind(batch.kind).label.lower()}(s) of"
            f" {trust} for {period.label}."
        )
        inline = options["inline"]
        if not inline and not options["no_wait"] and not _workers_answer():
            self.stdout.write("No Celery worker answered: generating here (see --no-wait).")
            inline = True
        if inline:
            self._inline(batch)
        else:
            batch_requeue(batch=batch)
            if options["no_wait"]:
                self.stdout.write(f"Queued. Watch it with --operation-id {batch.operation_id}.")
                return
            self._watch(batch)
        self._finish(batch, options["out"])

    def _inline(self, batch: ReportBatch) -> None:
        pending = list(
            batch.reports.exclude(status=Report.Status.DONE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        done = batch.total - len(pending)
        with tqdm(total=batch.total, initial=done, unit=" doc", desc="generating") as bar:
            for report_id in pending:
                report_generate(report_id=report_id, batch_id=batch.pk)
                bar.update(1)

    def _watch(self, batch: ReportBatch) -> None:
        progress = batch_progress(batch)
        last_change, seen = time.monotonic(), progress.done + progress.failed
        warned = False
        with tqdm(total=batch.total, initial=seen, unit=" doc", desc="generating") as bar:
            while not progress.finished:
                time.sleep(0.5)
                progress = batch_progress(batch)
                now_seen = progress.done + progress.failed
                if now_seen != seen:
                    bar.update(now_seen - seen)
                    seen, last_change = now_seen, time.monotonic()
                elif not warned and time.monotonic() - last_change > 60:
                    bar.write(
                        "No progress for a minute: is a worker running? (`make demo` starts one;"
                        f" or rerun with --inline --operation-id {batch.operation_id})"
                    )
                    warned = True

    def _finish(self, batch: ReportBatch, out: Path | None) -> None:
        progress = batch_progress(batch)
        failed = batch.reports.filter(status=Report.Status.FAILED).select_related("beneficiary")
        for report in failed:
            who = report.beneficiary.pseudonym if report.beneficiary else "the trust"
            self.stderr.write(f"FAILED {who}: {report.error}")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for report in batch.reports.filter(status=Report.Status.DONE).select_related(
                "beneficiary"
            ):
                who = report.beneficiary.pseudonym if report.beneficiary else "trust"
                name = f"{report.kind}-{who}-{report.period_start}-{report.period_end}.pdf"
                with report.file.open("rb") as src, open(out / name.replace("/", "-"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
            self.stdout.write(f"Copied {progress.done} PDF(s) to {out}.")
        message = f"{progress.done} of {progress.total} generated, {progress.failed} failed."
        if progress.failed:
            raise CommandError(message)
        self.stdout.write(self.style.SUCCESS(message))
