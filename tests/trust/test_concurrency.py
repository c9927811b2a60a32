"""Concurrent postings on PostgreSQL, with real threads, real connections and real commits.

Each thread uses its own Django connection (Django keeps one per thread) and closes it at the end.
The threads start together at a barrier, so that their transactions really overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import connection
from moneyed import Money

from tests.factories import TrustFactory, account, beneficiary, fund
from trust.invariants import ledger_violations
from trust.models import Account, JournalEntry, Posting
from trust.selectors import account_balance
from trust.services.ledger import LedgerError, Leg, PostedEntry, entry_post

DAY = date(2026, 1, 15)


def run_together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable in its own thread, all released at once; return results or exceptions."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = workers[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a posting thread hung (deadlock?)"
    return results


def usd(minor: int) -> Money:
    return Money(minor, "USD") / 100


def test_concurrent_postings_to_the_same_accounts_lose_nothing(postgres_tx):
    trust = TrustFactory()
    bank = account(trust, Account.Role.BANK)
    subs = [beneficiary(trust, f"MV-{n}")[1] for n in range(8)]
    per_thread = 40

    def receipts(n: int) -> Callable[[], int]:
        def work() -> int:
            for i in range(per_thread):
                amount = usd(100 + n)  # each thread its own amount, to tell lost updates apart
                entry_post(
                    trust=trust,
                    actor=None,
                    effective_date=DAY,
                    legs=[Leg(bank, amount), Leg(subs[n], -amount)],
                    idempotency_key=f"t{n}-{i}",
                )
            return per_thread

        return work

    results = run_together([receipts(n) for n in range(8)])
    assert results == [per_thread] * 8
    assert account_balance(account_id=bank.pk) == usd(per_thread * sum(100 + n for n in range(8)))
    for n, sub in enumerate(subs):
        assert account_balance(account_id=sub.pk) == usd(per_thread * (100 + n))
    assert JournalEntry.objects.filter(trust=trust).count() == 8 * per_thread
    assert ledger_violations().ok


def test_two_threads_moving_money_between_the_same_two_sub_ledgers(postgres_tx):
    """One thread moves A to B while the other moves B to A: rows are locked in id order, so they
    wait for each other instead of deadlocking, and the sums come out exact."""
    trust = TrustFactory()
    _, a = beneficiary(trust, "MV-A")
    _, b = beneficiary(trust, "MV-B")
    fund(trust, a, "1000.00")
    fund(trust, b, "1000.00")
    rounds = 60

    def mover(src: Account, dst: Account, minor: int, tag: str) -> Callable[[], int]:
        def work() -> int:
            for i in range(rounds):
                entry_post(
                    trust=trust,
                    actor=None,
                    effective_date=DAY,
                    legs=[Leg(src, usd(minor)), Leg(dst, -usd(minor))],
                    idempotency_key=f"{tag}-{i}",
                )
            return rounds

        return work

    results = run_together([mover(a, b, 300, "a-to-b"), mover(b, a, 200, "b-to-a")])
    assert results == [rounds, rounds]
    # A debit lowers a sub-ledger: A gives 3.00 and gets 2.00 back, each round.
    assert account_balance(account_id=a.pk) == Money("1000.00", "USD") - usd(100 * rounds)
    assert account_balance(account_id=b.pk) == Money("1000.00", "USD") + usd(100 * rounds)
    assert ledger_violations().ok


def test_racing_payments_never_overdraw_a_sub_ledger(postgres_tx):
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    fund(trust, sub, "100.00")
    payable = account(trust, Account.Role.PAYABLE)

    def pay(n: int) -> Callable[[], PostedEntry]:
        def work() -> PostedEntry:
            amount = Money("30.00", "USD")
            return entry_post(
                trust=trust,
                actor=None,
                effective_date=DAY,
                legs=[Leg(sub, amount), Leg(payable, -amount)],
                idempotency_key=f"pay-{n}",
            )

        return work

    results = run_together([pay(n) for n in range(8)])
    paid = [r for r in results if isinstance(r, PostedEntry)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(paid) == 3, results
    assert len(refused) == 5 and {r.code for r in refused} == {"overdraft"}, results
    assert account_balance(account_id=sub.pk) == Money("10.00", "USD")
    # The history check replays every entry in order: the balance was never below zero.
    assert ledger_violations().ok


def test_racing_retries_with_one_idempotency_key_post_once(postgres_tx):
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    bank = account(trust, Account.Role.BANK)
    amount = Money("12.34", "USD")

    def post() -> PostedEntry:
        return entry_post(
            trust=trust,
            actor=None,
            effective_date=DAY,
            legs=[Leg(bank, amount), Leg(sub, -amount)],
            idempotency_key="court-receipt-0001",
        )

    results = run_together([post] * 8)
    assert all(isinstance(r, PostedEntry) for r in results), results
    assert len({r.entry_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert JournalEntry.objects.filter(idempotency_key="court-receipt-0001").count() == 1
    assert Posting.objects.filter(entry__trust=trust, account=sub).count() == 1
    assert account_balance(account_id=sub.pk) == amount
    assert ledger_violations().ok
