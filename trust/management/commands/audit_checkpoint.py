"""manage.py audit_checkpoint: sign a tree head now (Celery beat does it every minute when new
events exist)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.audit.checkpoints import (
    AuditCheckpointRefused,
    audit_checkpoint,
    audit_witness_restore,
)
from trust.audit.keys import key_fingerprint
from trust.audit.witness import witness_storage


class Command(BaseCommand):
    help = (
        "Give new audit events their place in the global log, sign the tree head and witness it. "
        "Refused (exit 1, and an alert) when the log does not extend the last witnessed head."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--restore-witnessed",
            action="store_true",
            help=(
                "first put back the witnessed heads the database lacks, each only if the log's"
                " events still give its root (docs/audit.md, 'The witness')"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["restore_witnessed"]:
                restored = audit_witness_restore()
                self.stdout.write(
                    f"Restored {len(restored)} witnessed head(s) to the database"
                    + (f": sizes {', '.join(str(c.size) for c in restored)}." if restored else ".")
                )
            checkpoint = audit_checkpoint()
        except AuditCheckpointRefused as refused:
            where = getattr(witness_storage(), "location", "the witness store")
            raise CommandError(
                f"REFUSED to sign a checkpoint: {refused}.\nRun `manage.py verify_audit`. If the"
                " events are intact, `--restore-witnessed` puts the missing heads back. If this"
                " database was replaced on purpose (a new installation; a restored backup the"
                f" auditors were told about), move the witness ({where}) aside and keep it"
                " (docs/audit.md, 'The witness')."
            ) from refused
        self.stdout.write(
            f"Checkpoint #{checkpoint.pk}: {checkpoint.size:,} events, root"
            f" {bytes(checkpoint.root).hex()}, signed at {checkpoint.signed_at.isoformat()} by key"
            f" {key_fingerprint(bytes(checkpoint.public_key))}."
        )
