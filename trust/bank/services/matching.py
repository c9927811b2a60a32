"""Matching the bank's statement lines with the ledger's entries.

A match says that some lines and some entries are the same money: the lines' amounts (signed as
the bank sees the account, + money in) sum to the entries' postings to the bank account (debit
positive, so + money in too). Automatic matching pairs a line with one entry of the same amount
within the bank account's date window, preferring one whose reference the line carries, and the
nearest date, then the oldest entry; a line that matches no single entry is matched with several
(its batch booking's parts one by one, the entries that share its reference, or the entries of
one day) when their sum is exactly the line's. The rest wait for a trustee: match by hand,
explain, or record what the line is through the existing services (a receipt, interest, a fee).

A change to a line dated in a signed-off reconciliation's period is recorded against it
(``ReconciliationChange``), never silently accepted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from trust.access import require
from trust.audit.events import audit_record
from trust.bank.models import (
    BankAccount,
    BankMatch,
    MatchedEntry,
    Reconciliation,
    ReconciliationChange,
    StatementLine,
)
from trust.bank.selectors.ledger import Candidate, candidates, hits, line_texts, norm
from trust.models import JournalEntry
from trust.roles import Action


@dataclass
class _Plan:
    line: StatementLine
    entries: list[Candidate]


def _pick(pool: list[Candidate], day: date, texts: list[str]) -> Candidate | None:
    if not pool:
        return None
    by_ref = [c for c in pool if hits(texts, c.refs)]
    chosen = by_ref or pool
    return min(chosen, key=lambda c: (abs((c.day - day).days), c.day, c.entry_id))


def plan_matches(
    lines: Sequence[StatementLine], pool: Iterable[Candidate], window: int
) -> list[_Plan]:
    """Which lines go with which entries (pure: nothing written)."""
    by_amount: dict[int, list[Candidate]] = defaultdict(list)
    by_day: dict[date, list[Candidate]] = defaultdict(list)
    for c in pool:
        by_amount[c.amount_minor].append(c)
        by_day[c.day].append(c)
    span = timedelta(days=window)

    def near(amount: int, day: date) -> list[Candidate]:
        return [
            c for c in by_amount.get(amount, ()) if not c.used and abs((c.day - day).days) <= window
        ]

    plans: list[_Plan] = []
    waiting: list[StatementLine] = []
    for line in sorted(lines, key=lambda x: (x.booking_date, x.pk or 0)):
        if line.amount_minor == 0:
            continue
        day = line.value_date or line.booking_date
        chosen = _pick(near(line.amount_minor, day), day, line_texts(line))
        if chosen is None and line.value_date and line.value_date != line.booking_date:
            chosen = _pick(
                near(line.amount_minor, line.booking_date), line.booking_date, line_texts(line)
            )
        if chosen is None:
            waiting.append(line)
            continue
        chosen.used = True
        plans.append(_Plan(line, [chosen]))
    for line in waiting:
        day = line.value_date or line.booking_date
        group = _parts_group(line, day, near) or _group(line, day, span, by_day)
        if group:
            for c in group:
                c.used = True
            plans.append(_Plan(line, group))
    return plans


def _parts_group(
    line: StatementLine, day: date, near: Callable[[int, date], list[Candidate]]
) -> list[Candidate] | None:
    """A batch booking whose every part matches an entry of its own."""
    parts = line.parts or []
    if len(parts) < 2 or sum(int(p["amount_minor"]) for p in parts) != line.amount_minor:
        return None
    taken: list[Candidate] = []
    for part in parts:
        texts = [norm(part.get("reference", "")), norm(part.get("description", ""))]
        pool = [c for c in near(int(part["amount_minor"]), day) if c not in taken]
        chosen = _pick(pool, day, [t for t in texts if t])
        if chosen is None:
            return None
        taken.append(chosen)
    return taken


def _group(
    line: StatementLine, day: date, span: timedelta, by_day: dict[date, list[Candidate]]
) -> list[Candidate] | None:
    """Several entries that are one credit or debit at the bank: those carrying the line's
    reference, or else those of one day (the nearest first), when they sum to the line."""
    sign = 1 if line.amount_minor > 0 else -1
    texts = line_texts(line)
    days = sorted(
        (d for d in by_day if day - span <= d <= day + span), key=lambda d: (abs((d - day).days), d)
    )
    same_sign = [
        c for d in days for c in by_day[d] if not c.used and (c.amount_minor > 0) == (sign > 0)
    ]
    by_ref = [c for c in same_sign if hits(texts, c.refs)]
    if len(by_ref) >= 2 and sum(c.amount_minor for c in by_ref) == line.amount_minor:
        return by_ref
    for d in days:
        group = [c for c in by_day[d] if not c.used and (c.amount_minor > 0) == (sign > 0)]
        if len(group) >= 2 and sum(c.amount_minor for c in group) == line.amount_minor:
            return group
    return None


def _flag_reconciled(
    bank: BankAccount, items: list[tuple[date, int, str]], actor: Any, reason: str
) -> int:
    """Record, against every signed-off reconciliation of ``bank`` whose period holds one of
    ``items`` (day, amount, what), that it changed after sign-off."""
    if not items:
        return 0
    earliest = min(day for day, _, _ in items)
    recs = list(
        Reconciliation.objects.filter(
            bank_account=bank, status=Reconciliation.Status.SIGNED_OFF, as_of__gte=earliest
        )
    )
    rows = [
        ReconciliationChange(
            reconciliation=rec,
            what=what[:300],
            amount_minor=amount,
            by=actor if getattr(actor, "pk", None) else None,
            reason=reason,
        )
        for rec in recs
        for day, amount, what in items
        if day <= rec.as_of
    ]
    ReconciliationChange.objects.bulk_create(rows)
    return len(rows)


def _save(actor: Any, bank: BankAccount, plans: list[_Plan], method: str, note: str = "") -> None:
    if not plans:
        return
    by = actor if getattr(actor, "pk", None) else None
    matches = BankMatch.objects.bulk_create(
        [
            BankMatch(
                trust_id=bank.trust_id, bank_account=bank, method=method, note=note, created_by=by
            )
            for _ in plans
        ],
        batch_size=2_000,
    )
    entries: list[MatchedEntry] = []
    for match, plan in zip(matches, plans, strict=True):
        plan.line.match = match
        plan.line.state = StatementLine.State.MATCHED
        plan.line.explanation = ""
        plan.line.explained_by = None
        entries += [
            MatchedEntry(
                match=match, bank_account=bank, entry_id=c.entry_id, amount_minor=c.amount_minor
            )
            for c in plan.entries
        ]
    MatchedEntry.objects.bulk_create(entries, batch_size=2_000)
    _set_lines(
        [p.line.pk for p in plans],
        [p.line.match_id for p in plans],
        StatementLine.State.MATCHED,
    )


def _set_lines(line_ids: list[int], match_ids: list[int | None], state: str) -> None:
    """Set each line's match and state in one statement per chunk (a CASE on the id)."""
    for start in range(0, len(line_ids), 1_000):
        ids = line_ids[start : start + 1_000]
        matches = match_ids[start : start + 1_000]
        whens = " ".join("WHEN %s THEN %s" for _ in ids)
        params: list[Any] = []
        for line_id, match_id in zip(ids, matches, strict=True):
            params += [line_id, match_id]
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE trust_bank_line SET match_id = CASE id {whens} END, state = %s,"
                f" explanation = '', explained_by_id = NULL WHERE id IN ({placeholders})",
                [*params, state, *ids],
            )


def auto_match(*, actor: Any, bank: BankAccount, line_ids: Sequence[int] | None = None) -> int:
    """Match ``bank``'s unmatched lines (or those of ``line_ids``) with unmatched entries. Runs in
    the caller's transaction when there is one. Returns how many lines were matched."""
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may match its bank statements.",
        "not_trustee",
    )
    with transaction.atomic():
        qs = StatementLine.objects.filter(
            bank_account=bank, state=StatementLine.State.UNMATCHED
        ).exclude(amount_minor=0)
        if line_ids is not None:
            qs = qs.filter(pk__in=list(line_ids)) if len(line_ids) <= 2_000 else qs
        lines = list(
            qs.only(
                "id",
                "booking_date",
                "value_date",
                "amount_minor",
                "reference",
                "bank_reference",
                "description",
                "counterparty",
                "parts",
                "state",
                "match_id",
            )
        )
        if line_ids is not None and len(line_ids) > 2_000:
            wanted = set(line_ids)
            lines = [line for line in lines if line.pk in wanted]
        if not lines:
            return 0
        window = bank.match_window_days
        days = [d for line in lines for d in (line.booking_date, line.value_date) if d]
        pool = candidates(
            bank=bank,
            start=min(days) - timedelta(days=window),
            end=max(days) + timedelta(days=window),
        )
        plans = plan_matches(lines, pool, window)
        _save(actor, bank, plans, BankMatch.Method.AUTO)
        flagged = _flag_reconciled(
            bank,
            [
                (
                    p.line.booking_date,
                    p.line.amount_minor,
                    f"line #{p.line.pk} matched automatically after sign-off",
                )
                for p in plans
            ],
            actor,
            "",
        )
        if plans:
            audit_record(
                action="bank.lines_matched",
                actor=actor,
                trust_id=bank.trust_id,
                object_type="bank_account",
                object_id=bank.pk,
                changes={
                    "method": "auto",
                    "matches": [[p.line.pk, [c.entry_id for c in p.entries]] for p in plans],
                    "reconciled_periods_flagged": flagged,
                },
            )
        return len(plans)


def _lines_of(bank: BankAccount, line_ids: Sequence[int]) -> list[StatementLine]:
    lines = list(
        StatementLine.objects.select_for_update()
        .filter(bank_account=bank, pk__in=list(line_ids))
        .order_by("pk")
    )
    if len(lines) != len(set(line_ids)):
        raise ValidationError("A statement line was not found in this account.", code="not_found")
    return lines


def lines_match(
    *,
    actor: Any,
    bank: BankAccount,
    line_ids: Sequence[int],
    entry_ids: Sequence[int],
    note: str = "",
    reason: str = "",
) -> BankMatch:
    """A trustee matches lines with entries by hand: the sums must agree exactly."""
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may match its bank statements.",
        "not_trustee",
    )
    if not line_ids or not entry_ids:
        raise ValidationError("Choose at least one line and one entry.", code="empty")
    with transaction.atomic():
        BankAccount.objects.select_for_update().filter(pk=bank.pk).first()
        lines = _lines_of(bank, line_ids)
        taken = [line for line in lines if line.state != StatementLine.State.UNMATCHED]
        if any(line.state == StatementLine.State.MATCHED for line in taken):
            raise ValidationError(
                "A chosen line is already matched: undo that match first.", code="line_matched"
            )
        found = {
            e.pk: e
            for e in JournalEntry.objects.filter(trust_id=bank.trust_id, pk__in=list(entry_ids))
        }
        if len(found) != len(set(entry_ids)):
            raise ValidationError("An entry was not found in this trust.", code="not_found")
        if MatchedEntry.objects.filter(bank_account=bank, entry_id__in=list(found)).exists():
            raise ValidationError(
                "A chosen entry is already matched with another line.", code="entry_matched"
            )
        lo = min(e.effective_date for e in found.values())
        hi = max(e.effective_date for e in found.values())
        net = {
            c.entry_id: c
            for c in candidates(bank=bank, start=lo, end=hi, exclude_matched=False)
            if c.entry_id in found
        }
        missing = sorted(set(found) - set(net))
        if missing:
            raise ValidationError(
                f"Entry #{missing[0]} does not move this bank account.", code="not_bank"
            )
        line_total = sum(line.amount_minor for line in lines)
        entry_total = sum(c.amount_minor for c in net.values())
        if line_total != entry_total:
            raise ValidationError(
                f"The lines sum to {line_total} and the entries to {entry_total} (minor units):"
                " a match must agree to the cent.",
                code="unequal",
            )
        by = actor if getattr(actor, "pk", None) else None
        match = BankMatch.objects.create(
            trust_id=bank.trust_id,
            bank_account=bank,
            method=BankMatch.Method.MANUAL,
            note=note[:300],
            created_by=by,
        )
        MatchedEntry.objects.bulk_create(
            [
                MatchedEntry(
                    match=match, bank_account=bank, entry_id=c.entry_id, amount_minor=c.amount_minor
                )
                for c in net.values()
            ]
        )
        StatementLine.objects.filter(pk__in=[line.pk for line in lines]).update(
            match=match, state=StatementLine.State.MATCHED, explanation="", explained_by=None
        )
        flagged = _flag_reconciled(
            bank,
            [
                (line.booking_date, line.amount_minor, f"line #{line.pk} matched by hand")
                for line in lines
            ],
            actor,
            reason,
        )
        audit_record(
            action="bank.lines_matched",
            actor=actor,
            trust_id=bank.trust_id,
            object_type="bank_match",
            object_id=match.pk,
            changes={
                "method": "manual",
                "lines": [line.pk for line in lines],
                "entries": sorted(net),
                "amount_minor": line_total,
                "note": note[:300],
                "reconciled_periods_flagged": flagged,
            },
            reason=reason,
        )
    return match


def match_undo(*, actor: Any, match: BankMatch, reason: str) -> None:
    """Undo a match (its lines wait again). A reason is required: it is recorded, and against a
    signed-off reconciliation whose period the lines are in."""
    bank = match.bank_account
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may change its matches.",
        "not_trustee",
    )
    if not reason.strip():
        raise ValidationError({"reason": "Say why the match is undone."}, code="no_reason")
    with transaction.atomic():
        BankAccount.objects.select_for_update().filter(pk=bank.pk).first()
        lines = list(StatementLine.objects.select_for_update().filter(match=match).order_by("pk"))
        entries = list(MatchedEntry.objects.filter(match=match).values_list("entry_id", flat=True))
        if not lines and not entries:
            raise ValidationError("This match was already undone.", code="gone")
        StatementLine.objects.filter(match=match).update(
            match=None, state=StatementLine.State.UNMATCHED
        )
        MatchedEntry.objects.filter(match=match).delete()
        flagged = _flag_reconciled(
            bank,
            [
                (line.booking_date, line.amount_minor, f"match of line #{line.pk} undone")
                for line in lines
            ],
            actor,
            reason,
        )
        audit_record(
            action="bank.match_undone",
            actor=actor,
            trust_id=bank.trust_id,
            object_type="bank_match",
            object_id=match.pk,
            changes={
                "lines": [line.pk for line in lines],
                "entries": sorted(entries),
                "reconciled_periods_flagged": flagged,
            },
            reason=reason,
        )
        match.delete()


def line_explain(*, actor: Any, line: StatementLine, explanation: str) -> None:
    """A trustee says what an unmatched line is, when it is nothing the ledger should hold (a
    bank error the bank will correct, say). It stays a listed item of every reconciliation."""
    bank = line.bank_account
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may explain its bank statements.",
        "not_trustee",
    )
    text = explanation.strip()
    if not text:
        raise ValidationError({"explanation": "Say what this line is."}, code="no_text")
    with transaction.atomic():
        locked = StatementLine.objects.select_for_update().get(pk=line.pk)
        if locked.state == StatementLine.State.MATCHED:
            raise ValidationError(
                "This line is matched: undo the match first.", code="line_matched"
            )
        state = StatementLine.State.EXPLAINED if text else StatementLine.State.UNMATCHED
        StatementLine.objects.filter(pk=line.pk).update(
            state=state,
            explanation=text[:500],
            explained_by=actor if getattr(actor, "pk", None) else None,
        )
        flagged = _flag_reconciled(
            bank,
            [(locked.booking_date, locked.amount_minor, f"line #{line.pk} explained")],
            actor,
            text,
        )
        audit_record(
            action="bank.line_explained",
            actor=actor,
            trust_id=bank.trust_id,
            object_type="statement_line",
            object_id=line.pk,
            changes={"before": locked.explanation, "reconciled_periods_flagged": flagged},
            reason=text[:500],
        )


def line_match_recorded(*, actor: Any, trust_id: int, line_id: int, entry_id: int) -> bool:
    """Match a statement line with the entry just recorded from it (a receipt typed from the
    line's page), when the line is still waiting and the amounts agree; else leave both to
    matching. Returns whether they were matched."""
    line = (
        StatementLine.objects.select_related("bank_account__trust")
        .filter(pk=line_id, trust_id=trust_id, state=StatementLine.State.UNMATCHED)
        .first()
    )
    if line is None:
        return False
    try:
        lines_match(
            actor=actor,
            bank=line.bank_account,
            line_ids=[line.pk],
            entry_ids=[entry_id],
            note="recorded from this line",
        )
    except ValidationError:
        return False
    return True
