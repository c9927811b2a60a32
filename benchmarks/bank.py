"""Issue 23: importing a bank statement of 10,000 lines and matching it with a large ledger.

The large trust's bank account gets ``lines`` more entries (money in and out, spread over a
year, posted in batches), and the bank's statement of them is written as the bank would send it:
one line per entry, a third with the value date a day or two later, a tenth with the entry's
reference, and a few lines that match nothing (charges). The timed part is
``statement_import`` of that file: parse, store, and match every line with the ledger.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model

from trust.models import Account, Trust
from trust.money import from_minor
from trust.roles import TRUSTEE
from trust.services.appointments import appointment_create
from trust.services.ledger import EntrySpec, Leg, entries_post

START = date(2031, 1, 1)


@dataclass
class BankRun:
    lines: int
    seconds: float
    matched: int
    entries_near: int


def _csv_amount(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def statement_book(trust: Trust, lines: int, seed: int) -> tuple[Any, Any, str]:
    """Post ``lines`` entries moving the bank account and write the bank's CSV of them.
    Returns the trustee, the bank details and the CSV text."""
    from trust.bank.services.statements import bank_account_set

    rng = random.Random(seed)
    bank = trust.accounts.get(role=Account.Role.BANK)
    unallocated = trust.accounts.filter(role=Account.Role.UNALLOCATED).first()
    admin = trust.accounts.filter(role=Account.Role.ADMINISTRATION).first()
    other = unallocated or admin
    if other is None:
        raise RuntimeError("the benchmark trust has no unallocated or administration account")
    users = get_user_model().objects
    trustee = users.create_user(username=f"bench-bank-{trust.pk}-{seed}")
    appointment_create(trust=trust, user=trustee, role=TRUSTEE, actor=None)
    details = bank_account_set(
        actor=trustee, account=bank, number=f"BENCH{trust.pk:06d}{seed:04d}", bank_name="Bench"
    )
    ccy = bank.currency
    rows: list[tuple[date, int, str]] = []
    specs: list[EntrySpec] = []
    balance = 0
    for n in range(lines):
        day = START + timedelta(days=n * 365 // lines)
        minor = rng.randrange(1_000, 500_000)
        if balance > minor and rng.random() < 0.3:
            minor = -minor
        balance += minor
        key = f"bank-bench-{seed}-{n}"
        amount = from_minor(minor, ccy)
        specs.append(
            EntrySpec(
                effective_date=day,
                legs=[Leg(bank, amount), Leg(other, -amount)],
                idempotency_key=key,
                memo="bank benchmark",
            )
        )
        shift = rng.choice((0, 0, 1, 2))
        rows.append((day + timedelta(days=shift), minor, key if rng.random() < 0.1 else ""))
    for start in range(0, len(specs), 500):
        entries_post(trust=trust, actor=None, entries=specs[start : start + 500])
    for _ in range(max(1, lines // 200)):  # charges the ledger does not hold
        rows.append((START + timedelta(days=rng.randrange(365)), -rng.randrange(100, 2_500), ""))
    rows.sort(key=lambda r: r[0])
    text = "Date,Amount,Reference,Details\n" + "".join(
        f"{d.isoformat()},{_csv_amount(m)},{ref},transfer {i}\n"
        for i, (d, m, ref) in enumerate(rows)
    )
    return trustee, details, text


def import_and_match(trustee: Any, details: Any, text: str) -> BankRun:
    from trust.bank.parsing.base import CsvMapping
    from trust.bank.services.statements import statement_import

    mapping = CsvMapping(
        date_column="Date",
        amount_column="Amount",
        reference_column="Reference",
        description_column="Details",
    )
    data = text.encode()
    t0 = time.perf_counter()
    outcome = statement_import(
        actor=trustee, bank=details, data=data, file_name="bench.csv", format="csv", mapping=mapping
    )
    seconds = time.perf_counter() - t0
    return BankRun(lines=outcome.lines, seconds=seconds, matched=outcome.matched, entries_near=0)
