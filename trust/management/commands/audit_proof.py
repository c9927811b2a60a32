"""manage.py audit_proof inclusion --event ID | consistency --old SIZE [--new SIZE]."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.audit.proofs import consistency_proof_for, inclusion_proof_for


class Command(BaseCommand):
    help = (
        "Print a proof as JSON: that an event is in the signed log (inclusion), or that a later "
        "signed log extends an earlier one (consistency; the database's events are checked "
        "against both roots too, and the command fails if they do not give them). "
        "tools/verify_bundle.py proof checks it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        inclusion = sub.add_parser("inclusion")
        inclusion.add_argument("--event", type=int, required=True)
        inclusion.add_argument("--size", type=int, help="the checkpoint's size (default: latest)")
        consistency = sub.add_parser("consistency")
        consistency.add_argument(
            "--old", type=int, required=True, help="the kept checkpoint's size"
        )
        consistency.add_argument("--new", type=int, help="default: the latest checkpoint")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["kind"] == "inclusion":
                proof = inclusion_proof_for(options["event"], options.get("size"))
            else:
                proof = consistency_proof_for(options["old"], options.get("new"))
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(proof, indent=1))
        events = proof.get("events")
        if events is None:
            return
        sizes = " and ".join(events["give_the_signed_roots"])
        if not events["ok"]:
            raise CommandError(
                f"the database's events do not give the signed roots of the checkpoints of size"
                f" {sizes}: they were changed or cut (run verify_audit)"
            )
        self.stderr.write(
            f"Checked the events: the database's first {events['read']:,} events give the signed"
            f" roots of sizes {sizes}."
        )
