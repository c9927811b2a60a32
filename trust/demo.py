"""A fictitious, deterministic demo trust: the same arguments give the same books on every run.

Every name here is invented. Used by ``seed_demo`` (the demo), the tests and the benchmarks.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from trust.models import Account, EntryKind, Trust
from trust.money import from_minor
from trust.services.ledger import EntrySpec, Leg, entries_post, entry_reverse
from trust.services.people import beneficiary_create
from trust.services.trusts import trust_create

# Months run backwards from this fixed date, so that the data do not depend on the day it is run.
ANCHOR = date(2026, 10, 31)
BATCH = 500
DEMO_COURT = "District Court for the Fictional District of Demonstra"


@dataclass(frozen=True)
class DemoResult:
    trust: Trust
    created: bool
    entries: int
    postings: int


def _months_back(anchor: date, months: int) -> list[tuple[int, int]]:
    year, month = anchor.year, anchor.month
    out = []
    for _ in range(months):
        out.append((year, month))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(out))


def _split(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of ``total`` minor units by integer weights (exact, stable)."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-((total * weights[i]) % whole), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def demo_case_number(beneficiaries: int, months: int, seed: int) -> str:
    return f"DEMO-{seed}-{beneficiaries}x{months}"


def seed_demo_trust(
    *,
    beneficiaries: int = 12,
    months: int = 18,
    seed: int = 2026,
    actor: object | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create the demo trust for these arguments, or return it if it already exists."""
    if beneficiaries < 1 or months < 1:
        raise ValueError("beneficiaries and months must be at least 1")
    case_number = demo_case_number(beneficiaries, months, seed)
    existing = Trust.objects.filter(court=DEMO_COURT, case_number=case_number).first()
    if existing is not None:
        return DemoResult(existing, False, existing.entries.count(), 0)

    rng = random.Random(seed)
    trust = trust_create(
        caption=f"United States v. Quill Example-Defendant et al. (fictitious demo #{seed})",
        court=DEMO_COURT,
        case_number=case_number,
        base_currency="USD",
        actor=actor,
    )
    accounts = {a.role: a for a in trust.accounts.exclude(role=Account.Role.SUB_LEDGER)}
    bank, unallocated = accounts[Account.Role.BANK], accounts[Account.Role.UNALLOCATED]
    subs: list[Account] = []
    pseudonyms: list[str] = []
    for n in range(1, beneficiaries + 1):
        beneficiary = beneficiary_create(trust=trust, pseudonym=f"MV-{n}", actor=actor)
        subs.append(beneficiary.accounts.get())
        pseudonyms.append(beneficiary.pseudonym)
    weights = [rng.randint(5, 40) for _ in subs]  # stand-in for what the order awards each
    balances = [0] * len(subs)

    specs: list[EntrySpec] = []
    posted_entries = posted_postings = 0
    calendar_months = _months_back(ANCHOR, months)

    def flush() -> list[int]:
        nonlocal posted_entries, posted_postings
        if not specs:
            return []
        results = entries_post(trust=trust, actor=actor, entries=specs)
        posted_entries += len(specs)
        posted_postings += sum(len(s.legs) for s in specs)
        specs.clear()
        if progress:
            progress(posted_entries, posted_postings)
        return [r.entry_id for r in results]

    first_receipt_id: int | None = None
    for m_index, (year, month) in enumerate(calendar_months):
        last_day = calendar.monthrange(year, month)[1]
        for r in range(rng.randint(1, 3)):
            day = date(year, month, rng.randint(1, last_day))
            total = rng.randint(2_000, 60_000) * 100
            held_back = total // 10 if rng.random() < 0.15 else 0  # left for a trustee to resolve
            shares = _split(total - held_back, weights)
            legs = [Leg(bank, from_minor(total, "USD"))]
            legs += [
                Leg(sub, -from_minor(s, "USD")) for sub, s in zip(subs, shares, strict=True) if s
            ]
            if held_back:
                legs.append(Leg(unallocated, -from_minor(held_back, "USD")))
            for i, s in enumerate(shares):
                balances[i] += s
            specs.append(
                EntrySpec(
                    effective_date=day,
                    legs=legs,
                    idempotency_key=f"demo-receipt-{year}-{month:02d}-{r}",
                    memo=f"Restitution received from the clerk of court ({year}-{month:02d})",
                    kind=EntryKind.RECEIPT,
                )
            )
        for i, sub in enumerate(subs):
            if balances[i] <= 0 or rng.random() < 0.5:
                continue
            amount = min(balances[i], rng.randint(50, 1_500) * 100)
            balances[i] -= amount
            specs.append(
                EntrySpec(
                    effective_date=date(year, month, min(28, last_day)),
                    legs=[
                        Leg(sub, from_minor(amount, "USD")),
                        Leg(bank, -from_minor(amount, "USD")),
                    ],
                    idempotency_key=f"demo-payment-{year}-{month:02d}-{sub.code}",
                    memo=f"Care payment for {pseudonyms[i]}",
                    kind=EntryKind.PAYMENT,
                )
            )
        if len(specs) >= BATCH or m_index == len(calendar_months) - 1:
            ids = flush()
            if first_receipt_id is None and ids:
                first_receipt_id = ids[0]

    if first_receipt_id is not None:
        # One correction, as the books of a real trust have: a receipt recorded twice, reversed.
        # Post it again first, so that the reversal has balances to take back.
        original = trust.entries.get(pk=first_receipt_id)
        legs = [Leg(p.account_id, p.amount) for p in original.postings.order_by("id")]
        duplicate = entries_post(
            trust=trust,
            actor=actor,
            entries=[
                EntrySpec(
                    effective_date=ANCHOR,
                    legs=legs,
                    idempotency_key="demo-duplicate-receipt",
                    memo="Receipt keyed in twice by mistake",
                    kind=EntryKind.RECEIPT,
                )
            ],
        )[0]
        entry_reverse(
            entry=trust.entries.get(pk=duplicate.entry_id),
            actor=actor,
            reason="Duplicate of an earlier receipt (bank statement shows one credit)",
            effective_date=ANCHOR,
        )
        posted_entries += 2
        posted_postings += 2 * len(legs)
    return DemoResult(trust, True, posted_entries, posted_postings)
