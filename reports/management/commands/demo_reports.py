"""manage.py demo_reports: close last month in the demo trust and generate one of each document
(and the documents of the bank reconciliations that ``demo_bank`` signed off)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from disbursements.models import Payment
from reports.models import Kind, Report
from reports.periods import previous_month, previous_quarter
from reports.services import report_batch_create, report_generate, report_request
from trust.models import Beneficiary, Reconciliation
from trust.roles import TRUSTEE
from trust.services.trusts import trust_set_lock_date


class Command(BaseCommand):
    help = (
        "Demo only: close the demo trust's books up to the end of last month, then generate last"
        " month's statements, last quarter's account to the court, the order status, an audit"
        " certificate, the remittance advices of the demo payments and the signed-off bank"
        " reconciliations (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="even outside the demo")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_ALLOWED and not options["force"]:
            raise CommandError("Demo data are for the embedded demo only (TRUST_ALLOW_DEMO=1).")
        trustee = get_user_model().objects.filter(username=TRUSTEE).first()
        home = (
            Beneficiary.objects.filter(pseudonym="MV-1", care_partner__name__endswith="(demo)")
            .select_related("trust")
            .first()
        )
        if trustee is None or home is None:
            raise CommandError("Run `manage.py seed_demo` and `manage.py demo_users` first.")
        trust = home.trust
        today = timezone.localdate()
        month, quarter = previous_month(today), previous_quarter(today)
        if trust.lock_date is None or trust.lock_date < month.end:
            trust_set_lock_date(trust=trust, lock_date=month.end, actor=trustee)
        reports = list(
            report_batch_create(
                trust=trust,
                period=month,
                actor=trustee,
                operation_id=f"demo:statements:{trust.pk}:{month.key}",
                enqueue=False,
            ).reports.all()
        )
        asks: list[dict[str, Any]] = [
            {"kind": Kind.COURT_ACCOUNT, "period": quarter},
            {"kind": Kind.ORDER_STATUS},
            {"kind": Kind.AUDIT_CERTIFICATE},
        ]
        asks += [
            {"kind": Kind.REMITTANCE_ADVICE, "payment": payment}
            for payment in Payment.objects.filter(trust=trust).order_by("pk")
        ]
        # Each sign-off asked for its document (queued for the worker): made here too, so that
        # the demo shows them before a worker runs.
        reports += [
            report_request(
                kind=Kind.BANK_RECONCILIATION,
                trust=trust,
                actor=trustee,
                reconciliation=reconciliation,
                enqueue=False,
            )
            for reconciliation in Reconciliation.objects.filter(
                trust=trust, status=Reconciliation.Status.SIGNED_OFF
            ).order_by("as_of", "pk")
        ]
        for ask in asks:
            key = f"demo:{ask['kind']}:{trust.pk}:{ask.get('payment', ask.get('period', today))}"
            reports.append(
                report_request(trust=trust, actor=trustee, operation_id=key, enqueue=False, **ask)
            )
        made = 0
        for report in reports:
            if report.status != Report.Status.DONE:
                report = report_generate(report_id=report.pk)
                made += report.status == Report.Status.DONE
            if report.status == Report.Status.FAILED:
                self.stderr.write(f"{report.get_kind_display()} failed: {report.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo reports: {made} generated, {len(reports)} in all (books closed up to"
                f" {month.end}); see /reports/."
            )
        )
