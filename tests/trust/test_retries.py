"""Retried and concurrent CSV imports (issue 22, "Retries"): a file imported again, or many times
at once, is recorded once, and every run says truthfully what it did. One records the rows; the
others answer that they were already recorded, naming the receipts (or the order) that hold them;
none crashes and none claims to have recorded what another did.

The concurrent tests run on PostgreSQL with real commits: threads with a connection each (as in
``test_receipts_concurrency.py``) and real ``manage.py import_receipts`` processes. So that every
run really overlaps the others, a transaction of the test holds the payer's order lines (which an
import of receipts locks before writing) until every run is waiting on a lock; then it lets go.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from moneyed import Money

from tests.conftest import REPO, _database_url_for_test_db
from tests.factories import TrustFactory, appoint, person
from tests.trust.test_concurrency import run_together
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    Beneficiary,
    Defendant,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.services.imports import ImportResult, import_summary, order_import, receipts_import
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record

D1 = "Invented Defendant One"
HEADER = "received_on,amount,currency,source,payer,bank_account,bank_reference,key,memo\n"
ROWS = 200  # the file: "200 receipts recorded"


def usd(value: str) -> Money:
    return Money(value, "USD")


@dataclass
class Book:
    trust: Trust
    d1: Defendant
    mv1: Beneficiary
    mv2: Beneficiary
    order: RestitutionOrder
    bank: Account


def make_book() -> Book:
    """D1 owes MV-1 10,000.00 and MV-2 5,000.00: every receipt from D1 is shared between them."""
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name=D1)
    mv1 = beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=date(2014, 5, 1))
    mv2 = beneficiary_create(trust=trust, pseudonym="MV-2", date_of_birth=date(2015, 7, 9))
    order = order_create(
        trust=trust,
        actor=None,
        court="District Court for the Fictional District",
        case_number="1:25-cr-00022",
        judgment_date=date(2025, 3, 1),
        total=usd("15000.00"),
        lines=[
            LineSpec(beneficiary=mv1, amount=usd("10000.00"), defendants=[d1]),
            LineSpec(beneficiary=mv2, amount=usd("5000.00"), defendants=[d1]),
        ],
    )
    return Book(trust, d1, mv1, mv2, order, trust.accounts.get(role=Account.Role.BANK))


def statement(rows: int = ROWS) -> str:
    """A bank statement of ``rows`` payments by D1, 10.00 to 19.99 each, one reference each."""
    lines = [
        f"2025-06-{1 + i % 28:02d},{10 + i % 10}.{i % 100:02d},USD,clerk,{D1},,STMT-{i:04d},,"
        for i in range(rows)
    ]
    return HEADER + "\n".join(lines) + "\n"


def receipts_of(book: Book) -> Any:
    return Receipt.objects.filter(trust=book.trust)


# --- one after the other (any database) ------------------------------------------------------


@pytest.mark.django_db
def test_a_file_imported_again_records_nothing_and_names_the_receipts_holding_it() -> None:
    book = make_book()
    text = statement(20)
    first = receipts_import(trust=book.trust, actor=None, rows=text)
    again = receipts_import(trust=book.trust, actor=None, rows=text)
    ids = sorted(receipts_of(book).values_list("pk", flat=True))
    assert (first.created, first.already_recorded, first.recorded_before) == (20, 0, None)
    assert (again.created, again.already_recorded) == (0, 20)
    assert again.recorded_before is not None
    assert (again.recorded_before.first_id, again.recorded_before.last_id) == (ids[0], ids[-1])
    assert again.recorded_before.count == 20 and again.recorded_before.recorded_by == ""
    assert len(ids) == 20
    summary = import_summary(again)
    assert summary.startswith(
        f"20 rows: 0 receipts recorded, 20 already recorded (receipts #{ids[0]} to #{ids[-1]},"
        " last recorded "
    )
    assert "by the system" in summary


@pytest.mark.django_db
def test_a_longer_file_names_only_the_receipts_of_its_rows_already_recorded() -> None:
    book = make_book()
    trustee = appoint(person("retry-trustee"), book.trust)
    receipts_import(trust=book.trust, actor=trustee, rows=statement(3))
    held = sorted(receipts_of(book).values_list("pk", flat=True))
    longer = receipts_import(trust=book.trust, actor=None, rows=statement(5))
    assert (longer.created, longer.already_recorded) == (2, 3)
    assert longer.recorded_before is not None
    assert (longer.recorded_before.first_id, longer.recorded_before.last_id) == (held[0], held[-1])
    assert longer.recorded_before.recorded_by == "retry-trustee"
    assert "3 already recorded (receipts #" in import_summary(longer)
    assert "by retry-trustee" in import_summary(longer)


@pytest.mark.django_db
def test_the_command_run_again_says_the_file_was_already_recorded(tmp_path: Path) -> None:
    book = make_book()
    path = tmp_path / "statement.csv"
    path.write_text(statement(4), encoding="utf-8")
    args = ["import_receipts", "--trust", str(book.trust.pk), "--file", str(path), "--quiet"]
    first, again = StringIO(), StringIO()
    call_command(*args, stdout=first, stderr=StringIO())
    call_command(*args, stdout=again, stderr=StringIO())
    assert first.getvalue().startswith("4 rows: 4 receipts recorded, 0 already recorded;")
    assert again.getvalue().startswith("4 rows: 0 receipts recorded, 4 already recorded (receipts")
    assert receipts_of(book).count() == 4


@pytest.mark.django_db
def test_a_file_recorded_on_the_page_by_another_trustee_meanwhile_says_nothing_new(
    settings: Any, tmp_path: Path
) -> None:
    """Two trustees check the same statement; the first records it; the second's "record" says
    nothing new was recorded and names the first's receipts, instead of claiming them."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    book = make_book()
    url = reverse("receipt-import", args=[book.trust.pk])
    upload = statement(2).encode()
    pages = []
    for name in ("first-trustee", "second-trustee"):
        client = Client()
        client.force_login(appoint(person(name), book.trust))
        checked = client.post(url, {"file": SimpleUploadedFile("s.csv", upload)})
        assert checked.status_code == 200
        pages.append((client, checked.context["sha256"]))
    recorded = [client.post(url, {"record": "1", "sha256": sha256}) for client, sha256 in pages]
    assert [r.status_code for r in recorded] == [302, 302]
    ids = sorted(receipts_of(book).values_list("pk", flat=True))
    assert len(ids) == 2
    first, second = ([str(m) for m in get_messages(r.wsgi_request)] for r in recorded)
    assert first[0].startswith("2 rows: 2 receipts recorded, 0 already recorded;")
    assert second[0].startswith(
        "Nothing new was recorded: 2 rows: 0 receipts recorded, 2 already recorded"
        f" (receipts #{ids[0]} to #{ids[1]}, last recorded "
    )
    assert "by first-trustee" in second[0]


# --- at the same time (PostgreSQL) -----------------------------------------------------------


def waiting_sessions() -> int:
    """Sessions of the test database waiting for a lock (a row's or an advisory one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@contextmanager
def lines_held(
    book: Book, until_waiting: int, ended: Callable[[], bool], timeout: float = 90.0
) -> Iterator[None]:
    """Lock the order's lines in a transaction of the test; the body starts the imports; the
    lines are let go once ``until_waiting`` sessions wait on a lock, so every import overlaps.
    ``ended()`` says whether the imports have all ended already (then they did not wait)."""
    with transaction.atomic():
        list(OrderLine.objects.select_for_update().filter(order=book.order))
        yield
        deadline = time.monotonic() + timeout
        while waiting_sessions() < until_waiting:
            if ended() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return
    pytest.fail(f"fewer than {until_waiting} imports ever waited at once")


def assert_recorded_once(book: Book, results: list[Any], rows: int) -> list[ImportResult]:
    """One result recorded every row, every other says all were already recorded by it."""
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    receipts = receipts_of(book)
    assert receipts.count() == rows
    ids = sorted(receipts.values_list("pk", flat=True))
    recorded = [r for r in results if r.created]
    assert len(recorded) == 1
    assert (recorded[0].created, recorded[0].already_recorded) == (rows, 0)
    others = [r for r in results if not r.created]
    assert len(others) == len(results) - 1
    for result in others:
        assert (result.rows_read, result.already_recorded) == (rows, rows)
        assert (result.recorded_before.first_id, result.recorded_before.last_id) == (
            ids[0],
            ids[-1],
        )
    assert JournalEntry.objects.filter(trust=book.trust, receipt__isnull=False).count() == rows
    assert ledger_violations(trust_id=book.trust.pk).ok
    return others


CALLS, THREADS = 100, 40  # the server's 100 connections are shared: 40 threads, back to back


def test_a_hundred_concurrent_imports_of_one_file_record_it_once(postgres_tx: None) -> None:
    book = make_book()
    text = statement()
    shares = [CALLS // THREADS + (1 if i < CALLS % THREADS else 0) for i in range(THREADS)]

    def worker(share: int) -> Any:
        def run() -> list[ImportResult | Exception]:
            answers: list[ImportResult | Exception] = []
            for _ in range(share):
                try:
                    answers.append(receipts_import(trust=book.trust, actor=None, rows=text))
                except Exception as exc:  # counted and shown by the assertions
                    answers.append(exc)
            return answers

        return run

    done: list[Any] = []
    # run_together blocks until every thread ends: start it from a thread of its own.
    runner = threading.Thread(target=lambda: done.append(run_together(list(map(worker, shares)))))
    with lines_held(book, until_waiting=THREADS, ended=lambda: bool(done)):
        runner.start()
    runner.join(timeout=300)
    assert not runner.is_alive(), "the imports hung"
    answers = [answer for batch in done[0] for answer in batch]
    assert len(answers) == CALLS
    assert_recorded_once(book, answers, ROWS)


def import_process(book: Book, path: Path) -> subprocess.Popen[str]:
    """``manage.py import_receipts`` as a process of its own, on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_test_db(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("TEST_DATABASE_NAME", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_receipts", "--trust", str(book.trust.pk),
         "--file", str(path), "--quiet"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_six_import_receipts_processes_at_once_record_the_file_once_and_say_so(
    postgres_tx: None, tmp_path: Path
) -> None:
    book = make_book()
    path = tmp_path / "statement.csv"
    path.write_text(statement(), encoding="utf-8")
    processes: list[subprocess.Popen[str]] = []

    def ended() -> bool:
        return all(p.poll() is not None for p in processes)

    with lines_held(book, until_waiting=6, ended=ended):
        processes += [import_process(book, path) for _ in range(6)]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        outputs.append((process.returncode, out, err))
    assert [code for code, _, _ in outputs] == [0] * 6, outputs
    assert not any("Error" in err or "Traceback" in err for _, _, err in outputs), outputs
    ids = sorted(receipts_of(book).values_list("pk", flat=True))
    assert len(ids) == ROWS
    recorded = [out for _, out, _ in outputs if out.startswith(f"{ROWS} rows: {ROWS} receipts")]
    assert len(recorded) == 1, outputs
    already = [
        out
        for _, out, _ in outputs
        if out.startswith(
            f"{ROWS} rows: 0 receipts recorded, {ROWS} already recorded"
            f" (receipts #{ids[0]} to #{ids[-1]}, last recorded "
        )
    ]
    assert len(already) == 5, outputs
    assert ledger_violations(trust_id=book.trust.pk).ok


def test_an_import_racing_a_receipt_with_the_same_key_counts_it_as_already_recorded(
    postgres_tx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt recorded by hand with a key of the file, committed while the import waits to
    write: the import does not crash on the duplicate key, it starts again and counts that row as
    already recorded."""
    from trust.services.imports import receipts as importer

    attempts: list[int] = []
    write = importer._receipts_write

    def counted(*args: Any) -> ImportResult:
        attempts.append(1)
        return write(*args)

    monkeypatch.setattr(importer, "_receipts_write", counted)
    book = make_book()
    clerk = appoint(person("hand-trustee"), book.trust)
    text = (
        HEADER
        + "2025-06-02,50.00,USD,interest,,,INT-1,K-INT,\n"
        + f"2025-06-02,75.00,USD,clerk,{D1},,CLK-1,K-CLK,\n"
    )
    results: list[Any] = []

    def importing() -> ImportResult:
        return receipts_import(trust=book.trust, actor=None, rows=text)

    def by_hand() -> Receipt:
        return receipt_record(
            trust=book.trust,
            actor=clerk,
            amount=usd("50.00"),
            received_on=date(2025, 6, 2),
            source=Receipt.Source.INTEREST,
            bank_account=book.bank,
            bank_reference="INT-1",
            idempotency_key="K-INT",
        )

    with transaction.atomic():
        list(OrderLine.objects.select_for_update().filter(order=book.order))
        runner = threading.Thread(target=lambda: results.extend(run_together([importing])))
        runner.start()
        deadline = time.monotonic() + 30
        while waiting_sessions() < 1:  # the import waits for D1's lines
            assert time.monotonic() < deadline, "the import never waited"
            time.sleep(0.05)
        recorded = run_together([by_hand])  # committed while the import waits
    runner.join(timeout=60)
    assert not isinstance(recorded[0], BaseException), recorded
    assert not isinstance(results[0], BaseException), results
    result = results[0]
    assert (result.created, result.already_recorded) == (1, 1)
    assert result.recorded_before is not None and result.recorded_before.first_id == recorded[0].pk
    assert result.recorded_before.recorded_by == "hand-trustee"
    assert len(attempts) == 2  # the first lost the race and was rolled back
    assert receipts_of(book).count() == 2
    assert ledger_violations(trust_id=book.trust.pk).ok


ORDER_HEADER = "beneficiary,amount,currency,defendants,liability\n"


def test_six_concurrent_imports_of_one_order_record_one_order(postgres_tx: None) -> None:
    trust = TrustFactory()
    defendant_create(trust=trust, name=D1)
    for n in (1, 2):
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}", date_of_birth=date(2014, n, 1))
    text = ORDER_HEADER + f"MV-1,10000.00,USD,{D1},\nMV-2,5000.00,USD,{D1},\n"

    def importing() -> ImportResult:
        return order_import(
            trust=trust,
            actor=None,
            rows=text,
            court="District Court for the Fictional District",
            case_number="1:25-cr-00023",
            judgment_date=date(2025, 3, 1),
            total=usd("15000.00"),
        )

    results = run_together([importing] * 6)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    orders = RestitutionOrder.objects.filter(trust=trust)
    assert orders.count() == 1
    assert sorted((r.created, r.already_recorded) for r in results) == [(0, 2)] * 5 + [(2, 0)]
    assert {r.order.pk for r in results} == {orders.get().pk}
