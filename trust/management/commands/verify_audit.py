"""manage.py verify_audit [--deep]: check the audit trail's chains, Merkle roots and signatures."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trust.audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every event's hash chain (and that it is in its trust's chain), "
        "the Merkle root of every checkpoint, every checkpoint's signature, each chain's head, and "
        "the checkpoints against the heads witnessed outside the database. Exits 0, or 1 naming "
        "the first bad event or checkpoint and what is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--deep",
            action="store_true",
            help=(
                "also check that the columns used for filtering (trust, actor, action, object,"
                " time) say what each event's bytes say"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify(deep=options["deep"])
        self.stdout.write(
            f"Checked {report.events:,} events in {report.chains:,} chains: {report.leaves:,} in"
            f" the signed log order, {report.pending:,} awaiting the next checkpoint;"
            f" {report.checkpoints:,} checkpoints."
        )
        if report.witnessed is None:
            self.stdout.write(
                "No witness store (TRUST_AUDIT_WITNESS has no 'storage'): the checkpoints were not"
                " compared with heads kept outside the database."
            )
        else:
            self.stdout.write(
                f"Compared the checkpoints with {report.witnessed:,} witnessed heads."
                + ("" if report.witnessed else " (The witness store holds none yet.)")
            )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("OK: the audit trail verifies."))
            return
        self.stderr.write(self.style.ERROR(f"FIRST PROBLEM {report.first}"))
        for problem in report.problems[1:]:
            self.stderr.write(f"PROBLEM {problem}")
        self.stderr.write(self.style.ERROR(f"FAILED: {len(report.problems)} problem(s)."))
        raise SystemExit(1)
