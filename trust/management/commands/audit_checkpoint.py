"""manage.py audit_checkpoint: sign a tree head now (Celery beat does it hourly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from trust.audit.checkpoints import audit_checkpoint
from trust.audit.keys import key_fingerprint


class Command(BaseCommand):
    help = "Give new audit events their place in the global log and sign the tree head."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = audit_checkpoint()
        self.stdout.write(
            f"Checkpoint #{checkpoint.pk}: {checkpoint.size:,} events, root"
            f" {bytes(checkpoint.root).hex()}, signed at {checkpoint.signed_at.isoformat()} by key"
            f" {key_fingerprint(bytes(checkpoint.public_key))}."
        )
