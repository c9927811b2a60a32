"""Database faults (issue 24; docs/operations.md, "Database faults and connections").

On the real PostgreSQL server: the connection of a posting, a receipt import and a payment in
progress is terminated (``pg_terminate_backend``) at random moments, about fifty times each, and
afterwards each attempt is in the books whole or not at all, ``check_ledger`` passes, and doing
the failed attempts again with the same keys records each exactly once. A page and the API answer
503 with ``Retry-After`` while the database is away and work again once it is back, with no
restart. Serialisation failures and deadlocks are retried by ``trust.db_faults``, a bounded
number of times, and only around the outermost transaction.
"""

from __future__ import annotations

import logging
import random
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import InterfaceError, OperationalError, connection, transaction
from django.test import Client, RequestFactory
from django.utils import timezone
from moneyed import Money

from disbursements.models import DisbursementRequest, Payment, Status
from disbursements.services import request_approve
from disbursements.services.payments import Transfer, payment_record
from tests.conftest import _database_url_for_test_db
from tests.disbursements.test_requests import make_world, submitted
from tests.factories import TrustFactory, account, beneficiary, fund
from tests.trust.test_retries import D1, make_book
from trust import db_faults
from trust.invariants import ledger_violations
from trust.models import Account, JournalEntry, Receipt
from trust.services import ledger
from trust.services.imports import receipts_import
from trust.services.ledger import EntrySpec, Leg, entries_post

pytestmark = pytest.mark.postgres

DAY = date(2026, 1, 15)
KILLS = 50  # terminations aimed at work in progress, per kind of work
SECONDS = 60.0  # and never longer than this per kind


def usd(value: str) -> Money:
    return Money(value, "USD")


# --- the harness: work in one thread, its backend terminated from another ------------------------


@dataclass
class Hammered:
    """What happened to each round: done (the call returned) or failed (the connection died)."""

    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    kills: int = 0
    errors: list[str] = field(default_factory=list)


def under_terminations(
    work: Callable[[int, Any], Any],
    prepare: Callable[[int], Any] = lambda r: None,
    kills: int = KILLS,
    seconds: float = SECONDS,
    warm_up: int = 3,
) -> Hammered:
    """Run ``work(round, prepare(round))`` round after round in a thread with its own connection,
    while this thread terminates that connection's backend at a random moment of the work (up to
    ``kills`` times, within ``seconds``): anywhere from its first statement to a little after its
    usual end (its commit), timed by the first ``warm_up`` rounds, left alone. A round whose
    connection died counts as failed; the connection is closed after every round, as Django does
    at the end of a request."""
    outcome = Hammered()
    lock = threading.Lock()
    busy = threading.Event()
    finished = threading.Event()
    current: dict[str, Any] = {"pid": None, "round": None}
    durations: list[float] = []
    deadline = time.monotonic() + seconds

    def poster() -> None:
        r = 0
        try:
            while not finished.is_set() and time.monotonic() < deadline:
                prepared = prepare(r)
                connection.ensure_connection()
                with lock:
                    current.update(pid=connection.connection.info.backend_pid, round=r)
                    busy.set()
                started = time.monotonic()
                try:
                    work(r, prepared)
                    outcome.done.append(r)
                    durations.append(time.monotonic() - started)
                except (OperationalError, InterfaceError) as exc:
                    outcome.failed.append(r)
                    outcome.errors.append(f"{type(exc).__name__}: {str(exc)[:80]}")
                finally:
                    with lock:
                        busy.clear()
                    connection.close()
                r += 1
        finally:
            finished.set()
            connection.close()

    thread = threading.Thread(target=poster, name="db-fault-poster")
    thread.start()
    with psycopg.connect(_database_url_for_test_db(), autocommit=True) as killer:
        while outcome.kills < kills and time.monotonic() < deadline and not finished.is_set():
            if not busy.wait(timeout=1) or len(durations) < warm_up:
                time.sleep(0.001)
                continue
            aimed = current["round"]
            # Somewhere in a typical run of the work (the median of those that finished).
            time.sleep(random.uniform(0, 1.1 * statistics.median(durations[-20:])))
            with lock:
                if not busy.is_set() or current["round"] != aimed:
                    continue  # finished first: aim at the next round
                killer.execute("SELECT pg_terminate_backend(%s)", [current["pid"]])
                outcome.kills += 1
            while current["round"] == aimed and not finished.is_set():
                time.sleep(0.001)  # one termination per round
    finished.set()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the working thread hung"
    return outcome


def assert_books_hold(trust_id: int) -> None:
    report = ledger_violations(trust_id=trust_id)
    assert report.ok, report.violations[:5]
    out = StringIO()
    call_command("check_ledger", stdout=out, stderr=StringIO())  # exits 1 on a violation


def assert_real_faults(outcome: Hammered) -> None:
    """The loop really terminated work in progress, many times."""
    assert outcome.kills >= 20, outcome
    assert len(outcome.failed) >= 5, outcome


# --- terminated in the middle: postings, a receipt import, a payment ----------------------------


def batch(trust: Any, bank: Account, sub: Account, r: int, size: int = 300) -> list[EntrySpec]:
    return [
        EntrySpec(
            effective_date=DAY,
            legs=[Leg(bank, usd(f"{1 + i % 7}.00")), Leg(sub, -usd(f"{1 + i % 7}.00"))],
            idempotency_key=f"fault-{r}-{i}",
            memo=f"round {r} entry {i}",
        )
        for i in range(size)
    ]


def test_postings_terminated_in_the_middle_leave_whole_entries_or_none(postgres_tx: None) -> None:
    trust = TrustFactory()
    bank = account(trust, Account.Role.BANK)
    _, sub = beneficiary(trust, "MV-1")

    def work(r: int, _: Any) -> None:
        entries_post(trust=trust, actor=None, entries=batch(trust, bank, sub, r))

    outcome = under_terminations(work)
    assert_real_faults(outcome)

    rounds = outcome.done + outcome.failed
    for r in rounds:  # one batch, one transaction: all of its 300 entries or none
        found = JournalEntry.objects.filter(trust=trust, idempotency_key__startswith=f"fault-{r}-")
        assert found.count() in (0, 300), (r, found.count())
    assert_books_hold(trust.pk)

    # The failed batches again, with the same keys: each entry is there exactly once.
    for r in outcome.failed:
        entries_post(trust=trust, actor=None, entries=batch(trust, bank, sub, r))
    assert JournalEntry.objects.filter(trust=trust).count() == 300 * len(rounds)
    per_round = sum(1 + i % 7 for i in range(300)) * 100
    sub.refresh_from_db()
    assert sub.balance_minor == per_round * len(rounds)
    assert_books_hold(trust.pk)


def receipts_file(r: int, rows: int = 100) -> str:
    lines = [
        f"2025-06-{1 + i % 28:02d},{10 + i % 10}.{i % 100:02d},USD,clerk,{D1},,F{r}-{i:04d},"
        f"fault-{r}-{i},"
        for i in range(rows)
    ]
    header = "received_on,amount,currency,source,payer,bank_account,bank_reference,key,memo\n"
    return header + "\n".join(lines) + "\n"


def test_a_receipt_import_terminated_in_the_middle_records_the_file_whole_or_not_at_all(
    postgres_tx: None,
) -> None:
    book = make_book()

    def work(r: int, _: Any) -> None:
        receipts_import(trust=book.trust, actor=None, rows=receipts_file(r))

    outcome = under_terminations(work)
    assert_real_faults(outcome)

    rounds = outcome.done + outcome.failed
    for r in rounds:
        found = Receipt.objects.filter(trust=book.trust, bank_reference__startswith=f"F{r}-")
        assert found.count() in (0, 100), (r, found.count())
    assert_books_hold(book.trust.pk)

    for r in outcome.failed:
        receipts_import(trust=book.trust, actor=None, rows=receipts_file(r))
    assert Receipt.objects.filter(trust=book.trust).count() == 100 * len(rounds)
    assert_books_hold(book.trust.pk)


def test_a_payment_terminated_in_the_middle_is_recorded_whole_or_not_at_all(
    postgres_tx: None,
) -> None:
    w = make_world("-faults")
    w.partner.payout_currency = "USD"
    w.partner.save(update_fields=["payout_currency"])
    fund(w.trust, w.sub1, "100000.00")
    requests: dict[int, int] = {}

    def approved(r: int) -> DisbursementRequest:
        request = request_approve(request=submitted(w, "10.00", key=f"fault-{r}"), actor=w.trustee)
        requests[r] = request.pk
        return request

    def pay(r: int, request: DisbursementRequest) -> None:
        payment_record(
            request=request,
            actor=w.trustee,
            transfer=Transfer(
                sent=usd("10.00"), value_date=timezone.localdate(), reference=f"TRF-F{r}"
            ),
        )

    outcome = under_terminations(pay, prepare=approved)
    assert_real_faults(outcome)

    for r, pk in requests.items():  # paid with its payment and entries, or still approved
        request = DisbursementRequest.objects.get(pk=pk)
        paid = Payment.objects.filter(request_id=pk).exists()
        assert (request.status, paid) in {(Status.PAID, True), (Status.APPROVED, False)}, r
    assert_books_hold(w.trust.pk)

    for r in outcome.failed:
        pay(r, DisbursementRequest.objects.get(pk=requests[r]))
    assert Payment.objects.filter(request__trust=w.trust).count() == len(requests)
    statuses = set(
        DisbursementRequest.objects.filter(pk__in=requests.values()).values_list(
            "status", flat=True
        )
    )
    assert statuses == {Status.PAID}
    assert_books_hold(w.trust.pk)


# --- a page and the API while the database is away ----------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


class Server:
    """Requests through Django's own WSGI handler in this thread, with its connection handling
    (``close_old_connections`` at the start and end of each request, as under gunicorn; the test
    client switches that off)."""

    def __init__(self, cookie: str) -> None:
        self.handler = WSGIHandler()
        self.cookie = cookie

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        environ = RequestFactory().get(path).environ
        environ["HTTP_COOKIE"] = self.cookie
        status: list[str] = []
        headers: dict[str, str] = {}

        def start_response(code: str, items: list[tuple[str, str]], *_: Any) -> None:
            status.append(code)
            headers.update(items)

        response = self.handler(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()  # request_finished: Django closes a broken connection here
        return int(status[0].split()[0]), headers, body


@pytest.fixture
def server(postgres_tx: None, django_user_model: Any, settings: Any, tmp_path: Any) -> Server:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    client = Client()
    client.force_login(django_user_model.objects.create_user("fault-trustee"))
    cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    return Server(cookie)


@contextmanager
def database_away() -> Iterator[None]:
    """The database refuses connections: every backend of this process is gone and the address
    leads nowhere (a server down or restarting). Back as it was afterwards."""
    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]
    with psycopg.connect(_database_url_for_test_db(), autocommit=True) as killer:
        killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    settings_dict["PORT"] = closed_port()
    try:
        yield
    finally:
        settings_dict["PORT"] = port


def test_a_page_and_the_api_answer_503_while_the_database_is_away_then_work(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    assert server.get("/")[0] == 200
    assert server.get("/api/v1/trusts/")[0] == 200
    caplog.set_level(logging.INFO)
    with database_away():
        status, headers, body = server.get("/")
        api_status, api_headers, api_body = server.get("/api/v1/trusts/")
    assert (status, headers["Retry-After"]) == (503, str(db_faults.RETRY_AFTER_SECONDS))
    assert b"Unavailable for a moment" in body
    assert (api_status, api_headers["Retry-After"]) == (503, str(db_faults.RETRY_AFTER_SECONDS))
    assert api_headers["Content-Type"] == "application/problem+json"
    assert b'"code":"database_unavailable"' in api_body.replace(b" ", b"")
    # One line each, no traceback.
    faults = [r for r in caplog.records if r.name == "trust.db_faults"]
    assert len(faults) == 2 and all(r.exc_info is None for r in faults), faults
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    # The database is back: the next requests work, with no restart.
    assert server.get("/")[0] == 200
    assert server.get("/api/v1/trusts/")[0] == 200


def test_after_a_server_restart_the_next_request_reconnects(server: Server) -> None:
    """Every backend terminated (as a restart does): the kept connection fails its health check
    and the next request connects again instead of failing."""
    assert server.get("/")[0] == 200
    pid = connection.connection.info.backend_pid  # kept for the next request (CONN_MAX_AGE)
    with psycopg.connect(_database_url_for_test_db(), autocommit=True) as killer:
        killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert server.get("/")[0] == 200
    assert connection.connection.info.backend_pid != pid


# --- serialisation failures and deadlocks are retried, a bounded number of times -----------------


def two_at_once(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None, None]

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            results[i] = call()
        except Exception as exc:  # asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    return results


def test_a_deadlock_is_retried_and_both_transactions_succeed(
    postgres_tx: None, django_user_model: Any
) -> None:
    a = django_user_model.objects.create_user("lock-a").pk
    b = django_user_model.objects.create_user("lock-b").pk
    barrier = threading.Barrier(2)
    tries: list[str] = []

    def crossing(name: str, one: int, other: int) -> Callable[[], str]:
        @db_faults.retried_on_conflict
        def move() -> str:
            tries.append(name)
            with transaction.atomic():
                django_user_model.objects.filter(pk=one).update(first_name=name)
                if tries.count(name) == 1:
                    barrier.wait(timeout=10)  # both hold their first row: each waits for the other
                django_user_model.objects.filter(pk=other).update(last_name=name)
            return name

        return move

    results = two_at_once(crossing("ab", a, b), crossing("ba", b, a))
    assert results == ["ab", "ba"]
    assert len(tries) == 3  # PostgreSQL broke the deadlock by failing one; it ran again


def test_a_serialization_failure_is_retried_and_succeeds(
    postgres_tx: None, django_user_model: Any
) -> None:
    """Write skew under SERIALIZABLE: each reads what the other writes; one is failed with 40001
    and succeeds when run again."""
    barrier = threading.Barrier(2)
    tries: list[str] = []

    def skew(name: str) -> Callable[[], int]:
        @db_faults.retried_on_conflict
        def add() -> int:
            tries.append(name)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                seen = django_user_model.objects.filter(username__startswith="skew-").count()
                if tries.count(name) == 1:
                    barrier.wait(timeout=10)
                django_user_model.objects.create_user(f"skew-{name}-{seen}")
            return seen

        return add

    results = two_at_once(skew("x"), skew("y"))
    assert sorted(results) == [0, 1], results
    assert len(tries) == 3


def failing(sqlstate: str) -> OperationalError:
    """Django's error as its cursors raise it, the driver's (with its SQLSTATE) as the cause."""
    cause = psycopg.errors.lookup(sqlstate)("forced")
    error = OperationalError("forced")
    error.__cause__ = cause
    return error


@pytest.fixture
def flaky_post(monkeypatch: pytest.MonkeyPatch) -> Callable[[int, str], list[int]]:
    """``ledger._post`` fails with ``sqlstate`` the first ``times`` calls, then posts."""

    def install(times: int, sqlstate: str) -> list[int]:
        calls: list[int] = []
        real = ledger._post

        def post(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) <= times:
                raise failing(sqlstate)
            return real(*args, **kwargs)

        monkeypatch.setattr(ledger, "_post", post)
        monkeypatch.setattr(db_faults, "RETRY_BASE_SECONDS", 0.001)
        return calls

    return install


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_posting_is_retried_after_a_conflict(
    postgres_tx: None, flaky_post: Callable[[int, str], list[int]], sqlstate: str
) -> None:
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    calls = flaky_post(2, sqlstate)
    posted = fund(trust, sub, "10.00")
    assert posted.created and len(calls) == 3
    assert JournalEntry.objects.filter(trust=trust).count() == 1


def test_retries_are_bounded(
    postgres_tx: None, flaky_post: Callable[[int, str], list[int]]
) -> None:
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    calls = flaky_post(99, "40001")
    with pytest.raises(OperationalError):
        fund(trust, sub, "10.00")
    assert len(calls) == db_faults.RETRY_ATTEMPTS == 3


def test_inside_a_callers_transaction_the_caller_decides(
    postgres_tx: None, flaky_post: Callable[[int, str], list[int]]
) -> None:
    """Within a transaction the conflict has already spoilt the caller's work: no retry here."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    calls = flaky_post(1, "40P01")
    with pytest.raises(OperationalError), transaction.atomic():
        fund(trust, sub, "10.00")
    assert len(calls) == 1


@pytest.mark.parametrize("sqlstate", ["57P01", "08006"])
def test_a_dropped_connection_or_other_error_is_not_retried(
    postgres_tx: None, flaky_post: Callable[[int, str], list[int]], sqlstate: str
) -> None:
    """A dropped connection may have lost the answer to a COMMIT that happened: the caller's
    retry with the same key decides, not a blind loop here."""
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    calls = flaky_post(1, sqlstate)
    with pytest.raises(OperationalError):
        fund(trust, sub, "10.00")
    assert len(calls) == 1
