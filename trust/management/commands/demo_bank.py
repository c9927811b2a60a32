"""manage.py demo_bank: the demo bank's monthly camt.053 statements of each demo trust, imported
and reconciled, each month signed off (trust/demo_bank.py). For the embedded demo only; running it
again changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.demo import DEMO_COURT
from trust.demo_bank import demo_bank_seed
from trust.models import Trust
from trust.roles import TRUSTEE


class Command(BaseCommand):
    help = (
        "Demo only: write the demo bank's monthly camt.053 statements from the demo trusts'"
        " books, import them, and sign off each month's reconciliation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="allow on a production database")
        parser.add_argument(
            "--out", type=Path, help="also write the statement files into this folder"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_ALLOWED and not options["force"]:
            raise CommandError("Demo data are for the embedded demo only (TRUST_ALLOW_DEMO=1).")
        trustee = get_user_model().objects.filter(username=TRUSTEE).first()
        if trustee is None:
            raise CommandError("Run `manage.py demo_users` first.")
        trusts = list(Trust.objects.filter(court=DEMO_COURT).order_by("pk"))
        if not trusts:
            raise CommandError("Run `manage.py seed_demo` first.")
        for trust in trusts:
            result = demo_bank_seed(trust=trust, actor=trustee)
            if options["out"]:
                options["out"].mkdir(parents=True, exist_ok=True)
                for month in result.statements:
                    (options["out"] / f"camt053-{month.statement_id}.xml").write_bytes(month.xml)
            unsigned = (
                f"; not signed off: {', '.join(result.not_signed)}" if result.not_signed else ""
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo bank for trust #{trust.pk} ({result.bank.number}):"
                    f" {len(result.statements)} monthly statements, {result.imported} imported now"
                    f" ({result.lines} lines, {result.matched} matched automatically),"
                    f" {result.signed_off} reconciliations signed off now{unsigned}."
                )
            )
