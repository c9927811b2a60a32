"""One benchmark run: scratch database, pgbench ceiling, the rows, the table and the JSON.

Order of a run (each posting row records how many postings the ledger already held):

1. PostgreSQL only: the pgbench ceiling, with 1 and 8 clients, on its own scratch database.
2. A small ledger (``seed_demo_trust``, about 1,000 postings): the reference reads.
3. Writes on the small ledger: one writer, eight writers on eight trusts, eight writers on one
   trust, and bulk batches.
4. ``seed_demo_trust`` grows the ledger to about 1,000,000 postings (100,000 with ``--quick``).
5. The same reads on the large ledger, and one writer again.
6. Allocation at scale: a trust with 100,000 beneficiaries (10,000 with ``--quick``) owed by one
   defendant on one order; reading the claims, ``allocate`` alone, and one ``receipt_record``
   allocated to all of them.
7. Receipts from CSV: ``receipts_import`` of 10,000 rows (1,000 with ``--quick``).
8. PostgreSQL only: pgbench with one client again, to show how far the server drifted.
"""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import targets
from benchmarks.pgbench import Ceiling, PgbenchError, measure_ceiling, pgbench_path
from benchmarks.report import MET, MISSED, NO_TARGET, Row, format_table, write_json
from benchmarks.scratch import REPO_DIR, Scratch, ServerUrl, bench_dir, prepare_scratch

if TYPE_CHECKING:
    from benchmarks.cases import Book, Latency, Throughput
    from trust.models import Account, Trust

WRITERS = 8
BULK_BATCH = 500  # entries of two postings per entries_post call: 1,000 postings
BULK_BENEFICIARIES = 100
READS = 2_000
READ_WARMUP = 200
CLAIM_READS = 2  # reading 100,000 claims takes seconds: the best of two
ALLOCATE_RUNS = 5
CSV_PAYERS = 12


@dataclass(frozen=True)
class Plan:
    quick: bool
    seconds: int  # per timed row and per pgbench run
    small: tuple[int, int]  # (beneficiaries, months) for seed_demo_trust: about 1,300 postings
    big_total: int  # postings in the ledger for the large read rows
    big_beneficiaries: int
    naive_budget_s: float  # the naive SUM at 1M is slow: stop after this long
    allocation_beneficiaries: int  # one order line each, all owed by one defendant
    csv_receipts: int  # rows of the receipts CSV
    approvals: int  # disbursement requests approved one after another
    audit_events: int  # the audit log is topped up to this many events before verifying it

    @classmethod
    def make(cls, quick: bool, seconds: int | None) -> Plan:
        if quick:
            return cls(
                True, seconds or 2, (22, 18), 100_000, 500, 1.0, 10_000, 1_000, 1_000, 100_000
            )
        return cls(
            False,
            seconds or 10,
            (22, 18),
            1_000_000,
            2_000,
            3.0,
            100_000,
            10_000,
            10_000,
            1_000_000,
        )

    def big_months(self, remaining: int) -> int:
        # seed_demo_trust writes about 3 postings per beneficiary per month: one or three receipts
        # allocated to everyone, and a care payment (two postings) for about half of them.
        per_month = 3 * self.big_beneficiaries + 2
        return max(1, round(remaining / per_month))


def _step(message: str) -> None:
    print(f"- {message}", flush=True)


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout.strip()


def _pgbench(
    server: ServerUrl, seconds: int, configs: tuple[tuple[int, int], ...], notes: list[str]
) -> list[Ceiling]:
    binary = pgbench_path()
    if binary is None:
        note = (
            "pgbench not found (install postgresql-client): no ceiling rows and no share column;"
            " the single-writer target is read as the absolute 800 entries/s"
        )
        print(f"NOTE: {note}", flush=True)
        notes.append(note)
        return []
    _step(f"pgbench on {server.dbname}_pgbench ({binary})")
    try:
        return measure_ceiling(binary, server, seconds, configs)
    except PgbenchError as exc:
        note = f"pgbench failed, continuing without the share column: {exc}"
        print(f"NOTE: {note}", flush=True)
        notes.append(note)
        return []


def _setup_django(scratch: Scratch) -> None:
    import shutil

    os.environ["DATABASE_URL"] = scratch.url
    # A scratch database of invented data: keys made into var/keys/ serve unless the environment
    # has its own (a DATABASE_URL alone would make the settings refuse to start without keys).
    os.environ.setdefault("TRUST_EMBEDDED_KEYS", "1")
    # Reports the run generates are stored here, replaced by the next run.
    media = bench_dir() / "media"
    shutil.rmtree(media, ignore_errors=True)
    os.environ["TRUST_MEDIA_ROOT"] = str(media)
    # The scratch database's signed heads: a witness of its own, emptied with it (a witness that
    # outlived its database would refuse the next run's log: docs/audit.md, "The witness").
    witness = bench_dir() / "audit-witness"
    shutil.rmtree(witness, ignore_errors=True)
    os.environ["TRUST_AUDIT_WITNESS_DIR"] = str(witness)
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory
    # Tasks the services queue (notifications of each request's steps) go to an in-process
    # queue that nothing reads and that ends with the run: never to the developer's own queue,
    # where the demo's worker would act on events of the scratch database.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class Bench:
    """Builds the rows, applies the targets, and prints each row as it is measured."""

    def __init__(self, backend: str, c1: Ceiling | None, c8: Ceiling | None) -> None:
        self.backend = backend
        self.c1 = c1
        self.c8 = c8
        self.rows: list[Row] = []

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        latency = f", median {row.median_us:,.0f} µs" if row.median_us is not None else ""
        verdict = f" [{row.verdict}]" if row.verdict != NO_TARGET else ""
        print(f"  {row.operation}: {row.rate:,.0f} {row.unit}{latency}{verdict}", flush=True)
        return row

    def ceiling(self, c: Ceiling, when: str = "ceiling") -> Row:
        return self.add(
            Row(
                key=f"pgbench_c{c.clients}" + ("" if when == "ceiling" else "_end"),
                operation=f"pgbench -N, {c.clients} client{'s' if c.clients > 1 else ''} ({when})",
                backend=self.backend,
                size=0,
                count=c.transactions,
                seconds=float(c.seconds),
                rate=c.tps,
                unit="tx/s",
                note=f"pgbench -n -N -c {c.clients} -j {c.threads} -T {c.seconds}, scale 1",
            )
        )

    def _writes(self, key: str, operation: str, size: int, result: Throughput, note: str) -> Row:
        return Row(
            key=key,
            operation=operation,
            backend=self.backend,
            size=size,
            count=result.count,
            seconds=result.seconds,
            rate=result.rate,
            unit="entries/s",
            note=note,
        )

    def single_writer(self, key: str, size: int, result: Throughput, note: str) -> Row:
        row = self._writes(key, "entry_post, 1 writer", size, result, note)
        if self.c1 is not None:
            share = targets.SINGLE_WRITER_SHARE_OF_C1
            row.share, row.share_of = result.rate / self.c1.tps, "c1"
            row.target = f">= {share:.0%} of c1 ({share * self.c1.tps:,.0f}/s)"
            row.verdict = MET if row.share >= share else MISSED
            absolute = targets.SINGLE_WRITER_ENTRIES_PER_S
            row.note += (
                f"; the absolute {absolute}/s is {'met' if result.rate >= absolute else 'missed'}"
                f" (pgbench -c1 here: {self.c1.tps:,.0f} tx/s)"
            )
        else:
            row.target = f">= {targets.SINGLE_WRITER_ENTRIES_PER_S}/s"
            row.verdict = MET if result.rate >= targets.SINGLE_WRITER_ENTRIES_PER_S else MISSED
        return self.add(row)

    def concurrent(self, key: str, operation: str, size: int, result: Throughput, note: str) -> Row:
        row = self._writes(key, operation, size, result, note)
        if self.c8 is not None:
            row.share, row.share_of = result.rate / self.c8.tps, "c8"
        return self.add(row)

    def bulk(self, size: int, result: Throughput) -> Row:
        rate = result.postings / result.seconds
        return self.add(
            Row(
                key="post_bulk",
                operation=f"entries_post, {BULK_BATCH} entries per call",
                backend=self.backend,
                size=size,
                count=result.postings,
                seconds=result.seconds,
                rate=rate,
                unit="postings/s",
                target=f">= {targets.BULK_POSTINGS_PER_S:,}/s",
                verdict=MET if rate >= targets.BULK_POSTINGS_PER_S else MISSED,
                note=(
                    f"{result.count // BULK_BATCH:,} calls of {BULK_BATCH} entries x 2 postings,"
                    f" {BULK_BENEFICIARIES} sub-ledgers in turn ({result.rate:,.0f} entries/s)"
                ),
            )
        )

    def read(
        self, key: str, operation: str, size: int, latency: Latency, note: str, target: str = ""
    ) -> Row:
        return self.add(
            Row(
                key=key,
                operation=operation,
                backend=self.backend,
                size=size,
                count=latency.count,
                seconds=latency.seconds,
                rate=latency.rate,
                unit="reads/s",
                median_us=latency.median_us,
                p99_us=latency.p99_us,
                target=target,
                note=note,
                extra={"best_block_median_us": latency.best_block_median_us()},
            )
        )


def _reads(
    bench: Bench,
    plan: Plan,
    account: Account,
    as_of: date,
    scale: str,
    reference: Row | None,
    notes: list[str],
) -> Row:
    """The three ways to read one account's balance; returns the stored-balance row."""
    from benchmarks import cases

    size = cases.ledger_postings()
    own = cases.account_postings(account.pk)
    target = "p99 < 1 ms" + ("" if reference is None else ", median ~ small ledger")
    balance = bench.read(
        f"balance_{scale}",
        "account_balance (stored balance)",
        size,
        cases.sample(cases.read_balance(account.pk), READS, READ_WARMUP),
        f"bank account, {own:,} postings of its own",
        target=target,
    )
    fast = balance.p99_us is not None and balance.p99_us < targets.READ_P99_US
    flat = True
    if reference is not None and reference.median_us is not None:
        # Compare the best of five slices on each side: the median of one run moves by half
        # between runs of the same read on this machine (Python and scheduler noise; the SQL
        # itself is a primary-key lookup), and one slow stretch must not decide the verdict.
        then = reference.extra["best_block_median_us"]
        now = balance.extra["best_block_median_us"]
        allowed = targets.read_median_allowed_us(then)
        flat = now <= allowed
        balance.extra["median_allowed_us"] = allowed
        balance.note += (
            f"; best-slice median {now:,.0f} µs against {then:,.0f} µs at the small size"
            f" (allowed {allowed:,.0f} µs: +{targets.READ_NOISE_RATIO - 1:.0%}"
            f" or +{targets.READ_NOISE_US:.0f} µs)"
        )
    balance.verdict = MET if fast and flat else MISSED

    days = account.days.filter(day__lte=as_of).count()
    bench.read(
        f"balance_as_of_{scale}",
        "account_balance_as_of (daily movements)",
        size,
        cases.sample(cases.read_balance_as_of(account, as_of), READS, READ_WARMUP),
        f"bank account, as of {as_of}: sums {days:,} daily rows",
    )

    naive = cases.read_naive_sum(account.pk)
    account.refresh_from_db()
    consistent = naive() == account.balance_minor  # an asset: balance = +sum of its postings
    bench.read(
        f"naive_sum_{scale}",
        "naive SUM(amount_minor) (contrast)",
        size,
        cases.sample(naive, READS, 2, plan.naive_budget_s),
        f"sums {own:,} postings; equals the stored balance: {'yes' if consistent else 'NO'}",
    )
    if not consistent:
        notes.append(f"account {account.code}: stored balance differs from the sum of its postings")
    return balance


def _writes(bench: Bench, plan: Plan, tag: str) -> Book:
    """The write rows on the small ledger; returns the single writer's trust for later."""
    from benchmarks import cases

    single = cases.book_create("single", 1)
    bench.single_writer(
        "post_single",
        cases.ledger_postings(),
        cases.post_single(single, f"{tag}-single", plan.seconds),
        "2 postings per entry, one transaction each (autocommit)",
    )

    books = [cases.book_create(f"indep{i}", 1) for i in range(WRITERS)]
    bench.concurrent(
        "post_8_independent",
        f"entry_post, {WRITERS} writers, {WRITERS} trusts",
        cases.ledger_postings(),
        cases.post_concurrent([(b, b.subs[0]) for b in books], f"{tag}-indep", plan.seconds),
        f"{WRITERS} threads, own connection each, no row in common",
    )

    shared = cases.book_create("shared", WRITERS)
    bench.concurrent(
        "post_8_shared",
        f"entry_post, {WRITERS} writers, 1 trust",
        cases.ledger_postings(),
        cases.post_concurrent([(shared, s) for s in shared.subs], f"{tag}-shared", plan.seconds),
        f"{WRITERS} threads, own sub-ledger each, all queue for the trust's bank row",
    )

    bulk = cases.book_create("bulk", BULK_BENEFICIARIES)
    size = cases.ledger_postings()
    bench.bulk(size, cases.post_bulk(bulk, f"{tag}-bulk", plan.seconds, BULK_BATCH))
    return single


def _entries_trail(bench: Bench, notes: list[str]) -> None:
    """Issue 22: every entry of the large ledger against the audit event that committed it."""
    from benchmarks import cases

    postings = cases.ledger_postings()
    _step(f"entries against the trail: {postings:,} postings")
    report, seconds = cases.entries_binding_timed()
    bench.add(
        Row(
            key="entries_binding",
            operation=f"entries against the trail, {postings:,} postings",
            backend=bench.backend,
            size=postings,
            count=postings,
            seconds=seconds,
            rate=postings / seconds,
            unit="postings/s",
            note=(
                f"trust.audit.entries.entries_binding over the whole ledger ({report.entries:,}"
                f" entries, as check_ledger and verify_audit run it); binds:"
                f" {'yes' if report.ok else report.problems[0]}"
            ),
        )
    )
    if not report.ok:
        notes.append(f"an entry of the benchmark's ledger is not bound: {report.problems[0]}")


def _seed_large(bench: Bench, plan: Plan, notes: list[str]) -> Account:
    from benchmarks import cases

    size = cases.ledger_postings()
    months = plan.big_months(plan.big_total - size)
    b = plan.big_beneficiaries
    _step(f"large ledger: seed_demo_trust({b:,} beneficiaries x {months} months)")
    big, seconds = cases.seed_ledger(b, months, seed=2)
    row = bench.add(
        Row(
            key="seed_demo_trust",
            operation="seed_demo_trust (builds the large ledger)",
            backend=bench.backend,
            size=size,
            count=big.postings,
            seconds=seconds,
            rate=big.postings / seconds,
            unit="postings/s",
            note=(
                f"{b:,} beneficiaries x {months} months: {big.entries:,} entries, posted in batches of 500"
                f" entries or more; each receipt allocates to all {b:,}"
            ),
        )
    )
    if bench.backend == "postgresql":
        # What autovacuum does after a bulk load, done now so that the rows below do not depend
        # on whether it got there first (or at all: some servers run with autovacuum off).
        took = cases.vacuum_analyze()
        autovacuum = cases.autovacuum()
        row.note += f"; then VACUUM ANALYZE of the ledger tables ({took:,.1f} s)"
        row.extra["vacuum_analyze_seconds"] = took
        if autovacuum != "on":
            notes.append(
                f"autovacuum is {autovacuum} on this server: nothing but the benchmark's own"
                " VACUUM ANALYZE after the seed keeps statistics and dead rows in check"
            )
    return big.trust.accounts.get(role="bank")


def _allocation(bench: Bench, plan: Plan, tag: str, notes: list[str]) -> None:
    """Issue 3: one receipt shared among ``plan.allocation_beneficiaries`` order lines."""
    from benchmarks import cases
    from trust.allocation import allocate
    from trust.money import format_money

    n = plan.allocation_beneficiaries
    _step(f"allocation: a trust with {n:,} beneficiaries owed by one defendant on one order")
    size = cases.ledger_postings()
    book = cases.allocation_book_create(f"{tag}-alloc", n, seed=3)
    built_ok, built_problems = cases.ledger_ok(book.trust)
    if not built_ok:
        notes.append(f"the {n:,}-beneficiary trust fails the ledger check: {built_problems}")
    bench.add(
        Row(
            key="order_create_large",
            operation=f"order_create, {n:,} lines",
            backend=bench.backend,
            size=size,
            count=n,
            seconds=book.order_seconds,
            rate=n / book.order_seconds,
            unit="lines/s",
            note=(
                f"one order, one defendant, several liability, 100.00 to 5,000.00 USD a line;"
                f" the {n:,} beneficiaries and sub-ledgers were built in bulk first"
                f" ({book.build_seconds:,.1f} s: one beneficiary_create, its rows copied),"
                f" ledger check after the build: {'passed' if built_ok else 'FAILED'}"
            ),
            extra={"beneficiaries_build_seconds": book.build_seconds},
        )
    )
    analyzed = ""
    if bench.backend == "postgresql":
        analyzed = f"; after VACUUM ANALYZE of the ledger and order tables ({cases.analyze_orders():,.1f} s)"

    claims, read_runs = cases.timed(lambda: cases.claims_read(book), CLAIM_READS)
    read_s = min(read_runs)
    bench.add(
        Row(
            key="allocate_claims_read",
            operation=f"read the claims, {n:,} lines",
            backend=bench.backend,
            size=size,
            count=len(claims),
            seconds=read_s,
            rate=len(claims) / read_s,
            unit="claims/s",
            note=(
                "what receipt_record does before allocating: lock the payer's orders and lines"
                f" and read their outstanding amounts (best of {CLAIM_READS}:"
                f" {', '.join(f'{s:,.2f}' for s in read_runs)} s){analyzed}"
            ),
            extra={"runs_seconds": read_runs},
        )
    )

    amount = book.owed_minor // 10 + 37  # about a tenth of what is owed: every line gets a share
    result, runs = cases.timed(lambda: allocate(amount, claims), ALLOCATE_RUNS)
    gc.disable()
    try:
        _, runs_no_gc = cases.timed(lambda: allocate(amount, claims), ALLOCATE_RUNS)
    finally:
        gc.enable()
    took = cases.median(runs)
    judged = n == targets.ALLOCATE_CLAIMS
    target = f"< {targets.ALLOCATE_SECONDS:g} s"
    row = bench.add(
        Row(
            key="allocate",
            operation=f"allocate, {n:,} beneficiaries",
            backend=bench.backend,
            size=size,
            count=len(claims),
            seconds=took,
            rate=len(claims) / took,
            unit="claims/s",
            target=target if judged else f"({target} at {targets.ALLOCATE_CLAIMS:,})",
            verdict=(MET if took < targets.ALLOCATE_SECONDS else MISSED) if judged else NO_TARGET,
            note=(
                f"trust.allocation.allocate alone, claims in memory: median of {ALLOCATE_RUNS}"
                f" ({min(runs):,.2f} to {max(runs):,.2f} s); with the garbage collector paused"
                f" {cases.median(runs_no_gc):,.2f} s; {len(result.shares):,} shares,"
                f" unallocated {result.unallocated}"
            ),
            extra={"runs_seconds": runs, "runs_no_gc_seconds": runs_no_gc},
        )
    )
    if len(result.shares) != n:
        row.note += f"; NOT every line got a share ({len(result.shares):,} of {n:,})"

    before = cases.sub_ledger_totals(book.trust)
    size = cases.ledger_postings()
    start = time.perf_counter()
    receipt = cases.receipt_allocated_to_all(book, amount, f"{tag}-alloc-receipt")
    elapsed = time.perf_counter() - start
    postings = cases.entry_postings(receipt.entry_id)
    after = cases.sub_ledger_totals(book.trust)
    credited = after.total_minor - before.total_minor
    adds_up = credited == receipt.amount_minor - receipt.unallocated_minor and not (
        receipt.unallocated_minor
    )
    ok, problems = cases.ledger_ok(book.trust)
    bench.add(
        Row(
            key="receipt_allocated",
            operation=f"receipt_record, allocated to {n:,}",
            backend=bench.backend,
            size=size,
            count=postings,
            seconds=elapsed,
            rate=postings / elapsed,
            unit="postings/s",
            note=(
                f"one receipt of {format_money(receipt.amount)} from the defendant: one entry of {postings:,}"
                f" postings, {after.credited:,} of {after.accounts:,} sub-ledgers credited;"
                f" the sub-ledgers add up to the receipt: {'yes' if adds_up else 'NO'};"
                f" ledger check of the trust: {'passed' if ok else 'FAILED'}"
            ),
            extra={"receipt_minor": receipt.amount_minor, "sub_ledgers_minor": credited},
        )
    )
    if not adds_up or after.credited != n:
        notes.append(
            f"receipt allocated to {n:,}: sub-ledgers credited {credited} minor units for a"
            f" receipt of {receipt.amount_minor} ({after.credited:,} of {n:,} credited)"
        )
    if not ok:
        notes.append(f"the {n:,}-beneficiary trust fails the ledger check: {problems}")


def _csv_import(bench: Bench, plan: Plan, tag: str, notes: list[str]) -> None:
    """Issue 3: ``receipts_import`` of a CSV of ``plan.csv_receipts`` receipts."""
    from django.db import connection

    from benchmarks import cases
    from trust.money import format_money

    rows = plan.csv_receipts
    _step(f"receipts from CSV: {rows:,} rows, {CSV_PAYERS} payers")
    book = cases.import_book_create(f"{tag}-csv", CSV_PAYERS, seed=4)
    text, unknown = cases.receipts_csv(book, rows, tag, seed=5)
    size = cases.ledger_postings()
    # An import runs as its own command, on a new connection. On the connection that ran the rows
    # above, 10,000 rows took 93 s on PostgreSQL; on a new one 26 to 28 s. Most likely the plans
    # that connection cached while the tables were small (see "Without ANALYZE" in
    # docs/benchmarks.md); not investigated further.
    connection.close()
    start = time.perf_counter()
    result = cases.receipts_import_run(book, text)
    elapsed = time.perf_counter() - start
    recorded = cases.receipt_count(book.trust)
    ok, problems = cases.ledger_ok(book.trust)
    left = ", ".join(format_money(m) for m in result.unallocated.values()) or "nothing"
    bench.add(
        Row(
            key="receipts_import",
            operation=f"receipts_import, {rows:,} CSV rows",
            backend=bench.backend,
            size=size,
            count=result.created,
            seconds=elapsed,
            rate=result.created / elapsed,
            unit="receipts/s",
            note=(
                f"{CSV_PAYERS} payers, each owing one order of 20 to 50 lines ({book.lines:,}"
                f" lines in all); {unknown:,} rows with no payer (unallocated: {left});"
                f" one transaction; {recorded:,} receipts recorded,"
                f" ledger check of the trust: {'passed' if ok else 'FAILED'}"
            ),
            extra={"rows": rows, "rows_without_payer": unknown, "order_lines": book.lines},
        )
    )
    if recorded != rows:
        notes.append(f"receipts_import recorded {recorded:,} receipts of {rows:,} rows")
    if not ok:
        notes.append(f"the CSV trust fails the ledger check: {problems}")


RACE_WORKERS = 16
RACE_BENEFICIARIES = 20
RACE_PER_BENEFICIARY = 12  # requests of 150.00 against 1,000.00: 6 fit, 6 must be refused


def _approvals(bench: Bench, plan: Plan, tag: str, notes: list[str]) -> None:
    """Issue 4: approving, paying and acknowledging disbursement requests one after another,
    and 16 trustees racing for sub-ledgers."""
    from django.db import connection

    from benchmarks import cases
    from trust.invariants import ledger_violations

    n = plan.approvals
    _step(f"disbursements: {n:,} requests approved one after another")
    book = cases.disbursement_book_create(f"{tag}-appr", 200, 100_000_000, trustees=1)
    requests = cases.requests_submitted(book, n, lambda i: 1_000 + (i * 7919) % 49_000)
    size = cases.ledger_postings()
    approved, refused, seconds = cases.approve_all(requests, book.trustees[0])
    bench.add(
        Row(
            key="request_approve",
            operation=f"request_approve, {n:,} requests",
            backend=bench.backend,
            size=size,
            count=approved,
            seconds=seconds,
            rate=approved / seconds,
            unit="approvals/s",
            note=(
                f"one trustee, one request at a time, each its own transaction: lock the sub-ledger,"
                f" check vetting, payee, budget and available funds, reserve, record the history;"
                f" 200 beneficiaries; {approved:,} approved, {refused:,} refused;"
                f" sub-ledgers over-reserved: {cases.overdrafts(book)}"
            ),
        )
    )
    if refused:
        notes.append(f"{refused:,} of the {n:,} approvals were refused (none should be)")
    _step(f"disbursements: the {approved:,} approved requests paid, then acknowledged")
    paid, refused, seconds = cases.pay_all(requests, book.trustees[0])
    bench.add(
        Row(
            key="payment_record",
            operation=f"payment_record, {n:,} payments",
            backend=bench.backend,
            size=cases.ledger_postings(),
            count=paid,
            seconds=seconds,
            rate=paid / seconds,
            unit="payments/s",
            note=(
                "one trustee, one payment at a time: lock the sub-ledger and the request,"
                " re-check vetting and funds, post the payment (USD and PHP legs through the"
                f" trading accounts) and the fee entry, record the history; {paid:,} paid,"
                f" {refused:,} refused"
            ),
        )
    )
    if refused:
        notes.append(f"{refused:,} of the {n:,} payments were refused (none should be)")
    acknowledged, refused, seconds = cases.acknowledge_all(requests, book.caseworker)
    report = ledger_violations(trust_id=book.trust.pk)
    bench.add(
        Row(
            key="payment_acknowledge",
            operation=f"payment_acknowledge, {n:,} payments",
            backend=bench.backend,
            size=cases.ledger_postings(),
            count=acknowledged,
            seconds=seconds,
            rate=acknowledged / seconds,
            unit="payments/s",
            note=(
                "the caseworker acknowledges each payment (every tenth 1 % short: a shortfall"
                f" entry too); {acknowledged:,} cleared, {refused:,} refused; check_ledger of the"
                f" trust afterwards: {'passed' if report.ok else report.violations[:3]}"
            ),
        )
    )
    if refused or not report.ok:
        notes.append(f"acknowledgements: {refused:,} refused; ledger ok: {report.ok}")
    if connection.vendor != "postgresql":
        return
    _step(f"disbursements: {RACE_WORKERS} trustees racing for {RACE_BENEFICIARIES} sub-ledgers")
    race = cases.disbursement_book_create(
        f"{tag}-race", RACE_BENEFICIARIES, 100_000, trustees=RACE_WORKERS
    )
    racing = cases.requests_submitted(
        race, RACE_BENEFICIARIES * RACE_PER_BENEFICIARY, lambda i: 15_000
    )
    approved, refused, seconds, unexpected = cases.approve_racing(racing, race.trustees)
    fits = RACE_BENEFICIARIES * (100_000 // 15_000)
    over = cases.overdrafts(race)
    bench.add(
        Row(
            key="request_approve_race",
            operation=f"request_approve, {RACE_WORKERS} workers racing",
            backend=bench.backend,
            size=cases.ledger_postings(),
            count=approved + refused,
            seconds=seconds,
            rate=(approved + refused) / seconds,
            unit="decisions/s",
            note=(
                f"{RACE_WORKERS} threads, a connection and a trustee each, take"
                f" {len(racing):,} requests of 150.00 against {RACE_BENEFICIARIES} sub-ledgers of"
                f" 1,000.00 (6 fit each): {approved:,} approved (expected {fits:,}),"
                f" {refused:,} refused for want of funds; sub-ledgers over-reserved: {over}"
            ),
        )
    )
    if approved != fits or over or unexpected:
        notes.append(
            f"racing approvals: {approved} approved of {fits} expected, {over} over-reserved,"
            f" unexpected errors: {unexpected[:3]}"
        )


AUDIT_VERIFY_TARGET = 250_000  # events/s, reading them from the database included


def _audit(bench: Bench, plan: Plan, tag: str, notes: list[str]) -> None:
    """Issue 5: appending audit events (1 writer; 8 writers on PostgreSQL) and verifying the
    whole log (at least ``plan.audit_events`` events, topped up with filler events)."""
    from django.db import connection

    from benchmarks import cases
    from trust.services.trusts import trust_create

    trusts = [
        trust_create(
            caption=f"Audit benchmark {tag} {n} (fictitious)",
            court=cases.BENCH_COURT,
            case_number=f"BENCH-{tag}-AUDIT-{n}",
        ).pk
        for n in range(WRITERS)
    ]
    _step("audit trail: appending events, one per transaction")
    lanes = [("audit_append_1", "1 writer", trusts[:1])]
    if connection.vendor == "postgresql":
        lanes += [
            ("audit_append_8", f"{WRITERS} writers, {WRITERS} trusts", trusts),
            ("audit_append_8_one", f"{WRITERS} writers, 1 trust", [trusts[0]] * WRITERS),
        ]
    for key, label, lane_trusts in lanes:
        events, seconds, errors = cases.audit_append(lane_trusts, plan.seconds)
        bench.add(
            Row(
                key=key,
                operation=f"audit_record, {label}",
                backend=bench.backend,
                size=events,
                count=events,
                seconds=seconds,
                rate=events / seconds,
                unit="events/s",
                note=(
                    "one event per transaction, each thread its own connection, on its trust's"
                    " chain; writers lock nothing of the trail (the sealer chains the events)"
                    + (f"; errors: {errors[:2]}" if errors else "")
                ),
            )
        )
    _step(f"audit trail: the log topped up to {plan.audit_events:,} events, then a checkpoint")
    filled = cases.audit_fill(plan.audit_events)
    sealed, seal_s = cases.audit_seal_timed()
    bench.add(
        Row(
            key="audit_seal",
            operation=f"audit_seal_pending, {sealed:,} events",
            backend=bench.backend,
            size=sealed,
            count=sealed,
            seconds=seal_s,
            rate=sealed / seal_s if seal_s else 0.0,
            unit="events/s",
            note="the sealer: each event's place and hash in its chain and its place in the log,"
            " written in batches of 5,000 (in production it runs every minute)",
        )
    )
    size, checkpoint_s = cases.audit_checkpoint_timed()
    _step(f"audit trail: verifying {size:,} events")
    report, seconds = cases.audit_verify_timed()
    rate = report.events / seconds
    verdict_met = rate >= AUDIT_VERIFY_TARGET
    bench.add(
        Row(
            key="audit_verify",
            operation=f"audit_verify, {report.events:,} events",
            backend=bench.backend,
            size=report.events,
            count=report.events,
            seconds=seconds,
            rate=rate,
            unit="events/s",
            target=f">= {AUDIT_VERIFY_TARGET:,}/s",
            verdict=MET if verdict_met else MISSED,
            note=(
                f"read from the database in leaf order, every chain hash and leaf recomputed, every"
                f" checkpoint root and signature checked ({report.checkpoints} checkpoints,"
                f" {report.chains} chains); verifies: {'yes' if report.ok else report.first};"
                f" filling the log took {filled:.1f} s, the checkpoint over it {checkpoint_s:.1f} s"
            ),
        )
    )
    if not report.ok:
        notes.append(f"the benchmark's audit trail does not verify: {report.first}")


def _reports(
    bench: Bench, plan: Plan, tag: str, notes: list[str], big: Trust, small: Trust, broker: str
) -> None:
    """Issue 6: statements on one core, a batch through real workers, and the account to the
    court of the large ledger (its last quarter, last year and whole history)."""
    from benchmarks import reports

    wanted = 100 if plan.quick else 400
    _step(f"reports: {wanted} monthly statements of the small trust, one process")
    one = reports.statements_one_core(small, wanted)
    c1 = bench.c1.tps if bench.c1 is not None else None
    wanted_rate = targets.statements_target(c1)
    limit = targets.court_account_target(c1)
    bench.add(
        Row(
            key="statements_one_core",
            operation="beneficiary statements, 1 process",
            backend=bench.backend,
            size=one.count,
            count=one.count,
            seconds=one.seconds,
            rate=one.rate,
            unit="statements/s",
            target=_scaled(f">= {targets.STATEMENTS_PER_S}/s", bench, f">= {wanted_rate:,.0f}/s"),
            verdict=MET if one.rate >= wanted_rate and not one.failed else MISSED,
            note=(
                f"report_generate end to end: figures, checkpoint, verification code, PDF"
                f" (reportlab), storage, audit event, commit; {one.pages:,} pages"
                f" ({one.pages / max(1, one.count):.2f} per statement), {one.failed} failed"
            ),
        )
    )
    count = 1_000 if plan.quick else 10_000
    workers = os.cpu_count() or 2
    _step(f"reports: a batch of {count:,} statements through {workers} Celery worker processes")
    trust, period = reports.statement_trust(tag, count)
    try:
        batch = reports.batch_through_workers(trust, period, broker, workers)
        bench.add(
            Row(
                key="statements_celery_batch",
                operation=f"batch of {count:,} statements, {workers} Celery workers",
                backend=bench.backend,
                size=count,
                count=batch.count,
                seconds=batch.seconds,
                rate=batch.rate,
                unit="statements/s",
                note=(
                    f"broker {broker.split('://')[0]}, prefork -c {workers}, acks_late; from the"
                    f" first message sent to the last statement committed; {batch.failed} failed,"
                    f" {batch.pages:,} pages"
                ),
            )
        )
    except RuntimeError as exc:
        notes.append(f"the Celery batch could not run: {exc}")
    span = reports.trust_span(big)
    postings = cases_postings(big)
    for key, label, period in (
        ("court_account_quarter", "last quarter", reports.last_quarter(span)),
        ("court_account_year", "last year", reports.last_year(span)),
        ("court_account_all", "whole history", span),
    ):
        _step(f"reports: account to the court of the large trust, {label} ({period})")
        run = reports.court_account_timed(big, period)
        bench.add(
            Row(
                key=key,
                operation=f"court account, {postings:,} postings, {label}",
                backend=bench.backend,
                size=postings,
                count=1,
                seconds=run.seconds,
                rate=run.postings_in_period / run.seconds if run.seconds else 0.0,
                unit="postings/s",
                target=_scaled(
                    f"< {targets.COURT_ACCOUNT_SECONDS:.0f} s", bench, f"< {limit:.1f} s"
                ),
                verdict=MET if run.ok and run.seconds < limit else MISSED,
                note=(
                    f"{period.label}: {run.postings_in_period:,} postings in the period,"
                    f" {run.items:,} schedule items, {run.pages:,} pages"
                    + ("" if run.ok else f"; FAILED: {run.error}")
                ),
            )
        )


def _bank(bench: Bench, plan: Plan, big: Trust, notes: list[str]) -> None:
    """Issue 23: a statement of 10,000 lines imported and matched against the large ledger."""
    from benchmarks import bank, cases

    lines = targets.BANK_STATEMENT_LINES
    _step(f"bank: {lines:,} entries moving the bank account, then their statement imported")
    trustee, details, text = bank.statement_book(big, lines, seed=4)
    size = cases.ledger_postings()
    run = bank.import_and_match(trustee, details, text)
    limit = targets.BANK_IMPORT_SECONDS
    if run.matched < lines:
        notes.append(f"bank import: only {run.matched:,} of {lines:,} ledger entries matched")
    bench.add(
        Row(
            key="bank_statement_import",
            operation=f"statement of {run.lines:,} lines: import and match",
            backend=bench.backend,
            size=size,
            count=run.lines,
            seconds=run.seconds,
            rate=run.lines / run.seconds if run.seconds else 0.0,
            unit="lines/s",
            target=f"< {limit:.0f} s",
            verdict=MET if run.seconds < limit and run.matched >= lines else MISSED,
            note=(
                f"CSV parsed, {run.lines:,} lines stored, {run.matched:,} matched automatically"
                f" (the rest are charges the ledger does not hold), one transaction"
            ),
        )
    )


def _pages(bench: Bench, plan: Plan, tag: str, big: Trust, small: Trust) -> None:
    """Issue 19: the pages of the daily work on the large trust, through Django's test client
    with a signed-in trustee; the small trust beside it shows whether queries grow with rows."""
    from benchmarks import pages

    wanted = 2_000 if plan.quick else 10_000
    _step(f"pages: the large trust topped up to {wanted:,} beneficiaries")
    beneficiaries = pages.top_up(big, wanted, tag)
    postings = cases_postings(big)
    runs = 10 if plan.quick else 30
    for key, label, large, small_run in pages.pages(big, small, runs):
        grows = large.queries > small_run.queries
        ok = (
            large.status == 200
            and large.p95_ms < targets.PAGE_P95_MS
            and large.size_bytes < targets.PAGE_MAX_BYTES
            and not grows
        )
        bench.add(
            Row(
                key=key,
                operation=f"page: {label}, {beneficiaries:,} beneficiaries",
                backend=bench.backend,
                size=postings,
                count=large.runs,
                seconds=large.seconds,
                rate=large.runs / large.seconds if large.seconds else 0.0,
                unit="pages/s",
                median_us=large.median_ms * 1000,
                target=f"p95 < {targets.PAGE_P95_MS} ms, < {targets.PAGE_MAX_BYTES // 1024} KiB,"
                " queries flat",
                verdict=MET if ok else MISSED,
                note=(
                    f"p95 {large.p95_ms:.0f} ms, {large.size_bytes / 1024:.0f} KiB,"
                    f" {large.queries} queries (small trust: {small_run.queries},"
                    f" {small_run.median_ms:.0f} ms median); status {large.status}"
                ),
                extra={
                    "p95_ms": round(large.p95_ms, 1),
                    "bytes": large.size_bytes,
                    "queries": large.queries,
                    "queries_small": small_run.queries,
                },
            )
        )


def _api(bench: Bench, plan: Plan, big: Trust, small: Trust) -> None:
    """Issue 20: an account's history and a receipt through the API with a token, beside the
    selector and the service called directly: the API layer's cost per call."""
    from benchmarks import api

    runs = 200 if plan.quick else 500
    _step("api: an account's history (large ledger) and a receipt (small trust)")
    postings = cases_postings(big)
    through, direct, read_cost, size = api.history(big, runs)
    posted, posted_direct, write_cost = api.receipts(small, runs, keyed=False)
    keyed, keyed_direct, keyed_cost = api.receipts(small, runs, keyed=True)
    for key, label, timing, base, overhead, size_note in (
        (
            "api_get_history",
            f"API: GET an account's history (50 postings), {postings:,} postings",
            through,
            direct,
            read_cost,
            f", {size / 1024:.0f} KiB",
        ),
        (
            "api_post_receipt",
            "API: POST a receipt (one entry)",
            posted,
            posted_direct,
            write_cost,
            "",
        ),
        (
            "api_post_receipt_keyed",
            "API: POST a receipt with an Idempotency-Key",
            keyed,
            keyed_direct,
            keyed_cost,
            "; the key's row is claimed first and its answer kept: two statements more",
        ),
    ):
        keyed_row = key == "api_post_receipt_keyed"
        ok = timing.status in (200, 201) and (keyed_row or overhead < targets.API_OVERHEAD_MS)
        bench.add(
            Row(
                key=key,
                operation=label,
                backend=bench.backend,
                size=postings,
                count=timing.runs,
                seconds=timing.seconds,
                rate=timing.runs / timing.seconds if timing.seconds else 0.0,
                unit="calls/s",
                median_us=timing.median_ms * 1000,
                target="" if keyed_row else f"API layer < {targets.API_OVERHEAD_MS:g} ms a call",
                verdict=(NO_TARGET if ok else MISSED) if keyed_row else (MET if ok else MISSED),
                note=(
                    f"p95 {timing.p95_ms:.1f} ms; direct median {base.median_ms:.2f} ms"
                    f" (p95 {base.p95_ms:.2f}); the API adds {overhead:.2f} ms (median of"
                    f" {timing.runs} alternating pairs){size_note};"
                    f" status {timing.status}"
                ),
                extra={
                    "p95_ms": round(timing.p95_ms, 2),
                    "direct_median_ms": round(base.median_ms, 3),
                    "overhead_ms": round(overhead, 3),
                },
            )
        )


def _scaled(target: str, bench: Bench, here: str) -> str:
    """The issue's figure, and on PostgreSQL what it is in proportion to this run's pgbench."""
    if bench.c1 is None:
        return target
    return f"{target} at c1 {targets.REFERENCE_C1_TPS:,}: {here} at c1 {bench.c1.tps:,.0f}"


def cases_postings(trust: Trust) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM trust_posting p JOIN trust_account a ON a.id = p.account_id"
            " WHERE a.trust_id = %s",
            [trust.pk],
        )
        return int(cursor.fetchone()[0])


def run(quick: bool, seconds: int | None, json_path: Path | None, only: str = "all") -> int:
    started = time.perf_counter()
    # The Celery batch row sends to the configured broker (Redis in production); the rest of the
    # run queues nothing anywhere (see _setup_django).
    broker = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
    plan = Plan.make(quick, seconds)
    user_url = os.environ.get("DATABASE_URL") or None
    server = ServerUrl(user_url) if user_url else None
    notes: list[str] = []
    load_start = _load()
    mode = "quick" if plan.quick else "full"
    print(
        f"Benchmarks, {mode} run: {plan.seconds} s per timed row, load average {load_start}",
        flush=True,
    )

    c1 = c8 = None
    if server is not None:
        ceilings = _pgbench(server, plan.seconds, ((1, 1), (8, 2)), notes)
        if ceilings:
            c1, c8 = ceilings

    scratch = prepare_scratch(user_url)
    _step(f"scratch database {scratch.shown}: migrate")
    _setup_django(scratch)
    from benchmarks import cases  # only after django.setup()

    bench = Bench(scratch.backend, c1, c8)
    for ceiling in (c1, c8):
        if ceiling is not None:
            bench.ceiling(ceiling)
    tag = f"run{int(time.time())}"

    _step("small ledger: seed_demo_trust, then reads")
    small = cases.seed_ledger(*plan.small, seed=1)[0].trust
    small_bank = small.accounts.get(role="bank")
    if only == "posting":
        _step(f"writes: 1 writer, {WRITERS} writers (8 trusts, then 1 trust), bulk")
        single = _writes(bench, plan, tag)
        big_bank = _seed_large(bench, plan, notes)
        _step("large ledger: 1 writer again")
        bench.single_writer(
            "post_single_large",
            cases.ledger_postings(),
            cases.post_single(single, f"{tag}-single-large", plan.seconds),
            "the same writer as above, on the large ledger",
        )
        _entries_trail(bench, notes)
    elif only == "reports":
        big_bank = _seed_large(bench, plan, notes)
        _reports(bench, plan, tag, notes, big_bank.trust, small, broker)
    elif only == "pages":
        big_bank = _seed_large(bench, plan, notes)
        _pages(bench, plan, tag, big_bank.trust, small)
    elif only == "api":
        big_bank = _seed_large(bench, plan, notes)
        _api(bench, plan, big_bank.trust, small)
    elif only == "bank":
        big_bank = _seed_large(bench, plan, notes)
        _bank(bench, plan, big_bank.trust, notes)
    else:
        reference = _reads(
            bench, plan, small_bank, cases.mid_history(small), "small", reference=None, notes=notes
        )

        _step(f"writes: 1 writer, {WRITERS} writers (8 trusts, then 1 trust), bulk")
        single = _writes(bench, plan, tag)

        big_bank = _seed_large(bench, plan, notes)
        _step("large ledger: reads, then 1 writer again")
        _reads(
            bench,
            plan,
            big_bank,
            cases.mid_history(big_bank.trust),
            "large",
            reference,
            notes=notes,
        )
        bench.single_writer(
            "post_single_large",
            cases.ledger_postings(),
            cases.post_single(single, f"{tag}-single-large", plan.seconds),
            "the same writer as above, on the large ledger",
        )
        _entries_trail(bench, notes)

        _allocation(bench, plan, tag, notes)
        _csv_import(bench, plan, tag, notes)
        _approvals(bench, plan, tag, notes)
        _audit(bench, plan, tag, notes)
        _reports(bench, plan, tag, notes, big_bank.trust, small, broker)
        _pages(bench, plan, tag, big_bank.trust, small)
        _api(bench, plan, big_bank.trust, small)
        _bank(bench, plan, big_bank.trust, notes)

    if server is not None and c1 is not None:
        again = _pgbench(server, plan.seconds, ((1, 1),), notes)
        if again:
            row = bench.ceiling(again[0], "again, end of run")
            row.note += f"; {again[0].tps / c1.tps - 1:+.0%} against the first"

    total = time.perf_counter() - started
    load_end = _load()
    print()
    print(format_table(bench.rows, with_share=c1 is not None))
    for note in notes:
        print(f"NOTE: {note}")
    meta: dict[str, Any] = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "backend": scratch.backend,
        "server": cases.server_version(),
        "autovacuum": cases.autovacuum(),
        "database": scratch.shown,
        "quick": plan.quick,
        "seconds_per_row": plan.seconds,
        "pgbench": {
            row.key: {"tps": row.rate, "transactions": row.count, "seconds": row.seconds}
            for row in bench.rows
            if row.unit == "tx/s"
        },
        "targets": {
            "single_writer_share_of_c1": targets.SINGLE_WRITER_SHARE_OF_C1,
            "single_writer_entries_per_s": targets.SINGLE_WRITER_ENTRIES_PER_S,
            "bulk_postings_per_s": targets.BULK_POSTINGS_PER_S,
            "read_p99_us": targets.READ_P99_US,
            "read_noise_ratio": targets.READ_NOISE_RATIO,
            "read_noise_us": targets.READ_NOISE_US,
            "allocate_claims": targets.ALLOCATE_CLAIMS,
            "allocate_seconds": targets.ALLOCATE_SECONDS,
            "statements_per_s": targets.STATEMENTS_PER_S,
            "court_account_seconds": targets.COURT_ACCOUNT_SECONDS,
        },
        "notes": notes,
        "load_average": {"start": load_start, "end": load_end},
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "commit": _git_commit(),
        "total_seconds": round(total, 1),
    }
    path = json_path or bench_dir() / f"results-{scratch.backend}.json"
    write_json(path, meta, bench.rows)
    print(
        f"\n{len(bench.rows)} rows in {total:,.0f} s (load average {load_start} at the start,"
        f" {load_end} at the end); JSON: {path}"
    )
    missed = sum(row.verdict == MISSED for row in bench.rows)
    if missed:
        print(f"{missed} target(s) missed: see the verdict column", file=sys.stderr)
    return 0
