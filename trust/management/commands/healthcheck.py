"""manage.py healthcheck: every check of ``/readyz`` with its details, as JSON; the exit code
says the overall state (0 ok, 1 fail, 2 warnings only)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from trust.health import FAIL, WARN, health_report

EXIT_CODES = {FAIL: 1, WARN: 2}


class Command(BaseCommand):
    help = (
        "Check the database, the broker, a worker's answer, the audit checkpoint's age and the "
        "last ledger check and audit verification. Prints JSON; exits 0 when all is well, 1 when "
        "the database or the broker fails, 2 when only warnings remain (docs/operations.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = health_report()
        self.stdout.write(json.dumps(report.as_dict(details=True), indent=1))
        code = EXIT_CODES.get(report.status, 0)
        if code:
            raise SystemExit(code)
