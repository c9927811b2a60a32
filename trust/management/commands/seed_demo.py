"""manage.py seed_demo: a fictitious, deterministic demo trust (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from trust.demo import seed_demo_trust


class Command(BaseCommand):
    help = (
        "Create a fictitious demo trust: beneficiaries, months of receipts and payments, and a"
        " restitution order (amended once) with receipts recorded and allocated on it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--beneficiaries", type=int, default=12)
        parser.add_argument("--months", type=int, default=18)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["beneficiaries"] < 1 or options["months"] < 1:
            raise CommandError("--beneficiaries and --months must be at least 1")
        bar = None if options["quiet"] else tqdm(unit=" entries", desc="seeding", leave=False)

        def progress(entries: int, postings: int) -> None:
            if bar is not None:
                bar.n = entries
                bar.set_postfix(postings=postings)
                bar.refresh()

        result = seed_demo_trust(
            beneficiaries=options["beneficiaries"],
            months=options["months"],
            seed=options["seed"],
            progress=progress,
        )
        if bar is not None:
            bar.close()
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo trust #{result.trust.pk} created: {result.entries} entries, "
                    f"{result.postings} postings."
                )
            )
        elif result.case_added:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo trust #{result.trust.pk} already existed; added its restitution order"
                    f" and receipts: {result.entries} entries, {result.postings} postings."
                )
            )
        else:
            self.stdout.write(f"Demo trust #{result.trust.pk} already exists; nothing changed.")
