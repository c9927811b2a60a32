"""manage.py export_ledger --format beancount|hledger [--trust ID] [--out FILE] (docs/export.md)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.journal_export import FORMATS, ExportSummary, journal_export
from trust.models import Trust

CHECK = {"beancount": "bean-check {out}", "hledger": "hledger -f {out} check"}


class Command(BaseCommand):
    help = (
        "Write the ledger as a beancount or hledger journal (accounts, entries, trading accounts "
        "for currency exchange, a balance assertion for every account at each month end) for "
        "the tools to check independently of the application."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, help=" or ".join(FORMATS))
        parser.add_argument("--trust", help="export one trust (its id); every trust without it")
        parser.add_argument("--out", type=Path, help="the journal file (stdout without it)")

    def handle(self, *args: Any, **options: Any) -> None:
        fmt = options["format"]
        if fmt not in FORMATS:
            raise CommandError(f"unknown format {fmt!r}: use --format {' or '.join(FORMATS)}")
        trust = None
        if options["trust"] is not None:
            raw = str(options["trust"]).strip()
            trust = Trust.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
            if trust is None:
                raise CommandError(f"no trust with id {options['trust']!r}")
        out: Path | None = options["out"]
        started = time.monotonic()
        if out is None:
            summary = journal_export(out=_Raw(self), fmt=fmt, trust=trust)
            self.stderr.write(_said(summary, "stdout", time.monotonic() - started))
            return
        if out.parent and not out.parent.is_dir():
            raise CommandError(f"no folder {out.parent} to write {out.name} in")
        # Written beside the target and renamed when complete: a failed export leaves no file.
        fd, partial = tempfile.mkstemp(
            dir=out.parent or ".", prefix=f".{out.name}.", suffix=".part"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                summary = journal_export(out=handle, fmt=fmt, trust=trust)
            os.replace(partial, out)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        self.stdout.write(_said(summary, str(out), time.monotonic() - started))
        self.stdout.write("Check it with: " + CHECK[fmt].format(out=out))


class _Raw:
    """The command's stdout without the line ending Django adds to each write."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> int:
        self.command.stdout.write(text, ending="")
        return len(text)


def _said(summary: ExportSummary, where: str, seconds: float) -> str:
    return (
        f"Wrote {summary.entries:,} entries, {summary.postings:,} postings, "
        f"{summary.accounts:,} accounts of {summary.trusts:,} trust(s) and "
        f"{summary.assertions:,} balance assertions to {where} in {seconds:.1f} s."
    )
