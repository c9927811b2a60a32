"""manage.py check_ledger [--trust ID]: recompute and check every ledger invariant."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.models import Trust
from trust.services.checks import ledger_check_run


class Command(BaseCommand):
    help = (
        "Recompute every balance from the postings and check every invariant (balanced entries, "
        "stored balances, daily movements, no forbidden negatives, reversals, the trust identity, "
        "database guards). Exits 1 naming each violation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trust", type=int, help="check one trust (its id)")

    def handle(self, *args: Any, **options: Any) -> None:
        trust = None
        if options["trust"] is not None:
            trust = Trust.objects.filter(pk=options["trust"]).first()
            if trust is None:
                raise CommandError(f"no trust with id {options['trust']}")
        _check, report = ledger_check_run(trust=trust)
        assert report is not None
        s = report.summary()
        scope = f"trust #{trust.pk}" if trust else "all trusts"
        self.stdout.write(
            f"Checked {scope}: {s['trusts']} trust(s), {s['accounts']} accounts, "
            f"{s['entries']} entries, {s['postings']} postings."
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("OK: every invariant holds."))
            return
        for violation in report.violations:
            self.stderr.write(f"VIOLATION {violation}")
        self.stderr.write(self.style.ERROR(f"FAILED: {len(report.violations)} violation(s)."))
        raise SystemExit(1)
