"""manage.py verify_audit [--deep]: check the audit trail's chains, Merkle roots and signatures."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trust.audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every event's hash chain, the Merkle root of every checkpoint, "
        "every checkpoint's signature, and each chain's head. Exits 0, or 1 naming the first "
        "bad event or checkpoint and what is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--deep",
            action="store_true",
            help="also check that the columns used for filtering say what each event's bytes say",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify(deep=options["deep"])
        self.stdout.write(
            f"Checked {report.events:,} events in {report.chains:,} chains: {report.leaves:,} in"
            f" the signed log order, {report.pending:,} awaiting the next checkpoint;"
            f" {report.checkpoints:,} checkpoints."
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("OK: the audit trail verifies."))
            return
        self.stderr.write(self.style.ERROR(f"FIRST PROBLEM {report.first}"))
        for problem in report.problems[1:]:
            self.stderr.write(f"PROBLEM {problem}")
        self.stderr.write(self.style.ERROR(f"FAILED: {len(report.problems)} problem(s)."))
        raise SystemExit(1)
