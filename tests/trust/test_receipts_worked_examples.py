"""DOMAIN.md's worked examples, end to end: orders recorded, receipts posted, sub-ledgers, order
lines and the unallocated account checked to the cent."""

from __future__ import annotations

from datetime import date

import pytest
from moneyed import Money

from tests.factories import TrustFactory
from trust.invariants import ledger_violations
from trust.models import Account, AllocationShare, OrderLine, Receipt, VictimKind
from trust.selectors import (
    outstanding_by_beneficiary,
    outstanding_by_defendant,
    receipts_to_resolve,
)
from trust.services.allocations import ManualShare
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.unallocated import receipt_allocate

pytestmark = pytest.mark.django_db(transaction=True)

USD = "USD"


def usd(value: str) -> Money:
    return Money(value, USD)


def balance(beneficiary) -> str:
    return str(beneficiary.accounts.get(currency=USD).balance.amount)


@pytest.fixture
def case():
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
    bank = trust.accounts.get(role=Account.Role.BANK)
    return trust, d1, d2, mv1, mv2, order, bank


def receive(trust, bank, payer, amount, key, **extra) -> Receipt:
    return receipt_record(
        trust=trust,
        actor=None,
        amount=usd(amount),
        received_on=date(2025, 6, 1),
        source=Receipt.Source.CLERK,
        bank_account=bank,
        payer=payer,
        idempotency_key=key,
        **extra,
    )


def test_worked_example_joint_and_several(case):
    trust, d1, d2, mv1, mv2, order, bank = case
    lines = {line.beneficiary_id: line for line in order.lines.all()}

    receive(trust, bank, d1, "3000.00", "r1")
    assert (balance(mv1), balance(mv2)) == ("2000.00", "1000.00")

    receive(trust, bank, d2, "1000.00", "r2")  # D2 owes only the joint line
    assert (balance(mv1), balance(mv2)) == ("3000.00", "1000.00")
    joint = OrderLine.objects.get(pk=lines[mv1.pk].pk)
    assert joint.outstanding == usd("7000.00")
    owed = outstanding_by_defendant(trust=trust)
    assert owed[d1.pk][USD].outstanding == usd("11000.00")  # 7,000 joint + 4,000 alone
    assert owed[d2.pk][USD].outstanding == usd("7000.00")

    third = receive(trust, bank, d1, "20000.00", "r3")
    assert (balance(mv1), balance(mv2)) == ("10000.00", "5000.00")
    assert third.unallocated == usd("9000.00")
    assert trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("9000.00")
    assert list(receipts_to_resolve(trust=trust)) == [third]
    per_beneficiary = outstanding_by_beneficiary(trust=trust)
    assert per_beneficiary[mv1.pk][USD].outstanding_minor == 0
    assert per_beneficiary[mv2.pk][USD].outstanding_minor == 0
    assert ledger_violations(trust_id=trust.pk).ok


def test_three_equal_lines_share_the_extra_cent_by_line_order():
    trust = TrustFactory()
    d = defendant_create(trust=trust, name="Invented Payer")
    people = [
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}", date_of_birth=date(2012, 1, n))
        for n in (1, 2, 3)
    ]
    order_create(
        trust=trust,
        actor=None,
        court="Fictional Court",
        case_number="EQ-1",
        judgment_date=date(2025, 1, 2),
        total=usd("300.00"),
        lines=[LineSpec(beneficiary=b, amount=usd("100.00"), defendants=[d]) for b in people],
    )
    receive(trust, trust.accounts.get(role="bank"), d, "100.00", "eq")
    assert [balance(b) for b in people] == ["33.34", "33.33", "33.33"]


def test_individuals_are_paid_before_the_government():
    trust = TrustFactory()
    d = defendant_create(trust=trust, name="Invented Payer")
    a = beneficiary_create(trust=trust, pseudonym="MV-A", date_of_birth=date(2013, 2, 2))
    b = beneficiary_create(trust=trust, pseudonym="MV-B", date_of_birth=date(2011, 3, 3))
    agency = beneficiary_create(trust=trust, pseudonym="Agency-1", kind=VictimKind.GOVERNMENT)
    order_create(
        trust=trust,
        actor=None,
        court="Fictional Court",
        case_number="GOV-1",
        judgment_date=date(2025, 1, 2),
        total=usd("3000.00"),
        lines=[
            LineSpec(beneficiary=agency, amount=usd("1000.00"), defendants=[d]),
            LineSpec(beneficiary=a, amount=usd("1000.00"), defendants=[d]),
            LineSpec(beneficiary=b, amount=usd("1000.00"), defendants=[d]),
        ],
    )
    bank = trust.accounts.get(role="bank")
    receive(trust, bank, d, "1500.00", "g1")
    assert (balance(a), balance(b), balance(agency)) == ("750.00", "750.00", "0.00")
    receive(trust, bank, d, "1000.00", "g2")
    assert (balance(a), balance(b), balance(agency)) == ("1000.00", "1000.00", "500.00")


def test_amended_order_keeps_what_was_collected(case):
    trust, d1, d2, mv1, mv2, order, bank = case
    receive(trust, bank, d1, "3000.00", "before")
    amended = order_amend(
        order=order,
        actor=None,
        reason="Amended judgment, ECF No. 120",
        judgment_date=date(2025, 5, 1),
        total=usd("18000.00"),
        lines=[
            LineSpec(beneficiary=mv1, amount=usd("12000.00"), defendants=[d1, d2]),
            LineSpec(beneficiary=mv2, amount=usd("6000.00"), defendants=[d1]),
        ],
    )
    order.refresh_from_db()
    assert order.status == "superseded" and amended.version == 2
    assert amended.supersedes == order
    new = {line.beneficiary_id: line for line in amended.lines.all()}
    assert new[mv1.pk].outstanding == usd("10000.00")  # 12,000 less the 2,000 collected
    assert new[mv2.pk].outstanding == usd("5000.00")
    # Both versions stay visible; only the current one takes new money.
    assert order.lines.count() == 2
    receive(trust, bank, d2, "500.00", "after")
    assert OrderLine.objects.get(pk=new[mv1.pk].pk).collected == usd("2500.00")
    assert ledger_violations(trust_id=trust.pk).ok


def test_unknown_payer_goes_unallocated_then_allocated_later(case):
    trust, d1, _d2, mv1, mv2, _order, bank = case
    receipt = receive(trust, bank, None, "300.00", "anon")
    assert receipt.unallocated == usd("300.00")
    assert balance(mv1) == "0.00"
    allocation = receipt_allocate(receipt=receipt, actor=None, idempotency_key="k1", payer=d1)
    again = receipt_allocate(receipt=receipt, actor=None, idempotency_key="k1", payer=d1)
    assert again.pk == allocation.pk
    receipt.refresh_from_db()
    assert receipt.unallocated_minor == 0 and receipt.payer == d1
    assert (balance(mv1), balance(mv2)) == ("200.00", "100.00")
    assert trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("0.00")
    assert ledger_violations(trust_id=trust.pk).ok


def test_manual_allocation_cites_the_court_and_is_capped(case):
    trust, d1, _d2, _mv1, mv2, order, bank = case
    line2 = order.lines.get(beneficiary=mv2)
    receipt = receive(
        trust,
        bank,
        d1,
        "1000.00",
        "manual",
        manual=[ManualShare(amount=usd("600.00"), line=line2)],
        reason="Order on distribution, ECF No. 99",
    )
    assert balance(mv2) == "600.00" and receipt.unallocated == usd("400.00")
    with pytest.raises(Exception, match="outstanding"):
        receive(
            trust,
            bank,
            d1,
            "9000.00",
            "too-much",
            manual=[ManualShare(amount=usd("5000.00"), line=line2)],
            reason="ECF No. 100",
        )
    assert not Receipt.objects.filter(idempotency_key="too-much").exists()


def test_reversing_a_receipt_undoes_every_allocation(case):
    trust, d1, _d2, mv1, mv2, order, bank = case
    receipt = receive(trust, bank, None, "3000.00", "bounce")
    receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=d1)
    receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    receipt.refresh_from_db()
    assert receipt.status == "reversed"
    assert (balance(mv1), balance(mv2)) == ("0.00", "0.00")
    assert bank.__class__.objects.get(pk=bank.pk).balance == usd("0.00")
    assert all(line.collected_minor == 0 for line in order.lines.all())
    assert ledger_violations(trust_id=trust.pk).ok


def test_check_ledger_names_a_tampered_order_line_and_receipt(case):
    trust, d1, _d2, _mv1, mv2, order, bank = case
    receipt = receive(trust, bank, d1, "20000.00", "tamper")
    line = order.lines.get(beneficiary=mv2)
    OrderLine.objects.filter(pk=line.pk).update(collected_minor=1)
    Receipt.objects.filter(pk=receipt.pk).update(unallocated_minor=7)
    found = {(v.rule, v.subject) for v in ledger_violations(trust_id=trust.pk).violations}
    assert ("order-collected", f"order #{order.pk} line 2") in found
    assert ("receipt-unallocated", f"receipt #{receipt.pk}") in found


def test_check_ledger_names_an_allocation_whose_shares_differ_from_its_entry(case):
    trust, d1, _d2, _mv1, mv2, _order, bank = case
    receipt = receive(trust, bank, d1, "3000.00", "shares")
    allocation = receipt.allocations.get()
    assert ledger_violations(trust_id=trust.pk).ok
    share = allocation.shares.get(beneficiary=mv2)
    AllocationShare.objects.filter(pk=share.pk).update(amount_minor=share.amount_minor + 1)
    found = {(v.rule, v.subject) for v in ledger_violations(trust_id=trust.pk).violations}
    assert ("allocation-entry", f"allocation #{allocation.pk}") in found
