"""manage.py rotate_field_keys [--dry-run] [--batch-size N]: re-encrypt under the primary key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trust.crypto import keyring_from_settings
from trust.services import keys as keys_service
from trust.services.keys import rotate_encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token of every model's ENCRYPTED_FIELDS that is not under the "
        "primary key (the first of TRUST_FIELD_ENCRYPTION_KEYS): among them each child's data key, "
        "which encrypts that child's identity, date of birth, request texts and documents; and "
        "seal any document file still stored in clear. Run it after adding a new key "
        "first in the list, and before removing the old one. Exits 1 naming each token that does "
        "not decrypt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        keyring = keyring_from_settings()
        self.stdout.write(f"Primary key id: {keyring.primary_key_id} ({len(keyring.key_ids)} keys)")
        results = rotate_encrypted_fields(
            batch_size=options["batch_size"], dry_run=dry_run, keyring=keyring
        )
        if not keys_service.encrypted_models():
            self.stdout.write("No model declares ENCRYPTED_FIELDS: nothing to re-encrypt.")
        if not results:
            return
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        failures = 0
        for label, result in results.items():
            self.stdout.write(f"{label}: {result.rotated} of {result.rows} rows {verb}")
            for failure in result.failures:
                self.stderr.write(f"NOT DECRYPTED {failure}")
            failures += len(result.failures)
        if failures:
            self.stderr.write(
                self.style.ERROR(f"FAILED: {failures} token(s) did not decrypt; left unchanged.")
            )
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Dry run: nothing written." if dry_run else "Done."))
