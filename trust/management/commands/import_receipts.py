"""manage.py import_receipts: record the receipts of a CSV file, all or nothing. See
docs/imports.md."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from trust.management.commands.import_order import actor_for, trust_for
from trust.services.imports.receipts import import_summary as summary
from trust.services.imports.receipts import receipts_import


class Command(BaseCommand):
    help = (
        "Record the receipts of a CSV file (received_on, amount, currency, source; optionally "
        "payer, bank_account, bank_reference, key, memo) in one transaction: all or none. "
        "Re-importing a file (even while another run imports it) records nothing new and says "
        "which receipts already hold its rows. See docs/imports.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trust", type=int, required=True, help="the trust's id")
        parser.add_argument("--file", required=True, help="the CSV file of receipts")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and compute everything, write nothing"
        )
        parser.add_argument("--actor", default=None, help="username the receipts are recorded as")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        trust = trust_for(options["trust"])
        actor = actor_for(options["actor"])
        # On stderr, and only on a terminal (disable=None), so stdout is the summary alone. The
        # rows are checked before any is written: the total is known at the first batch written.
        bar = None if options["quiet"] else tqdm(unit=" receipts", desc="recording", disable=None)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.update(done - bar.n)

        try:
            with open(options["file"], encoding="utf-8-sig", newline="") as handle:
                result = receipts_import(
                    trust=trust,
                    actor=actor,
                    rows=handle,
                    dry_run=options["dry_run"],
                    progress=progress,
                )
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        finally:
            if bar is not None:
                bar.close()
        line = f"{summary(result)}."
        if result.dry_run or not result.created:
            # Nothing written now: a check, or a file already recorded (by an earlier run, or by
            # one running at the same time that this run waited for). Not an error: exit 0.
            self.stdout.write(line)
        else:
            self.stdout.write(self.style.SUCCESS(line))
