"""A fictitious, deterministic demo trust: the same arguments give the same books on every run.

Every name here is invented. Used by ``seed_demo`` (the demo), the tests and the benchmarks.

The demo has two parts:

- **the earlier books**: beneficiaries MV-1 ... MV-n and months of history up to ``ANCHOR``
  (distributions from the clerk of court shared among the children by fixed weights, care payments,
  one reversed duplicate), posted straight to the ledger in batches of ``BATCH`` entries. This is
  what the benchmarks grow to a million postings, so it stays one ``entries_post`` per batch: no
  receipt records, so it counts against no order line, and every cent of it is allocated (nothing
  is left in the unallocated account without a receipt to resolve it);
- **the case**, through the services only (``trust.services.people``, ``orders``, ``receipts``):
  three defendants, a restitution order over the first ``ORDER_CHILDREN`` children and a government
  agency, amended once, five receipts in the anchor month (pro rata from known payers, one from an
  unknown payer left unallocated, one allocated by hand under a court document), encrypted
  identifying details of two children and an implicated person. It costs the same at any size.

The books depend only on the arguments. Dates of birth are set relative to the day of seeding, so
that some children always reach majority within the next 90 days and the warnings have something
to show; they are not part of the books.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from moneyed import Money

from trust.models import (
    Account,
    Beneficiary,
    Defendant,
    EntryKind,
    Posting,
    Receipt,
    RestitutionOrder,
    Trust,
    VictimKind,
)
from trust.money import from_minor
from trust.services.allocations import ManualShare
from trust.services.ledger import EntrySpec, Leg, entries_post, entry_reverse
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_set,
    defendant_create,
    implicated_person_add,
)
from trust.services.receipts import receipt_record
from trust.services.trusts import trust_create

# Months run backwards from this fixed date, so that the data do not depend on the day it is run.
ANCHOR = date(2026, 10, 31)
BATCH = 500
DEMO_COURT = "District Court for the Fictional District of Demonstra"
# The order names at most this many children (MV-1 ...), so the case costs the same at any size.
ORDER_CHILDREN = 5
AGENCY = "Demonstra Victim Services Agency"
DEFENDANTS = (
    ("Quill Example-Defendant", "Defendant 1"),
    ("Rowan Sample-Codefendant", "Defendant 2"),
    ("Tamsin Placeholder-Accomplice", "Defendant 3"),
)
# (name, country): NGOs, all invented; a child is in the care of one in their country.
CARE_PARTNERS = (
    ("Harbor Light Aftercare (demo)", "PH"),
    ("Lantern Youth Center (demo)", "PH"),
    ("Riverside Shelter (demo)", "KH"),
)
IMPLICATED_REFERENCE = "Facilitator 1"
# The amended judgment: in the anchor month, after the case's first receipt and before the others.
AMENDED_ON = date(2026, 10, 8)


@dataclass(frozen=True)
class DemoResult:
    trust: Trust
    created: bool
    entries: int
    postings: int
    case_added: bool = False  # an existing trust from an older seed got its order and receipts


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


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


def _child_profile(
    n: int, rng: random.Random, today: date, majority_age: int
) -> tuple[date, str, int]:
    """Date of birth, country and care partner (index into ``CARE_PARTNERS``) of child MV-n.

    MV-1, MV-11, ... reach majority within the next 90 days; MV-2, MV-7, ... are adults; the others
    are minors of 5 to ``majority_age - 2``. Most live in the Philippines, every sixth in Cambodia.
    """
    if n % 10 == 1:
        born = _years_before(today + timedelta(days=rng.randint(7, 80)), majority_age)
    elif n % 5 == 2:
        years = majority_age + rng.randint(0, 4)
        born = _years_before(today, years) - timedelta(days=rng.randint(1, 300))
    else:
        years = rng.randint(5, majority_age - 2)
        born = _years_before(today, years) - timedelta(days=rng.randint(0, 364))
    if n % 6 == 5:
        return born, "KH", 2
    return born, "PH", n % 2


def _care_partners() -> list[Any]:
    """The demo's care partners, created on first use. ``CarePartner`` is a bare model for now
    (the disbursements issue brings its services); it is reached through the beneficiary's key so
    that ``trust`` imports nothing from ``disbursements``."""
    model = Beneficiary._meta.get_field("care_partner").related_model
    return [
        model.objects.get_or_create(name=name, defaults={"country": country})[0]
        for name, country in CARE_PARTNERS
    ]


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
    """Create the demo trust for these arguments, or return it if it already exists.

    A trust seeded by an older version (no restitution order) gets the case added, once."""
    if beneficiaries < 1 or months < 1:
        raise ValueError("beneficiaries and months must be at least 1")
    case_number = demo_case_number(beneficiaries, months, seed)
    calendar_months = _months_back(ANCHOR, months)
    history_start = date(*calendar_months[0], 1)
    existing = Trust.objects.filter(court=DEMO_COURT, case_number=case_number).first()
    if existing is not None:
        if existing.orders.exists():
            return DemoResult(existing, False, existing.entries.count(), 0)
        children = list(
            existing.beneficiaries.filter(kind=VictimKind.INDIVIDUAL).order_by("pk")[
                :ORDER_CHILDREN
            ]
        )
        entries, postings = _seed_case(existing, children, history_start, actor)
        return DemoResult(existing, False, entries, postings, case_added=True)

    rng = random.Random(seed)
    people = random.Random(f"demo-people-{seed}")  # its own stream: the books do not depend on it
    today = timezone.localdate()
    trust = trust_create(
        caption=f"United States v. Quill Example-Defendant et al. (fictitious demo #{seed})",
        court=DEMO_COURT,
        case_number=case_number,
        base_currency="USD",
        time_zone="America/New_York",
        actor=actor,
    )
    partners = _care_partners()
    accounts = {a.role: a for a in trust.accounts.exclude(role=Account.Role.SUB_LEDGER)}
    bank = accounts[Account.Role.BANK]
    children: list[Beneficiary] = []
    subs: list[Account] = []
    for n in range(1, beneficiaries + 1):
        born, country, partner = _child_profile(n, people, today, trust.majority_age)
        beneficiary = beneficiary_create(
            trust=trust,
            pseudonym=f"MV-{n}",
            actor=actor,
            kind=VictimKind.INDIVIDUAL,
            date_of_birth=born,
            country=country,
            care_partner=partners[partner],
        )
        children.append(beneficiary)
        subs.append(beneficiary.accounts.get())
    weights = [rng.randint(5, 40) for _ in subs]  # stand-in for what the order awards each
    balances = [0] * len(subs)

    specs: list[EntrySpec] = []
    posted_entries = posted_postings = 0

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
            # This draw once held a tenth of some receipts back as unallocated; it stays, so that
            # the history (and the size of the benchmarks' ledger) is what it was.
            rng.random()
            shares = _split(total, weights)
            legs = [Leg(bank, from_minor(total, "USD"))]
            legs += [
                Leg(sub, -from_minor(s, "USD")) for sub, s in zip(subs, shares, strict=True) if s
            ]
            for i, s in enumerate(shares):
                balances[i] += s
            specs.append(
                EntrySpec(
                    effective_date=day,
                    legs=legs,
                    idempotency_key=f"demo-receipt-{year}-{month:02d}-{r}",
                    memo=f"Distribution from the clerk of court ({year}-{month:02d}), earlier books",
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
                    memo=f"Care payment for {children[i].pseudonym}",
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

    entries, postings = _seed_case(trust, children[:ORDER_CHILDREN], history_start, actor)
    posted_entries += entries
    posted_postings += postings
    if progress:
        progress(posted_entries, posted_postings)
    return DemoResult(trust, True, posted_entries, posted_postings)


# --- the case: defendants, the order and its amendment, receipts, private details --------------


def _usd(value: str) -> Money:
    return Money(value, "USD")


def _order_lines(
    children: list[Beneficiary], agency: Beneficiary, defendants: list[Defendant], first: str
) -> list[LineSpec]:
    """The judgment's lines over the children it names (one to ``ORDER_CHILDREN``) and the agency:
    joint and several lines for D1 and D2, several lines for each defendant. ``first`` is the
    amount of line 1 (the amendment raises it)."""
    d1, d2, d3 = defendants
    template = [
        (0, first, [d1, d2]),
        (0, "3000.00", [d3]),
        (1, "9000.00", [d1, d2]),
        (2, "4000.00", [d1]),
        (3, "2500.00", [d2]),
        (4, "1500.00", [d3]),
    ]
    lines = [
        LineSpec(beneficiary=children[child], amount=_usd(amount), defendants=owing)
        for child, amount, owing in template
        if child < len(children)
    ]
    lines.append(LineSpec(beneficiary=agency, amount=_usd("2500.00"), defendants=[d1]))
    return lines


def _total(lines: list[LineSpec]) -> Money:
    return sum((line.amount for line in lines), _usd("0.00"))


def _seed_case(
    trust: Trust, children: list[Beneficiary], history_start: date, actor: Any | None
) -> tuple[int, int]:
    """Add the case to ``trust``, all or nothing; returns the entries and postings it posted."""
    with transaction.atomic():
        agency = trust.beneficiaries.filter(pseudonym=AGENCY).first() or beneficiary_create(
            trust=trust,
            pseudonym=AGENCY,
            actor=actor,
            kind=VictimKind.GOVERNMENT,
            country="US",
        )
        defendants = [
            trust.defendants.filter(name=name).first()
            or defendant_create(trust=trust, name=name, reference=reference, actor=actor)
            for name, reference in DEFENDANTS
        ]
        d1, d2, d3 = defendants
        lines = _order_lines(children, agency, defendants, "12000.00")
        original = order_create(
            trust=trust,
            actor=actor,
            court=DEMO_COURT,
            case_number=trust.case_number,
            judgment_date=history_start - timedelta(days=60),
            total=_total(lines),
            lines=lines,
            document_reference="ECF No. 87 (fictitious)",
        )
        bank = trust.accounts.get(role=Account.Role.BANK)

        def receive(number: int, on: date, amount: str, source: str, **extra: Any) -> Receipt:
            return receipt_record(
                trust=trust,
                actor=actor,
                amount=_usd(amount),
                received_on=on,
                source=source,
                bank_account=bank,
                idempotency_key=f"demo-case-receipt-{number}",
                bank_reference=f"DEMO-WIRE-{number:04d}",
                **extra,
            )

        receipts = [receive(1, date(2026, 10, 3), "3000.00", Receipt.Source.DEFENDANT, payer=d1)]
        lines = _order_lines(children, agency, defendants, "13500.00")
        amended = order_amend(
            order=original,
            actor=actor,
            reason="Amended judgment: line 1 raised after a supplemental statement of losses"
            " (fictitious)",
            judgment_date=AMENDED_ON,
            total=_total(lines),
            lines=lines,
            document_reference="ECF No. 112 (fictitious)",
            payment_terms=RestitutionOrder.PaymentTerms.SCHEDULE,
            schedule_note="USD 500.00 monthly from each defendant (fictitious)",
            first_payment_due=date(2026, 11, 1),
        )
        receipts.append(receive(2, date(2026, 10, 12), "1500.00", Receipt.Source.CLERK, payer=d2))
        receipts.append(receive(3, date(2026, 10, 16), "750.00", Receipt.Source.CLERK, payer=d3))
        receipts.append(
            receive(
                4,
                date(2026, 10, 20),
                "420.00",
                Receipt.Source.CLERK,
                memo="Clerk's cheque with no defendant named: to resolve",
            )
        )
        receipts.append(
            receive(
                5,
                date(2026, 10, 24),
                "2000.00",
                Receipt.Source.FORFEITURE,
                manual=[
                    ManualShare(amount=_usd("1200.00"), line=amended.lines.get(position=1)),
                    ManualShare(amount=_usd("800.00"), line=amended.lines.get(beneficiary=agency)),
                ],
                reason="Order directing distribution of forfeited funds, ECF No. 131 (fictitious)",
            )
        )
        for child in children[:2]:
            beneficiary_identity_set(
                beneficiary=child,
                actor=actor,
                legal_name=f"Legal name on file (demo, {child.pseudonym})",
                guardian_contact=f"Guardian contact on file (demo, {child.pseudonym})",
            )
        if not trust.implicated_people.filter(reference=IMPLICATED_REFERENCE).exists():
            implicated_person_add(
                trust=trust,
                actor=actor,
                reference=IMPLICATED_REFERENCE,
                name="Invented Relative Name (demo)",
                note="Named in the fictitious indictment; never a payee.",
            )
        entry_ids = [receipt.entry_id for receipt in receipts]
    return len(entry_ids), Posting.objects.filter(entry_id__in=entry_ids).count()
