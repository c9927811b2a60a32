"""The ledger as the bank sees it: each entry's net posting to a bank account (+ money in),
with the references the bank may quote for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection

from trust.bank.models import BankAccount, StatementLine
from trust.models import Receipt

# Other apps add references the bank may quote for an entry (a payment's transfer reference):
# fn(trust_id, entry_ids) -> {entry_id: [reference, ...]}.
ReferenceProvider = Callable[[int, Sequence[int]], dict[int, list[str]]]
_PROVIDERS: list[ReferenceProvider] = []


def reference_provider_register(fn: ReferenceProvider) -> None:
    if fn not in _PROVIDERS:
        _PROVIDERS.append(fn)


def norm(text: str) -> str:
    return "".join(ch for ch in (text or "") if ch.isalnum()).upper()


@dataclass
class Candidate:
    entry_id: int
    amount_minor: int
    day: date
    refs: set[str] = field(default_factory=set)
    used: bool = False


def line_texts(line: StatementLine) -> list[str]:
    texts = [line.reference, line.bank_reference, line.description, line.counterparty]
    for part in line.parts or []:
        texts += [part.get("reference", ""), part.get("description", "")]
    return [norm(t) for t in texts if t]


def hits(texts: list[str], refs: set[str]) -> bool:
    """A reference of the entry's (6 characters or more, so that "1" matches nothing) is the
    line's reference or appears in its text."""
    for ref in refs:
        if len(ref) < 6:
            continue
        for text in texts:
            if ref == text or ref in text:
                return True
    return False


def candidates(
    *,
    bank: BankAccount,
    start: date,
    end: date,
    exclude_matched: bool = True,
    refs: bool = True,
) -> list[Candidate]:
    """Entries with a net posting to ``bank``'s ledger account dated ``start`` to ``end``, not
    yet matched: one grouped query, then their references (receipts' bank references, entry
    keys, what other apps register)."""
    sql = (
        "SELECT p.entry_id, SUM(p.amount_minor), MIN(p.effective_date), MIN(e.idempotency_key)"
        " FROM trust_posting p JOIN trust_entry e ON e.id = p.entry_id"
        " WHERE p.account_id = %s AND p.effective_date >= %s AND p.effective_date <= %s"
    )
    params: list[Any] = [bank.account_id, start, end]
    if exclude_matched:
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM trust_bank_matched_entry m"
            " WHERE m.bank_account_id = %s AND m.entry_id = p.entry_id)"
        )
        params.append(bank.pk)
    sql += " GROUP BY p.entry_id HAVING SUM(p.amount_minor) <> 0 ORDER BY MIN(p.effective_date), p.entry_id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict[int, Candidate] = {}
    for entry_id, amount, day, key in rows:
        if isinstance(day, str):
            day = date.fromisoformat(day)
        found[entry_id] = Candidate(entry_id, int(amount), day, {norm(key)})
    if not found or not refs:
        return list(found.values())
    for entry_id, reference in Receipt.objects.filter(
        bank_account_id=bank.account_id, received_on__gte=start, received_on__lte=end
    ).values_list("entry_id", "bank_reference"):
        if entry_id in found and reference:
            found[entry_id].refs.add(norm(reference))
    ids = list(found)
    for provider in _PROVIDERS:
        for entry_id, refs in provider(bank.trust_id, ids).items():
            if entry_id in found:
                found[entry_id].refs.update(norm(r) for r in refs if r)
    return list(found.values())


def bank_movements(*, bank: BankAccount, start: date, end: date) -> dict[int, tuple[int, date]]:
    """Every entry's net posting to ``bank``'s ledger account dated ``start`` to ``end``."""
    return {
        c.entry_id: (c.amount_minor, c.day)
        for c in candidates(bank=bank, start=start, end=end, exclude_matched=False, refs=False)
    }
