"""``receipts_record``: many receipts in one transaction, with the result of ``receipt_record``
called for each in turn.

The batch shares out in memory against what earlier receipts of the batch left owed and writes in
batches; the property below checks it against the one-by-one service on random orders, with
batches of three so that every write path (several batches, a receipt split across none) runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moneyed import Money

from tests.factories import TrustFactory
from tests.trust.test_receipts import (
    RECEIVED,
    Case,
    check_invariants,
    refused,
    scenarios,
    usd,
    written,
)
from tests.trust.test_receipts import case as case
from trust.invariants import ledger_violations
from trust.models import Account, Defendant, OrderLine, Receipt, Trust
from trust.services import receipts as receipts_module
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipt_batches import ReceiptRefused, receipts_record
from trust.services.receipts import ReceiptSpec, receipt_record

pytestmark = pytest.mark.django_db


@contextmanager
def refused_nothing() -> Iterator[None]:
    """Nothing may be written inside (the same check as a refusal's)."""
    before = written()
    yield
    assert written() == before


def spec(case: Case, amount: str, key: str, **extra: Any) -> ReceiptSpec:
    values: dict[str, Any] = {
        "amount": usd(amount),
        "received_on": RECEIVED,
        "source": Receipt.Source.CLERK,
        "bank_account": case.bank,
        "idempotency_key": key,
        "payer": case.d1,
    }
    values.update(extra)
    return ReceiptSpec(**values)


# --- the batch gives what one-by-one gives ------------------------------------------------------


@st.composite
def books(draw: st.DrawFn) -> dict[str, Any]:
    """The orders of ``test_receipts.scenarios`` and its receipts (by any defendant or none, some
    larger than what is owed), without its later allocations and reversals."""
    scenario = draw(scenarios())
    scenario["receipts"] = [
        (who, minor) for kind, who, minor in scenario["operations"] if kind == "receive"
    ]
    return scenario


def build(book: dict[str, Any]) -> tuple[Trust, Account, list[Defendant]]:
    trust = TrustFactory()
    defendants = [
        defendant_create(trust=trust, name=f"Invented Defendant {n}")
        for n in range(book["defendants"])
    ]
    victims = [
        beneficiary_create(trust=trust, pseudonym=f"V-{n}", kind=kind)
        for n, kind in enumerate(book["kinds"])
    ]
    order_create(
        trust=trust,
        actor=None,
        court="Fictional Court",
        case_number="BATCH-1",
        judgment_date=date(2025, 1, 2),
        total=Money(sum(minor for _, _, minor in book["lines"]), "USD") / 100,
        lines=[
            LineSpec(
                beneficiary=victims[b],
                amount=Money(minor, "USD") / 100,
                defendants=[defendants[d] for d in sorted(who)],
            )
            for b, who, minor in book["lines"]
        ],
    )
    return trust, trust.accounts.get(role=Account.Role.BANK), defendants


def outcome(trust: Trust, receipts: list[Receipt]) -> dict[str, Any]:
    """What the receipts did, in terms that do not depend on primary keys."""
    return {
        "receipts": [
            (
                r.amount_minor,
                r.unallocated_minor,
                sorted(
                    (s.line.position, s.beneficiary.pseudonym, s.amount_minor)
                    for s in r.allocations.get().shares.select_related("line", "beneficiary")
                ),
            )
            for r in receipts
        ],
        "collected": sorted(
            OrderLine.objects.filter(order__trust=trust).values_list("position", "collected_minor")
        ),
        "balances": sorted(trust.accounts.values_list("role", "code", "balance_minor")),
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(book=books())
def test_a_batch_records_what_one_receipt_at_a_time_records(book: dict[str, Any]) -> None:
    one_by_one, bank_a, defendants_a = build(book)
    batched, bank_b, defendants_b = build(book)

    def specs(bank: Account, defendants: list[Defendant]) -> list[ReceiptSpec]:
        return [
            ReceiptSpec(
                amount=Money(minor, "USD") / 100,
                received_on=RECEIVED,
                source=Receipt.Source.DEFENDANT,
                bank_account=bank,
                idempotency_key=f"r{n}",
                payer=None if who is None else defendants[who],
            )
            for n, (who, minor) in enumerate(book["receipts"])
        ]

    expected = [
        receipt_record(trust=one_by_one, actor=None, **vars(s)) for s in specs(bank_a, defendants_a)
    ]
    with mock.patch.object(receipts_module, "_WRITE_BATCH", 3):
        got = receipts_record(trust=batched, actor=None, receipts=specs(bank_b, defendants_b))
    assert [r.idempotency_key for r in got] == [f"r{n}" for n in range(len(book["receipts"]))]
    assert outcome(batched, got) == outcome(one_by_one, expected)
    check_invariants(batched)
    report = ledger_violations(trust_id=batched.pk)
    assert report.ok, [str(v) for v in report.violations]


# --- good paths ------------------------------------------------------------------------------


def test_receipts_record_reports_progress_after_each_batch(case: Case) -> None:
    calls: list[tuple[int, int]] = []
    with mock.patch.object(receipts_module, "_WRITE_BATCH", 2):
        got = receipts_record(
            trust=case.trust,
            actor=None,
            receipts=[spec(case, "100.00", f"p{n}") for n in range(5)],
            progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert len({r.entry_id for r in got}) == 5


def test_receipts_record_returns_receipts_already_recorded_and_writes_only_the_new(
    case: Case,
) -> None:
    first = receipt_record(trust=case.trust, actor=None, **vars(spec(case, "300.00", "k1")))
    got = receipts_record(
        trust=case.trust,
        actor=None,
        receipts=[spec(case, "300.00", "k1"), spec(case, "150.00", "k2")],
    )
    assert got[0].pk == first.pk
    assert Receipt.objects.filter(trust=case.trust).count() == 2
    assert case.trust.accounts.get(role=Account.Role.BANK).balance == usd("450.00")


def test_receipts_record_of_nothing_new_writes_nothing(case: Case) -> None:
    receipts_record(trust=case.trust, actor=None, receipts=[spec(case, "10.00", "k1")])
    with refused_nothing():
        again = receipts_record(trust=case.trust, actor=None, receipts=[spec(case, "10.00", "k1")])
    assert len(again) == 1
    assert receipts_record(trust=case.trust, actor=None, receipts=[]) == []


def test_receipts_record_shares_later_receipts_against_what_earlier_ones_left(case: Case) -> None:
    """D1 owes 15,000.00 (10,000.00 of it jointly with D2): three receipts of 6,000.00 from D1
    collect 15,000.00 and leave 3,000.00 unallocated, never over-collecting a line."""
    got = receipts_record(
        trust=case.trust,
        actor=None,
        receipts=[spec(case, "6000.00", f"k{n}") for n in range(3)],
    )
    assert [r.unallocated_minor for r in got] == [0, 0, 300_000]
    assert case.line(case.mv1).collected_minor == 1_000_000
    assert case.line(case.mv2).collected_minor == 500_000
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("3000.00")


# --- refusals: the receipt named, nothing written ----------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"amount": Money("1.001", "USD")}, "amount"),
        ({"amount": Money("-5", "USD")}, "amount"),
        ({"amount": Money("5", "PHP")}, "amount"),
        ({"source": "lottery"}, "source"),
        ({"received_on": date(2999, 1, 1)}, "received_on"),
        ({"idempotency_key": "  "}, "idempotency_key"),
    ],
)
def test_receipts_record_refuses_a_bad_receipt_naming_it(
    case: Case, bad: dict[str, Any], field: str
) -> None:
    receipts = [spec(case, "10.00", "k0"), replace(spec(case, "10.00", "k1"), **bad)]
    with refused(field) as info:
        receipts_record(trust=case.trust, actor=None, receipts=receipts)
    assert isinstance(info.value, ReceiptRefused)
    assert info.value.index == 1


def test_receipts_record_refuses_a_key_given_twice(case: Case) -> None:
    receipts = [spec(case, "10.00", "k0"), spec(case, "10.00", "k1"), spec(case, "10.00", "k0")]
    with refused("idempotency_key", "two receipts of the batch") as info:
        receipts_record(trust=case.trust, actor=None, receipts=receipts)
    assert info.value.index == 2


def test_receipts_record_refuses_a_key_used_for_another_receipt(case: Case) -> None:
    receipt_record(trust=case.trust, actor=None, **vars(spec(case, "10.00", "k0")))
    receipts = [spec(case, "20.00", "k1"), spec(case, "11.00", "k0")]
    with refused("idempotency_key", "already used") as info:
        receipts_record(trust=case.trust, actor=None, receipts=receipts)
    assert info.value.index == 1


def test_receipts_record_refuses_a_payer_of_another_trust(case: Case) -> None:
    stranger = defendant_create(trust=TrustFactory(), name="Invented Stranger")
    with refused("payer") as info:
        receipts_record(
            trust=case.trust, actor=None, receipts=[spec(case, "10.00", "k0", payer=stranger)]
        )
    assert info.value.index == 0
