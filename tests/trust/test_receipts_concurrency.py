"""Receipts racing each other and an amended judgment, on PostgreSQL with real threads.

Each thread has its own connection (Django keeps one per thread) and real commits; the threads are
released together at a barrier so their transactions overlap. Where a particular interleaving
matters, one thread holds its transaction open until the other is known to be waiting on it.
On SQLite these tests skip (the ``postgres_tx`` fixture says how to run them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from moneyed import Money

from tests.factories import TrustFactory
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    AllocationShare,
    Beneficiary,
    Defendant,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record

RECEIVED = date(2025, 6, 1)


def usd(value: str) -> Money:
    return Money(value, "USD")


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
        assert not t.is_alive(), "a receipt thread hung (deadlock?)"
    return results


def waiting_for_a_lock(timeout: float = 10.0) -> None:
    """Block until some other session of the test database waits on a lock (or fail)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Within a transaction the activity view is a snapshot: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("the other thread never waited for the lock")


@dataclass
class Case:
    trust: Trust
    d1: Defendant
    d2: Defendant
    mv1: Beneficiary
    mv2: Beneficiary
    order: RestitutionOrder
    bank: Account


@pytest.fixture
def case(postgres_tx: None) -> Case:
    """D1 and D2 jointly owe MV-1 10,000.00; D1 alone owes MV-2 5,000.00."""
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name="Invented Defendant One")
    d2 = defendant_create(trust=trust, name="Invented Defendant Two")
    mv1 = beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=date(2014, 5, 1))
    mv2 = beneficiary_create(trust=trust, pseudonym="MV-2", date_of_birth=date(2015, 7, 9))
    order = order_create(
        trust=trust,
        actor=None,
        court="District Court for the Fictional District",
        case_number="1:25-cr-00001",
        judgment_date=date(2025, 3, 1),
        total=usd("15000.00"),
        lines=[
            LineSpec(beneficiary=mv1, amount=usd("10000.00"), defendants=[d1, d2]),
            LineSpec(beneficiary=mv2, amount=usd("5000.00"), defendants=[d1]),
        ],
    )
    return Case(trust, d1, d2, mv1, mv2, order, trust.accounts.get(role=Account.Role.BANK))


def pay(case: Case, payer: Defendant, amount: str, key: str) -> Callable[[], Receipt]:
    def work() -> Receipt:
        return receipt_record(
            trust=case.trust,
            actor=None,
            amount=usd(amount),
            received_on=RECEIVED,
            source=Receipt.Source.CLERK,
            bank_account=case.bank,
            payer=payer,
            idempotency_key=key,
        )

    return work


def amend(case: Case, cents: int = 0) -> RestitutionOrder:
    """Amend the current version: both lines raised by 2,000.00 (and MV-1's by ``cents`` more, so
    that repeated amendments differ), same defendants."""
    raise_mv1 = usd("2000.00") + usd("0.01") * cents
    return order_amend(
        order=RestitutionOrder.objects.get(trust=case.trust, status="current"),
        actor=None,
        reason="Amended judgment, ECF No. 120",
        judgment_date=date(2025, 5, 1),
        total=usd("19000.00") + usd("0.01") * cents,
        lines=[
            LineSpec(
                beneficiary=case.mv1,
                amount=usd("10000.00") + raise_mv1,
                defendants=[case.d1, case.d2],
            ),
            LineSpec(beneficiary=case.mv2, amount=usd("7000.00"), defendants=[case.d1]),
        ],
    )


def current_lines(case: Case) -> dict[int, OrderLine]:
    return {
        line.beneficiary_id: line
        for line in OrderLine.objects.filter(order__trust=case.trust, order__status="current")
    }


# --- co-defendants paying the joint line at once -----------------------------------------------


@pytest.fixture
def joint(case: Case) -> OrderLine:
    """A second order: D1 and D2 jointly owe MV-2 10,000.00; the first order is paid in full
    before it, so each co-defendant's money can only go to this line."""
    pay(case, case.d1, "15000.00", "settle-first-order")()
    order = order_create(
        trust=case.trust,
        actor=None,
        court="District Court for the Fictional District",
        case_number="1:25-cr-00002",
        judgment_date=date(2025, 3, 1),
        total=usd("10000.00"),
        lines=[
            LineSpec(beneficiary=case.mv2, amount=usd("10000.00"), defendants=[case.d1, case.d2])
        ],
    )
    return order.lines.get()


def test_co_defendants_paying_at_once_never_over_collect_the_joint_line(
    case: Case, joint: OrderLine
) -> None:
    """Four payments by the two co-defendants, 16,000.00 against 10,000.00 outstanding."""
    results = run_together(
        [
            pay(case, case.d1, "6000.00", "d1-a"),
            pay(case, case.d2, "7000.00", "d2-a"),
            pay(case, case.d1, "2000.00", "d1-b"),
            pay(case, case.d2, "1000.00", "d2-b"),
        ]
    )
    assert all(isinstance(r, Receipt) for r in results), results
    joint.refresh_from_db()
    assert joint.collected == joint.amount == usd("10000.00")
    receipts = Receipt.objects.filter(pk__in=[r.pk for r in results])
    assert sum(r.unallocated_minor for r in receipts) == 600_000
    shared = AllocationShare.objects.filter(allocation__receipt__in=receipts)
    assert shared.aggregate(total=Sum("amount_minor"))["total"] == 1_000_000
    assert case.mv2.accounts.get().balance == usd("15000.00")  # 5,000.00 + 10,000.00
    assert ledger_violations(trust_id=case.trust.pk).ok


def test_co_defendants_paying_at_once_share_out_exactly_what_is_owed(case: Case) -> None:
    """D1 pays 9,000.00 (owes both lines) and D2 pays 8,000.00 (owes the joint line) at once.
    Whichever commits first, the joint line ends paid in full, no line is over-collected, and
    what the lines collected plus what stays unallocated is the 17,000.00 received."""
    results = run_together(
        [pay(case, case.d1, "9000.00", "d1"), pay(case, case.d2, "8000.00", "d2")]
    )
    assert all(isinstance(r, Receipt) for r in results), results
    lines = current_lines(case)
    assert lines[case.mv1.pk].collected == usd("10000.00")
    assert lines[case.mv2.pk].collected_minor <= lines[case.mv2.pk].amount_minor
    receipts = list(Receipt.objects.filter(trust=case.trust))
    collected = sum(line.collected_minor for line in lines.values())
    assert collected + sum(r.unallocated_minor for r in receipts) == 1_700_000
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance_minor == sum(
        r.unallocated_minor for r in receipts
    )
    assert ledger_violations(trust_id=case.trust.pk).ok


# --- one key from four threads -----------------------------------------------------------------


@pytest.mark.parametrize(("amount", "minor"), [("3000.00", 300_000), ("9000.00", 900_000)])
def test_one_receipt_key_from_four_threads_records_one_receipt(
    case: Case, amount: str, minor: int
) -> None:
    """9,000.00 is more than the second thread, once the first has committed, would share out the
    same way: it must still find and return the first receipt, not fail."""
    results = run_together([pay(case, case.d1, amount, "court-0001")] * 4)
    assert all(isinstance(r, Receipt) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Receipt.objects.filter(trust=case.trust).count() == 1
    assert JournalEntry.objects.filter(trust=case.trust, kind="receipt").count() == 1
    assert Account.objects.get(pk=case.bank.pk).balance == usd(amount)
    assert sum(line.collected_minor for line in current_lines(case).values()) == minor
    assert ledger_violations(trust_id=case.trust.pk).ok


# --- an amended judgment racing a receipt ------------------------------------------------------


def assert_receipt_counted_on_the_current_version(case: Case, receipt: Receipt) -> None:
    receipt.refresh_from_db()
    assert receipt.unallocated_minor == 0
    lines = current_lines(case)
    assert sum(line.collected_minor for line in lines.values()) == receipt.amount_minor
    assert all(line.order.version == 2 for line in lines.values())
    assert ledger_violations(trust_id=case.trust.pk).ok


def test_receipt_waiting_for_an_amendment_lands_on_the_new_version(case: Case) -> None:
    """The amendment holds the order when the receipt arrives: the receipt waits, then finds the
    new version (not nothing, which would leave the money unallocated)."""
    amended = threading.Event()

    def amendment() -> RestitutionOrder:
        with transaction.atomic():
            new = amend(case)
            amended.set()
            waiting_for_a_lock()  # the receipt is blocked on the old version's row
        return new

    def receipt() -> Receipt:
        assert amended.wait(timeout=30)
        return pay(case, case.d1, "3000.00", "during")()

    new, paid = run_together([amendment, receipt])
    assert isinstance(new, RestitutionOrder), new
    assert isinstance(paid, Receipt), paid
    assert_receipt_counted_on_the_current_version(case, paid)
    assert OrderLine.objects.filter(order=new, carried_from__isnull=False).count() == 2


def test_amendment_waiting_for_a_receipt_carries_it(case: Case) -> None:
    """The receipt holds the order when the amendment arrives: the amendment waits, then carries
    what the receipt collected on the old version."""
    paid = threading.Event()

    def receipt() -> Receipt:
        with transaction.atomic():
            made = pay(case, case.d1, "3000.00", "before")()
            paid.set()
            waiting_for_a_lock()  # the amendment is blocked on the order row
        return made

    def amendment() -> RestitutionOrder:
        assert paid.wait(timeout=30)
        return amend(case)

    made, new = run_together([receipt, amendment])
    assert isinstance(made, Receipt), made
    assert isinstance(new, RestitutionOrder), new
    assert_receipt_counted_on_the_current_version(case, made)
    old = {line.beneficiary_id: line.collected_minor for line in case.order.lines.all()}
    assert old == {case.mv1.pk: 200_000, case.mv2.pk: 100_000}


def test_amendment_and_receipt_released_together_lose_nothing(case: Case) -> None:
    """Five rounds of an amendment and a receipt released at once: each time the receipt is
    counted in full on the version that is current at the end."""
    for round_ in range(5):
        before = sum(line.collected_minor for line in current_lines(case).values())
        new, paid = run_together(
            [partial(amend, case, round_), pay(case, case.d1, "300.00", f"round-{round_}")]
        )
        assert isinstance(new, RestitutionOrder), new
        assert isinstance(paid, Receipt), paid
        paid.refresh_from_db()
        assert paid.unallocated_minor == 0, f"round {round_}: the receipt found no order"
        after = sum(line.collected_minor for line in current_lines(case).values())
        assert after - before == 30_000, f"round {round_}"
    assert RestitutionOrder.objects.filter(trust=case.trust).count() == 6
    assert ledger_violations(trust_id=case.trust.pk).ok
