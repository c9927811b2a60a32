"""manage.py export_audit --out DIR: write an audit bundle (docs/audit.md)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.audit.export import audit_export

VERIFIER = Path(__file__).resolve().parents[3] / "tools" / "verify_bundle.py"


class Command(BaseCommand):
    help = (
        "Export the audit trail as a bundle an auditor can verify without the application: "
        "events (JSON lines), checkpoints, chain heads, public keys, a README and the standalone "
        "verifier."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="an empty or new folder")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        try:
            manifest = audit_export(out)
        except FileExistsError as exc:
            raise CommandError(str(exc)) from exc
        if VERIFIER.exists():
            shutil.copy(VERIFIER, out / "verify_bundle.py")
        self.stdout.write(
            f"Exported {manifest['events']:,} events and {manifest['checkpoints']:,} checkpoints"
            f" to {out}. Verify with: python {out / 'verify_bundle.py'} verify {out}"
            " --trusted-key <the public key shown on the audit page>"
        )
