"""The measured operations. Import only after ``django.setup()`` (they use the models).

Every write goes through the posting service (``entry_post``, ``entries_post``, ``seed_demo_trust``)
exactly as the application calls it: autocommit, no outer ``atomic``. Times are wall-clock
``time.perf_counter`` after a warm-up that also prepares each connection's statements.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum

from trust.allocation import Claim
from trust.demo import DemoResult, seed_demo_trust
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    Beneficiary,
    Defendant,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.money import from_minor
from trust.selectors import account_balance, account_balance_as_of
from trust.services.allocations import line_claims, lock_payer_lines
from trust.services.imports import receipts_import
from trust.services.ledger import EntrySpec, Leg, entries_post, entry_post
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record
from trust.services.trusts import trust_create

BENCH_DAY = date(2026, 11, 25)  # every benchmark entry is dated this day (no lock date is set)
BENCH_COURT = "Benchmark Court (fictitious)"
WARMUP_ENTRIES = 20


@dataclass(frozen=True)
class Book:
    """A trust with its bank account and some beneficiaries' sub-ledgers, ready to receive."""

    trust: Trust
    bank: Account
    subs: list[Account]


@dataclass(frozen=True)
class Throughput:
    count: int  # entries posted in ``seconds``
    seconds: float
    postings: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Latency:
    samples_us: list[float]
    seconds: float

    @property
    def count(self) -> int:
        return len(self.samples_us)

    @property
    def median_us(self) -> float:
        return _percentile(self.samples_us, 0.50)

    @property
    def p99_us(self) -> float:
        return _percentile(self.samples_us, 0.99)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def best_block_median_us(self, blocks: int = 5) -> float:
        """The lowest median of ``blocks`` consecutive slices of the samples: what the call costs
        when nothing else on the machine is in the way (``timeit``'s advice to look at the best
        run). Used to compare two sizes, where one slow stretch would otherwise decide."""
        size = max(1, len(self.samples_us) // blocks)
        slices = [self.samples_us[i : i + size] for i in range(0, len(self.samples_us), size)]
        return min(_percentile(part, 0.50) for part in slices if len(part) == size)


def _percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- the ledger ---------------------------------------------------------------------------------


def ledger_postings() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM trust_posting")
        return int(cursor.fetchone()[0])


def account_postings(account_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM trust_posting WHERE account_id = %s", [account_id])
        return int(cursor.fetchone()[0])


def entry_postings(entry_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM trust_posting WHERE entry_id = %s", [entry_id])
        return int(cursor.fetchone()[0])


def server_version() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def autovacuum() -> str:
    """The server's ``autovacuum`` setting ("on"/"off"), or "n/a" on SQLite."""
    if connection.vendor != "postgresql":
        return "n/a"
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return str(cursor.fetchone()[0])


LEDGER_TABLES = (
    "trust_trust",
    "trust_account",
    "trust_account_day",
    "trust_entry",
    "trust_posting",
)


def vacuum_analyze() -> float:
    """PostgreSQL: ``VACUUM ANALYZE`` the ledger tables, as autovacuum does after a bulk load;
    returns the seconds it took. ANALYZE also makes every session re-plan its cached statements."""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(LEDGER_TABLES)}")
    return time.perf_counter() - start


def book_create(label: str, beneficiaries: int) -> Book:
    trust = trust_create(
        caption=f"Benchmark trust {label} (fictitious)",
        court=BENCH_COURT,
        case_number=f"BENCH-{label}",
    )
    subs = [
        beneficiary_create(trust=trust, pseudonym=f"B{label}-{n}").accounts.get()
        for n in range(1, beneficiaries + 1)
    ]
    bank = trust.accounts.get(role=Account.Role.BANK)
    return Book(trust=trust, bank=bank, subs=subs)


def _receipt_legs(book: Book, sub: Account, minor: int = 12_345) -> list[Leg]:
    """Money in: debit the bank, credit one beneficiary. Never overdraws a no-negative account."""
    amount = from_minor(minor, book.trust.base_currency)
    return [Leg(book.bank, amount), Leg(sub, -amount)]


# --- writes -------------------------------------------------------------------------------------


def _post(book: Book, sub: Account, prefix: str, *, count: int = 0, seconds: float = 0.0) -> int:
    """Post receipts of two postings one ``entry_post`` (one transaction) at a time: ``count`` of
    them, or as many as fit in ``seconds``. Returns how many were posted."""
    legs = _receipt_legs(book, sub)
    deadline = time.perf_counter() + seconds
    n = 0
    while (n < count) if count else (time.perf_counter() < deadline):
        entry_post(
            trust=book.trust,
            actor=None,
            effective_date=BENCH_DAY,
            legs=legs,
            idempotency_key=f"{prefix}-{n}",
        )
        n += 1
    return n


def post_single(book: Book, tag: str, seconds: float) -> Throughput:
    """One writer on the calling thread's connection."""
    sub = book.subs[0]
    _post(book, sub, f"{tag}-warm", count=WARMUP_ENTRIES)
    start = time.perf_counter()
    n = _post(book, sub, tag, seconds=seconds)
    elapsed = time.perf_counter() - start
    return Throughput(count=n, seconds=elapsed, postings=2 * n)


def post_concurrent(lanes: list[tuple[Book, Account]], tag: str, seconds: float) -> Throughput:
    """One thread per lane, each with its own database connection (closed when it ends), each
    posting entries of two postings one per transaction for ``seconds`` after a common start."""
    barrier = threading.Barrier(len(lanes) + 1)
    counts = [0] * len(lanes)
    errors: list[BaseException] = []

    def lane(index: int, book: Book, sub: Account) -> None:
        try:
            _post(book, sub, f"{tag}-t{index}-warm", count=WARMUP_ENTRIES)
            barrier.wait(timeout=120)
            counts[index] = _post(book, sub, f"{tag}-t{index}", seconds=seconds)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=lane, args=(i, book, sub), name=f"bench-writer-{i}")
        for i, (book, sub) in enumerate(lanes)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a writer failed: raised below
        barrier.wait(timeout=120)
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"a writer thread failed: {errors[0]!r}") from errors[0]
    total = sum(counts)
    return Throughput(count=total, seconds=elapsed, postings=2 * total)


def post_bulk(book: Book, tag: str, seconds: float, batch: int) -> Throughput:
    """``entries_post`` with ``batch`` entries of two postings per call (one transaction per call),
    the beneficiaries taken in turn so that a call touches many accounts, as an allocation does."""
    legs_by_sub = [_receipt_legs(book, sub) for sub in book.subs]

    def call(prefix: str) -> None:
        specs = [
            EntrySpec(
                effective_date=BENCH_DAY,
                legs=legs_by_sub[i % len(legs_by_sub)],
                idempotency_key=f"{prefix}-{i}",
            )
            for i in range(batch)
        ]
        entries_post(trust=book.trust, actor=None, entries=specs)

    call(f"{tag}-warm")
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        call(f"{tag}-{calls}")
        calls += 1
    elapsed = time.perf_counter() - start
    return Throughput(count=calls * batch, seconds=elapsed, postings=2 * calls * batch)


def seed_ledger(beneficiaries: int, months: int, seed: int) -> tuple[DemoResult, float]:
    start = time.perf_counter()
    result = seed_demo_trust(beneficiaries=beneficiaries, months=months, seed=seed)
    return result, time.perf_counter() - start


# --- reads --------------------------------------------------------------------------------------


def sample(
    read: Callable[[], Any], reads: int, warmup: int, budget_s: float | None = None
) -> Latency:
    """Time ``reads`` calls one by one (after ``warmup`` untimed calls); stop early after
    ``budget_s`` seconds if given, once at least 20 calls are timed. Python's cyclic garbage
    collector is paused while timing, as ``timeit`` does: its pauses are not the ledger's cost."""
    for _ in range(warmup):
        read()
    samples: list[float] = []
    clock = time.perf_counter
    gc.collect()
    gc.disable()
    try:
        start = clock()
        for _ in range(reads):
            t0 = clock()
            read()
            samples.append((clock() - t0) * 1e6)
            if budget_s is not None and len(samples) >= 20 and clock() - start > budget_s:
                break
        elapsed = clock() - start
    finally:
        gc.enable()
    return Latency(samples_us=samples, seconds=elapsed)


def read_balance(account_id: int) -> Callable[[], Any]:
    return lambda: account_balance(account_id=account_id)


def read_balance_as_of(account: Account, as_of: date) -> Callable[[], Any]:
    return lambda: account_balance_as_of(account=account, as_of=as_of)


def read_naive_sum(account_id: int) -> Callable[[], Any]:
    """What a ledger without stored balances pays: add up every posting of the account."""

    def read() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(amount_minor), 0) FROM trust_posting WHERE account_id = %s",
                [account_id],
            )
            return int(cursor.fetchone()[0])

    return read


def mid_history(trust: Trust) -> date:
    span = trust.entries.aggregate(first=Min("effective_date"), last=Max("effective_date"))
    first, last = span["first"], span["last"]
    return first + (last - first) / 2


# --- allocation and receipts at scale (issue 3) ----------------------------------------------------

ALLOCATION_JUDGMENT = date(2026, 3, 2)
RECEIPTS_DAY = date(2026, 11, 2)  # received_on of the receipts below: before BENCH_DAY, not future


@dataclass(frozen=True)
class AllocationBook:
    """A trust whose one defendant owes every one of its beneficiaries on one order."""

    trust: Trust
    bank: Account
    defendant: Defendant
    order: RestitutionOrder
    beneficiaries: int
    owed_minor: int
    build_seconds: float  # beneficiaries and sub-ledgers, in bulk
    order_seconds: float  # order_create with one line per beneficiary


def beneficiaries_bulk_create(trust: Trust, count: int, prefix: str = "MV") -> list[Beneficiary]:
    """``count`` beneficiaries with their sub-ledgers, as ``beneficiary_create`` makes them, in bulk.

    The first is made by ``beneficiary_create`` itself and serves as the template: every other row
    copies each of its fields (the pseudonym, and the sub-ledger's code and name that repeat it,
    aside), so the bulk rows are what the service would have written, 100 times faster."""
    template = beneficiary_create(trust=trust, pseudonym=f"{prefix}-1")
    template_account = template.accounts.get()
    skip = {"id", "pseudonym", "created_at"}
    copied = {
        f.attname: getattr(template, f.attname)
        for f in Beneficiary._meta.concrete_fields
        if f.name not in skip
    }
    made = Beneficiary.objects.bulk_create(
        (Beneficiary(pseudonym=f"{prefix}-{n}", **copied) for n in range(2, count + 1)),
        batch_size=5_000,
    )
    account_skip = {"id", "beneficiary", "code", "name", "created_at", "balance"}
    account_copied = {
        f.attname: getattr(template_account, f.attname)
        for f in Account._meta.concrete_fields
        if f.name not in account_skip
    }
    old = template.pseudonym
    Account.objects.bulk_create(
        (
            Account(
                beneficiary_id=b.pk,
                code=template_account.code.replace(old, b.pseudonym),
                name=template_account.name.replace(old, b.pseudonym),
                **account_copied,
            )
            for b in made
        ),
        batch_size=5_000,
    )
    return [template, *made]


def allocation_book_create(label: str, beneficiaries: int, seed: int) -> AllocationBook:
    """One defendant owing each of ``beneficiaries`` individuals one line (several liability,
    100.00 to 5,000.00 USD, cents varied) of one order written by ``order_create``."""
    trust = trust_create(
        caption=f"Benchmark trust {label} (fictitious)",
        court=BENCH_COURT,
        case_number=f"BENCH-{label}",
    )
    start = time.perf_counter()
    people = beneficiaries_bulk_create(trust, beneficiaries)
    built = time.perf_counter() - start
    defendant = defendant_create(trust=trust, name=f"Invented Defendant {label}")
    rng = random.Random(seed)
    amounts = [rng.randint(10_000, 500_000) for _ in people]
    start = time.perf_counter()
    order = order_create(
        trust=trust,
        actor=None,
        court=BENCH_COURT,
        case_number=f"BENCH-{label}",
        judgment_date=ALLOCATION_JUDGMENT,
        total=from_minor(sum(amounts), "USD"),
        lines=[
            LineSpec(beneficiary=b, amount=from_minor(minor, "USD"), defendants=[defendant])
            for b, minor in zip(people, amounts, strict=True)
        ],
    )
    ordered = time.perf_counter() - start
    return AllocationBook(
        trust=trust,
        bank=trust.accounts.get(role=Account.Role.BANK),
        defendant=defendant,
        order=order,
        beneficiaries=len(people),
        owed_minor=sum(amounts),
        build_seconds=built,
        order_seconds=ordered,
    )


def claims_read(book: AllocationBook) -> list[Claim]:
    """The claims as ``receipt_record`` prepares them: lock the payer's current orders and lines
    and read their outstanding amounts (the service's own helpers, in a transaction that is
    rolled back, since it only reads)."""
    with transaction.atomic():
        lines = lock_payer_lines(book.trust, book.defendant, "USD")
        claims = line_claims(lines)
        transaction.set_rollback(True)
    return claims


def timed(call: Callable[[], Any], runs: int) -> tuple[Any, list[float]]:
    """Run ``call`` ``runs`` times; its last result and each run's seconds (garbage collector on,
    as in the application)."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return result, seconds


def median(values: list[float]) -> float:
    return _percentile(values, 0.50)


def receipt_allocated_to_all(book: AllocationBook, amount_minor: int, key: str) -> Receipt:
    """One receipt from the book's defendant, posted and allocated pro rata by the service."""
    return receipt_record(
        trust=book.trust,
        actor=None,
        amount=from_minor(amount_minor, "USD"),
        received_on=RECEIPTS_DAY,
        source=Receipt.Source.DEFENDANT,
        bank_account=book.bank,
        payer=book.defendant,
        idempotency_key=key,
        memo="Benchmark receipt allocated to every beneficiary",
    )


@dataclass(frozen=True)
class SubLedgerTotals:
    accounts: int
    credited: int  # sub-ledgers with a balance above zero
    total_minor: int


def sub_ledger_totals(trust: Trust) -> SubLedgerTotals:
    row = Account.objects.filter(trust=trust, role=Account.Role.SUB_LEDGER).aggregate(
        accounts=Count("id"),
        credited=Count("id", filter=Q(balance_minor__gt=0)),
        total=Sum("balance_minor"),
    )
    return SubLedgerTotals(row["accounts"], row["credited"], int(row["total"] or 0))


def ledger_ok(trust: Trust) -> tuple[bool, list[str]]:
    """``ledger_violations`` for one trust: whether it passed, and the first few violations."""
    report = ledger_violations(trust_id=trust.pk)
    return report.ok, [str(v) for v in report.violations[:3]]


ORDER_TABLES = (
    "trust_beneficiary",
    "trust_defendant",
    "trust_order",
    "trust_order_line",
    OrderLine.defendants.through._meta.db_table,
    "trust_receipt",
    "trust_allocation",
    "trust_allocation_share",
)


def analyze_orders() -> float:
    """PostgreSQL: ``VACUUM ANALYZE`` the ledger, order and receipt tables after a bulk build, as
    autovacuum would (it is off on some servers); returns the seconds it took."""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(LEDGER_TABLES + ORDER_TABLES)}")
    return time.perf_counter() - start


# --- receipts from a CSV file -------------------------------------------------------------------

CSV_COLUMNS = (
    "received_on",
    "amount",
    "currency",
    "source",
    "payer",
    "bank_account",
    "bank_reference",
    "key",
    "memo",
)
# Rows whose payer is not known: the payer cell is left blank and the money waits, unallocated, for
# a trustee (a name that is no defendant of the trust would refuse the whole file).
UNKNOWN_PAYER_SHARE = 0.05


@dataclass(frozen=True)
class ImportBook:
    trust: Trust
    bank: Account
    payers: list[Defendant]
    lines: int


def import_book_create(label: str, payers: int, seed: int) -> ImportBook:
    """A trust with ``payers`` defendants, each owing one order of 20 to 50 lines (several
    liability, 5,000.00 to 50,000.00 USD) to beneficiaries drawn from a shared pool of 200: far
    more than the receipts below pay, so every receipt from a known payer is allocated."""
    rng = random.Random(seed)
    trust = trust_create(
        caption=f"Benchmark trust {label} (fictitious)",
        court=BENCH_COURT,
        case_number=f"BENCH-{label}",
    )
    people = beneficiaries_bulk_create(trust, 200)
    defendants: list[Defendant] = []
    lines = 0
    for n in range(1, payers + 1):
        defendant = defendant_create(trust=trust, name=f"Invented Payer {n:02d}")
        defendants.append(defendant)
        owed = rng.sample(people, rng.randint(20, 50))
        amounts = [rng.randint(500_000, 5_000_000) for _ in owed]
        order_create(
            trust=trust,
            actor=None,
            court=BENCH_COURT,
            case_number=f"BENCH-{label}-{n:02d}",
            judgment_date=ALLOCATION_JUDGMENT,
            total=from_minor(sum(amounts), "USD"),
            lines=[
                LineSpec(beneficiary=b, amount=from_minor(minor, "USD"), defendants=[defendant])
                for b, minor in zip(owed, amounts, strict=True)
            ],
        )
        lines += len(owed)
    return ImportBook(trust, trust.accounts.get(role=Account.Role.BANK), defendants, lines)


def receipts_csv(book: ImportBook, rows: int, tag: str, seed: int) -> tuple[str, int]:
    """A CSV of ``rows`` receipts in ``CSV_COLUMNS``: amounts of 10.00 to 500.00 USD from the
    book's payers, about 5% with the payer unknown (blank). Returns the text and how many rows
    have no payer."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    unknown = 0
    for n in range(rows):
        if rng.random() < UNKNOWN_PAYER_SHARE:
            payer = ""
            unknown += 1
        else:
            payer = rng.choice(book.payers).name
        minor = rng.randint(1_000, 50_000)
        writer.writerow(
            [
                (RECEIPTS_DAY - timedelta(days=rng.randint(0, 300))).isoformat(),
                f"{minor // 100}.{minor % 100:02d}",
                "USD",
                rng.choice(("clerk", "defendant")),
                payer,
                book.bank.code,
                f"BNK-{tag}-{n:06d}",
                f"{tag}-{n:06d}",
                "Benchmark receipt (fictitious)",
            ]
        )
    return out.getvalue(), unknown


def receipts_import_run(book: ImportBook, text: str) -> Any:
    """Record the CSV through ``trust.services.imports.receipts_import``."""
    return receipts_import(trust=book.trust, actor=None, rows=text)


def receipt_count(trust: Trust) -> int:
    return Receipt.objects.filter(trust=trust).count()


# --- issue 4: approving disbursement requests ---------------------------------------------------


@dataclass
class DisbursementBook:
    trust: Trust
    beneficiaries: list[Beneficiary]
    caseworker: Any
    trustees: list[Any]


def disbursement_book_create(
    label: str, beneficiaries: int, fund_minor: int, trustees: int
) -> DisbursementBook:
    """A trust whose ``beneficiaries`` are in one vetted partner's care, each sub-ledger funded
    with ``fund_minor`` USD by receipts posted in batches, one caseworker and ``trustees``
    trustees (fictitious users)."""
    from django.contrib.auth import get_user_model

    from disbursements.services import care_partner_create, care_partner_vet, caseworker_add
    from trust.roles import TRUSTEE
    from trust.services.appointments import appointment_create

    trust = trust_create(
        caption=f"Benchmark trust {label} (fictitious)",
        court=BENCH_COURT,
        case_number=f"BENCH-{label}",
    )
    users = get_user_model().objects
    staff = []
    for n in range(trustees):
        person = users.create_user(username=f"bench-{label}-trustee-{n}")
        # A trustee is appointed to the trust (issue 19's permission layer), not put in a group.
        appointment_create(trust=trust, user=person, role=TRUSTEE, actor=None)
        staff.append(person)
    partner = care_partner_create(
        actor=staff[0],
        name=f"Benchmark Partner {label} (fictitious)",
        country="PH",
        payout_currency="PHP",
    )
    today = date.today()
    care_partner_vet(
        partner=partner,
        actor=staff[0],
        status="approved",
        vetted_on=today - timedelta(days=10),
        expires_on=today + timedelta(days=355),
    )
    caseworker = users.create_user(username=f"bench-{label}-caseworker")
    caseworker_add(partner=partner, user=caseworker, actor=staff[0])
    people = [
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}", care_partner=partner)
        for n in range(1, beneficiaries + 1)
    ]
    bank = trust.accounts.get(role=Account.Role.BANK)
    money = from_minor(fund_minor, "USD")
    specs = [
        EntrySpec(
            BENCH_DAY,
            [Leg(bank, money), Leg(b.accounts.get().pk, -money)],
            f"fund-{b.pk}",
            memo="Receipt (benchmark)",
            kind="receipt",
        )
        for b in people
    ]
    for start in range(0, len(specs), 500):
        entries_post(trust=trust, actor=None, entries=specs[start : start + 500])
    return DisbursementBook(trust, people, caseworker, staff)


def requests_submitted(book: DisbursementBook, count: int, amount: Callable[[int], int]) -> list:
    """``count`` requests drafted and submitted by the caseworker, round the beneficiaries,
    ``amount(n)`` minor units each."""
    from disbursements.services import request_draft, request_submit

    made = []
    for n in range(count):
        request = request_draft(
            actor=book.caseworker,
            beneficiary=book.beneficiaries[n % len(book.beneficiaries)],
            category="education",
            amount=from_minor(amount(n), "USD"),
            purpose="School fees (benchmark)",
            idempotency_key=f"bench-{n}",
        )
        made.append(request_submit(request=request, actor=book.caseworker))
    return made


def approve_all(requests: list, trustee: Any) -> tuple[int, int, float]:
    """Approve each request in turn; returns (approved, refused, seconds)."""
    from django.core.exceptions import ValidationError

    from disbursements.services import request_approve

    approved = refused = 0
    start = time.perf_counter()
    for request in requests:
        try:
            request_approve(request=request, actor=trustee)
            approved += 1
        except ValidationError:
            refused += 1
    return approved, refused, time.perf_counter() - start


def pay_all(requests: list, trustee: Any) -> tuple[int, int, float]:
    """Record the payment of each approved request in turn, in PHP with a fee (invented bank
    advice: PHP 56 per USD sent, fee 5.00 USD); returns (paid, refused, seconds)."""
    from django.core.exceptions import ValidationError

    from disbursements.services.payments import Transfer, payment_record

    paid = refused = 0
    today = date.today()
    start = time.perf_counter()
    for request in requests:
        try:
            payment_record(
                request=request,
                actor=trustee,
                transfer=Transfer(
                    sent=request.amount,
                    payout=from_minor(request.amount_minor * 56, "PHP"),
                    fee=from_minor(500, "USD"),
                    value_date=today,
                    reference=f"BENCH-TRF-{request.pk}",
                ),
            )
            paid += 1
        except ValidationError:
            refused += 1
    return paid, refused, time.perf_counter() - start


def acknowledge_all(requests: list, caseworker: Any) -> tuple[int, int, float]:
    """The caseworker acknowledges each paid request, every tenth with a shortfall of 1 %."""
    from django.core.exceptions import ValidationError

    from disbursements.services.payments import payment_acknowledge

    done = refused = 0
    start = time.perf_counter()
    for n, request in enumerate(requests):
        payout = request.amount_minor * 56
        arrived = payout - (payout // 100 if n % 10 == 0 else 0)
        try:
            payment_acknowledge(
                request=request,
                actor=caseworker,
                arrived=from_minor(arrived, "PHP"),
                note="Correspondent bank charge (benchmark)",
            )
            done += 1
        except ValidationError:
            refused += 1
    return done, refused, time.perf_counter() - start


def approve_racing(requests: list, trustees: list[Any]) -> tuple[int, int, float, list[str]]:
    """``len(trustees)`` threads, each with its own connection and trustee, take requests from
    one shared list and approve them. Returns (approved, refused, seconds, unexpected errors)."""
    from django.core.exceptions import ValidationError

    from disbursements.services import request_approve

    lock = threading.Lock()
    queue = list(reversed(requests))
    counts = {"approved": 0, "refused": 0}
    unexpected: list[str] = []
    barrier = threading.Barrier(len(trustees))

    def work(trustee: Any) -> None:
        try:
            barrier.wait(timeout=60)
            while True:
                with lock:
                    if not queue:
                        return
                    request = queue.pop()
                try:
                    request_approve(request=request, actor=trustee)
                    outcome = "approved"
                except ValidationError as exc:
                    outcome = "refused"
                    if exc.code != "insufficient_funds":
                        with lock:
                            unexpected.append(str(exc))
                with lock:
                    counts[outcome] += 1
        except Exception as exc:  # reported in the row's note
            with lock:
                unexpected.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in trustees]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["approved"], counts["refused"], time.perf_counter() - start, unexpected


def overdrafts(book: DisbursementBook) -> int:
    """Sub-ledgers whose approved reservations exceed their balance (must be none)."""
    from disbursements.services import reserved_minor

    return sum(
        1
        for b in book.beneficiaries
        for account in [b.accounts.get()]
        if reserved_minor(account.pk) > account.balance_minor or account.balance_minor < 0
    )


# --- issue 5: the audit trail --------------------------------------------------------------------


def audit_append(trust_ids: list[int], seconds: float) -> tuple[int, float, list[str]]:
    """One thread per trust id (its own connection), each recording one audit event per
    transaction for ``seconds``; returns (events, seconds, errors)."""
    from django.db import transaction

    from trust.audit.events import audit_record

    barrier = threading.Barrier(len(trust_ids) + 1)
    counts = [0] * len(trust_ids)
    errors: list[str] = []

    def lane(index: int, trust_id: int) -> None:
        try:
            barrier.wait(timeout=60)
            deadline = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < deadline:
                with transaction.atomic():
                    audit_record(
                        action="bench.event",
                        actor=None,
                        trust_id=trust_id,
                        object_type="bench",
                        object_id=n,
                        changes={"lane": index, "n": n},
                    )
                n += 1
            counts[index] = n
        except Exception as exc:  # reported in the row's note
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=lane, args=(i, t)) for i, t in enumerate(trust_ids)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - start, errors


def audit_fill(total: int, batch: int = 5_000) -> float:
    """Record events (on the global chain, in transactions of ``batch``) until the log holds
    ``total``; returns the seconds it took."""
    from django.db import transaction

    from trust.audit.events import AuditSpec, audit_record_many
    from trust.models import AuditEvent

    start = time.perf_counter()
    missing = total - AuditEvent.objects.count()
    n = 0
    while n < missing:
        size = min(batch, missing - n)
        with transaction.atomic():
            audit_record_many(
                [
                    AuditSpec(
                        action="bench.filler",
                        object_type="bench",
                        object_id=str(n + i),
                        changes={"n": n + i, "note": "benchmark filler event"},
                    )
                    for i in range(size)
                ]
            )
        n += size
    return time.perf_counter() - start


def audit_seal_timed() -> tuple[int, float]:
    from trust.audit.sealing import audit_seal_pending

    start = time.perf_counter()
    sealed = audit_seal_pending()
    return sealed, time.perf_counter() - start


def audit_checkpoint_timed() -> tuple[int, float]:
    from trust.audit.checkpoints import audit_checkpoint

    start = time.perf_counter()
    checkpoint = audit_checkpoint()
    return checkpoint.size, time.perf_counter() - start


def audit_verify_timed() -> tuple[Any, float]:
    """The trail alone: the ledger against the trail is its own row (``entries_binding_timed``)."""
    from trust.audit.verify import audit_verify

    start = time.perf_counter()
    report = audit_verify(entries=False)
    return report, time.perf_counter() - start


def entries_binding_timed() -> tuple[Any, float]:
    """Issue 22: every entry of the ledger against the audit event that committed it, as
    ``check_ledger`` and ``verify_audit`` run it."""
    from trust.audit.entries import entries_binding

    start = time.perf_counter()
    report = entries_binding()
    return report, time.perf_counter() - start
