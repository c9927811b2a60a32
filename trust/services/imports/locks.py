"""One import of a kind per trust at a time, so that a file imported twice at once is recorded once
and both runs say truthfully what they did.

An import looks for what is already recorded (the receipts with its rows' keys, the order with its
lines) and then writes the rest. Two runs of one file that both looked before either committed
would both decide that every row is new: the second then fails on the unique keys, or, had it
looked a moment later, reports as recorded what the first recorded. So an import takes this lock
at the start of its transaction and only then looks: a second run waits until the first commits
(or rolls back) and then finds its rows, or writes them itself.

PostgreSQL: a transaction-level advisory lock, released at commit or rollback (a crashed process
leaves none behind) and held by imports alone, so receipts typed in, postings and other trusts'
imports never wait for it. SQLite: nothing more to do: the transaction began with ``BEGIN
IMMEDIATE`` (``transaction_mode`` in the settings), which lets one writer in at a time already.
"""

from __future__ import annotations

from django.db import connection

from trust.models import Trust


def import_lock(trust: Trust, kind: str) -> None:
    """Wait until no other transaction imports ``kind`` ("receipts", "order") into ``trust``, and
    keep it so until this transaction ends. Call it inside the import's transaction, before
    reading what is already recorded."""
    if not connection.in_atomic_block:
        raise RuntimeError("import_lock is held by a transaction: call it inside one")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # One 64-bit key per (kind, trust); a collision with another key only makes one wait.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"trust-import:{kind}:{trust.pk}"],
        )
