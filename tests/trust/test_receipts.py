"""Receipts: ``receipt_record``, ``receipt_allocate``, ``receipt_reverse``.

Every refusal is checked to have written nothing: no receipt, allocation, share, journal entry or
account, and no change to what order lines collected. The last test drives random orders and
receipt sequences through the services and checks the invariants after each step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moneyed import Money

from tests.factories import TrustFactory
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    Allocation,
    AllocationShare,
    Beneficiary,
    Defendant,
    EntryKind,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
    VictimKind,
)
from trust.selectors import receipts_to_resolve, trust_identity
from trust.services.allocations import ManualShare
from trust.services.ledger import LedgerError, Leg, entry_post
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.trusts import account_create, trust_set_lock_date
from trust.services.unallocated import receipt_allocate

pytestmark = pytest.mark.django_db

RECEIVED = date(2025, 6, 1)


def usd(value: str) -> Money:
    return Money(value, "USD")


def php(value: str) -> Money:
    return Money(value, "PHP")


@dataclass
class Case:
    """MV-1 is owed 10,000.00 by D1 and D2 jointly; MV-2 5,000.00 by D1 alone. D3 owes nothing."""

    trust: Trust
    d1: Defendant
    d2: Defendant
    d3: Defendant
    mv1: Beneficiary
    mv2: Beneficiary
    order: RestitutionOrder
    bank: Account

    def line(self, beneficiary: Beneficiary) -> OrderLine:
        """The beneficiary's line in the current version of the order."""
        return OrderLine.objects.get(
            order__trust=self.trust, order__status="current", beneficiary=beneficiary
        )


@pytest.fixture
def case() -> Case:
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name="Invented Defendant One")
    d2 = defendant_create(trust=trust, name="Invented Defendant Two")
    d3 = defendant_create(trust=trust, name="Invented Defendant Three")
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
    return Case(trust, d1, d2, d3, mv1, mv2, order, bank)


def receive(case: Case, amount: Any, key: str, **extra: Any) -> Receipt:
    """Record a receipt into the dollar bank account from D1 (a string is in dollars)."""
    arguments: dict[str, Any] = {
        "trust": case.trust,
        "actor": None,
        "amount": usd(amount) if isinstance(amount, str) else amount,
        "received_on": RECEIVED,
        "source": Receipt.Source.CLERK,
        "bank_account": case.bank,
        "payer": case.d1,
        "idempotency_key": key,
    }
    arguments.update(extra)
    return receipt_record(**arguments)


def php_bank(trust: Trust) -> Account:
    return account_create(
        trust=trust,
        code="1010-BANK-PHP",
        name="Trust bank account (PHP)",
        type=Account.Type.ASSET,
        role=Account.Role.BANK,
        currency="PHP",
        no_negative=True,
    )


def balance(beneficiary: Beneficiary, currency: str = "USD") -> Money:
    return beneficiary.accounts.get(currency=currency).balance


def written() -> dict[str, Any]:
    """What a refused call must leave exactly as it was."""
    return {
        "receipts": Receipt.objects.count(),
        "allocations": Allocation.objects.count(),
        "shares": AllocationShare.objects.count(),
        "entries": JournalEntry.objects.count(),
        "accounts": Account.objects.count(),
        "collected": sorted(OrderLine.objects.values_list("pk", "collected_minor")),
        "receipt_state": sorted(Receipt.objects.values_list("pk", "status", "unallocated_minor")),
    }


@contextmanager
def refused(where: str, match: str = "") -> Iterator[pytest.ExceptionInfo[ValidationError]]:
    """The call inside is refused with an error on field ``where`` (or, for an error about no one
    field, with code ``where``), a message containing ``match``, and writes nothing."""
    before = written()
    with pytest.raises(ValidationError) as info:
        yield info
    error = info.value
    if hasattr(error, "error_dict"):
        assert set(error.error_dict) == {where}, error.error_dict
    else:
        assert error.code == where, error
    if match:
        assert match in " ".join(error.messages), error.messages
    assert written() == before


def shares_of(receipt: Receipt) -> dict[int, int]:
    """Beneficiary id -> minor units, over every allocation of the receipt."""
    totals: dict[int, int] = defaultdict(int)
    for share in AllocationShare.objects.filter(allocation__receipt=receipt):
        totals[share.beneficiary_id] += share.amount_minor
    return {b: total for b, total in totals.items() if total}


# --- receipt_record: good paths ----------------------------------------------------------------


def test_receipt_record_posts_one_entry_with_the_pro_rata_shares(case: Case) -> None:
    receipt = receive(case, "3000.00", "r1")
    assert (receipt.amount, receipt.status, receipt.unallocated_minor) == (
        usd("3000.00"),
        "posted",
        0,
    )
    entry = JournalEntry.objects.get(pk=receipt.entry_id)
    assert entry.kind == EntryKind.RECEIPT
    assert {(p.account_id, p.amount_minor) for p in entry.postings.all()} == {
        (case.bank.pk, 300_000),
        (case.mv1.accounts.get().pk, -200_000),
        (case.mv2.accounts.get().pk, -100_000),
    }
    allocation = receipt.allocations.get()
    assert (allocation.method, allocation.entry_id) == ("pro_rata", receipt.entry_id)
    assert shares_of(receipt) == {case.mv1.pk: 200_000, case.mv2.pk: 100_000}


def test_receipt_record_adds_to_what_the_lines_collected(case: Case) -> None:
    receive(case, "3000.00", "r1")
    assert case.line(case.mv1).collected == usd("2000.00")
    assert case.line(case.mv2).collected == usd("1000.00")


def test_receipt_from_a_co_defendant_reduces_only_the_joint_line(case: Case) -> None:
    receive(case, "1000.00", "r1", payer=case.d2)
    assert (balance(case.mv1), balance(case.mv2)) == (usd("1000.00"), usd("0.00"))
    assert case.line(case.mv1).outstanding == usd("9000.00")


def test_receipt_record_manual_allocation_counts_against_the_line(case: Case) -> None:
    receipt = receive(
        case,
        "1000.00",
        "m1",
        manual=[ManualShare(amount=usd("600.00"), line=case.line(case.mv2))],
        reason="Order on distribution, ECF No. 99",
    )
    assert receipt.allocations.get().method == "manual"
    assert receipt.allocations.get().reason == "Order on distribution, ECF No. 99"
    assert (balance(case.mv2), receipt.unallocated) == (usd("600.00"), usd("400.00"))
    assert case.line(case.mv2).collected == usd("600.00")


def test_receipt_record_manual_share_to_a_beneficiary_counts_on_no_line(case: Case) -> None:
    receipt = receive(
        case,
        "100.00",
        "m1",
        manual=[ManualShare(amount=usd("100.00"), beneficiary=case.mv1)],
        reason="Order on distribution, ECF No. 99",
    )
    assert balance(case.mv1) == usd("100.00")
    assert receipt.allocations.get().shares.get().line is None
    assert case.line(case.mv1).collected_minor == 0


def test_receipt_record_overpayment_goes_to_unallocated(case: Case) -> None:
    receipt = receive(case, "20000.00", "big")
    assert receipt.unallocated == usd("5000.00")
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("5000.00")
    assert list(receipts_to_resolve(trust=case.trust)) == [receipt]


# --- receipt_record: refusals ------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["0.00", "-1.00", "1.001"])
def test_receipt_record_refuses_a_bad_amount(case: Case, amount: str) -> None:
    with refused("amount"):
        receive(case, amount, "bad")


def test_receipt_record_refuses_an_amount_without_currency(case: Case) -> None:
    with refused("amount"):
        receive(case, Decimal("100.00"), "bad")


def test_receipt_record_refuses_a_currency_the_installation_does_not_accept(case: Case) -> None:
    with refused("amount", match="XTS"):
        receive(case, Money("100", "XTS"), "bad")


def test_receipt_record_refuses_a_currency_other_than_the_bank_account_s(case: Case) -> None:
    bank = php_bank(case.trust)
    with refused("amount", match="holds PHP"):
        receive(case, "100.00", "bad", bank_account=bank)


def test_receipt_record_refuses_pesos_into_the_dollar_account(case: Case) -> None:
    with refused("amount", match="holds USD"):
        receive(case, php("100.00"), "bad")


def test_receipt_record_refuses_a_bank_account_of_another_trust(case: Case) -> None:
    other = TrustFactory()
    with refused("bank_account"):
        receive(case, "100.00", "bad", bank_account=other.accounts.get(role=Account.Role.BANK))


def test_receipt_record_refuses_an_account_that_is_not_a_bank_account(case: Case) -> None:
    with refused("bank_account", match="not a bank account"):
        receive(
            case,
            "100.00",
            "bad",
            bank_account=case.trust.accounts.get(role=Account.Role.UNALLOCATED),
        )


def test_receipt_record_refuses_a_payer_of_another_trust(case: Case) -> None:
    stranger = defendant_create(trust=TrustFactory(), name="Invented Defendant One")
    with refused("payer"):
        receive(case, "100.00", "bad", payer=stranger)


def test_receipt_record_refuses_an_unknown_source(case: Case) -> None:
    with refused("source"):
        receive(case, "100.00", "bad", source="lottery")


def test_receipt_record_refuses_a_date_in_the_future(case: Case) -> None:
    with refused("received_on"):
        receive(case, "100.00", "bad", received_on=timezone.localdate() + timedelta(days=1))


def test_receipt_record_refuses_a_datetime_for_the_date(case: Case) -> None:
    with refused("received_on"):
        receive(case, "100.00", "bad", received_on=timezone.now())


def test_receipt_record_refuses_a_date_in_the_closed_period(case: Case) -> None:
    trust_set_lock_date(trust=case.trust, lock_date=RECEIVED)
    before = written()
    with pytest.raises(LedgerError) as info:
        receive(case, "3000.00", "closed")
    assert info.value.code == "period_closed"
    assert written() == before


def test_receipt_record_refuses_a_date_in_the_closed_period_opening_no_account(
    case: Case,
) -> None:
    """A first peso receipt would open a peso unallocated account: not when it is refused."""
    bank = php_bank(case.trust)
    trust_set_lock_date(trust=case.trust, lock_date=RECEIVED)
    before = written()
    with pytest.raises(LedgerError):
        receive(case, php("100.00"), "closed", bank_account=bank, payer=None)
    assert written() == before


@pytest.mark.parametrize("key", ["", "   ", "k" * 151])
def test_receipt_record_refuses_a_missing_or_long_idempotency_key(case: Case, key: str) -> None:
    with refused("idempotency_key"):
        receive(case, "100.00", key)


@pytest.mark.parametrize("reason", ["", "  "])
def test_receipt_record_refuses_a_manual_allocation_without_reason(case: Case, reason: str) -> None:
    with refused("reason"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=usd("100.00"), line=case.line(case.mv2))],
            reason=reason,
        )


def test_receipt_record_refuses_a_manual_share_over_the_line_s_outstanding(case: Case) -> None:
    receive(case, "3000.00", "r1")  # MV-2's line has 4,000.00 left
    with refused("manual", match="4,000.00 USD outstanding"):
        receive(
            case,
            "5000.00",
            "m",
            manual=[ManualShare(amount=usd("4000.01"), line=case.line(case.mv2))],
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_manual_shares_adding_up_to_more_than_the_receipt(
    case: Case,
) -> None:
    with refused("manual", match="more than the 1,000.00 USD"):
        receive(
            case,
            "1000.00",
            "m",
            manual=[
                ManualShare(amount=usd("600.00"), line=case.line(case.mv1)),
                ManualShare(amount=usd("400.01"), line=case.line(case.mv2)),
            ],
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_a_manual_line_of_another_trust(case: Case) -> None:
    other = TrustFactory()
    d = defendant_create(trust=other, name="Invented Defendant Elsewhere")
    b = beneficiary_create(trust=other, pseudonym="MV-1")
    foreign = order_create(
        trust=other,
        actor=None,
        court="Fictional Court",
        case_number="X-1",
        judgment_date=date(2025, 1, 2),
        total=usd("100.00"),
        lines=[LineSpec(beneficiary=b, amount=usd("100.00"), defendants=[d])],
    )
    with refused("manual", match="not one of this trust's"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=usd("100.00"), line=foreign.lines.get())],
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_a_manual_line_of_a_superseded_order(case: Case) -> None:
    old_line = case.line(case.mv2)
    order_amend(
        order=case.order,
        actor=None,
        reason="Amended judgment, ECF No. 120",
        judgment_date=date(2025, 5, 1),
        total=usd("15000.00"),
        lines=[
            LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1, case.d2]),
            LineSpec(beneficiary=case.mv2, amount=usd("5000.00"), defendants=[case.d1]),
        ],
    )
    with refused("manual", match="superseded"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=usd("100.00"), line=old_line)],
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_the_same_manual_line_twice(case: Case) -> None:
    line = case.line(case.mv2)
    with refused("manual", match="twice"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=usd("50.00"), line=line)] * 2,
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_a_manual_share_in_another_currency(case: Case) -> None:
    with refused("manual", match="in USD"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=php("100.00"), beneficiary=case.mv1)],
            reason="ECF No. 100",
        )


def test_receipt_record_refuses_a_manual_share_naming_nothing(case: Case) -> None:
    with refused("manual", match="name an order line or a beneficiary"):
        receive(case, "100.00", "m", manual=[ManualShare(amount=usd("1.00"))], reason="ECF 1")


def test_receipt_record_refuses_a_manual_share_to_another_trust_s_beneficiary(
    case: Case,
) -> None:
    stranger = beneficiary_create(trust=TrustFactory(), pseudonym="MV-1")
    with refused("manual", match="not one of this trust's"):
        receive(
            case,
            "100.00",
            "m",
            manual=[ManualShare(amount=usd("100.00"), beneficiary=stranger)],
            reason="ECF No. 100",
        )


# --- idempotency -------------------------------------------------------------------------------


def test_receipt_record_retry_returns_the_first_receipt_and_writes_nothing(case: Case) -> None:
    first = receive(case, "3000.00", "court-0001", bank_reference="CHK 1")
    before = written()
    again = receive(case, "3000.00", "court-0001", bank_reference="CHK 1")
    assert again.pk == first.pk
    assert written() == before


def test_receipt_record_refuses_a_key_reused_for_a_different_amount(case: Case) -> None:
    receive(case, "3000.00", "court-0001")
    with refused("idempotency_key", match="different receipt"):
        receive(case, "3000.01", "court-0001")


def test_receipt_record_refuses_a_key_reused_for_another_payer(case: Case) -> None:
    receive(case, "3000.00", "court-0001")
    with refused("idempotency_key"):
        receive(case, "3000.00", "court-0001", payer=case.d2)


def test_receipt_record_keys_belong_to_one_trust(case: Case) -> None:
    first = receive(case, "100.00", "court-0001")
    other = TrustFactory()
    other_bank = other.accounts.get(role=Account.Role.BANK)
    second = receive(case, "100.00", "court-0001", trust=other, bank_account=other_bank, payer=None)
    assert second.pk != first.pk


# --- unallocated receipts and receipt_allocate -------------------------------------------------


def test_receipt_from_a_payer_who_owes_nothing_is_all_unallocated(case: Case) -> None:
    receipt = receive(case, "250.00", "d3", payer=case.d3)
    assert receipt.unallocated == usd("250.00")
    assert shares_of(receipt) == {}
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("250.00")
    assert list(receipts_to_resolve(trust=case.trust)) == [receipt]


def test_receipts_to_resolve_leaves_out_allocated_and_reversed_receipts(case: Case) -> None:
    receive(case, "100.00", "allocated")
    reversed_ = receive(case, "100.00", "reversed", payer=None)
    receipt_reverse(receipt=reversed_, actor=None, reason="Cheque returned unpaid")
    waiting = receive(case, "100.00", "waiting", payer=None)
    assert list(receipts_to_resolve(trust=case.trust)) == [waiting]


def test_receipt_allocate_refuses_a_reversed_receipt(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    with refused("reversed"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=case.d1)


def test_receipt_allocate_refuses_a_receipt_with_nothing_unallocated(case: Case) -> None:
    receipt = receive(case, "300.00", "r1")
    with refused("nothing_unallocated"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a")


def test_receipt_allocate_refuses_to_change_a_known_payer(case: Case) -> None:
    receipt = receive(case, "300.00", "d3", payer=case.d3)
    with refused("payer", match="already recorded as paid by"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=case.d1)


def test_receipt_allocate_refuses_when_the_payer_owes_nothing(case: Case) -> None:
    receipt = receive(case, "300.00", "d3", payer=case.d3)
    with refused("nothing_owed", match="owes nothing outstanding"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a")


def test_receipt_allocate_refuses_without_a_payer_when_none_is_known(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    with refused("payer", match="Name the payer"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a")


def test_receipt_allocate_refuses_a_payer_of_another_trust(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    stranger = defendant_create(trust=TrustFactory(), name="Invented Defendant One")
    with refused("payer"):
        receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=stranger)


def test_receipt_allocate_refuses_a_manual_allocation_without_reason(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    with refused("reason"):
        receipt_allocate(
            receipt=receipt,
            actor=None,
            idempotency_key="a",
            manual=[ManualShare(amount=usd("300.00"), beneficiary=case.mv1)],
        )


def test_receipt_allocate_by_hand_moves_only_the_shares(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    allocation = receipt_allocate(
        receipt=receipt,
        actor=None,
        idempotency_key="a",
        manual=[ManualShare(amount=usd("120.00"), line=case.line(case.mv2))],
        reason="Order on distribution, ECF No. 99",
    )
    receipt.refresh_from_db()
    assert (allocation.method, allocation.from_unallocated) == ("manual", True)
    assert allocation.unallocated_change_minor == -12_000
    assert receipt.unallocated == usd("180.00")
    assert receipt.payer is None
    assert balance(case.mv2) == usd("120.00")
    assert ledger_violations(trust_id=case.trust.pk).ok


def test_receipt_allocate_leaves_what_the_payer_does_not_owe_unallocated(case: Case) -> None:
    receipt = receive(case, "16000.00", "anon", payer=None)
    receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=case.d1)
    receipt.refresh_from_db()
    assert receipt.unallocated == usd("1000.00")
    assert (balance(case.mv1), balance(case.mv2)) == (usd("10000.00"), usd("5000.00"))
    assert list(receipts_to_resolve(trust=case.trust)) == [receipt]


# --- a second currency -------------------------------------------------------------------------


@pytest.fixture
def pesos(case: Case) -> Account:
    """A peso bank account, and an order in pesos: D1 owes MV-1 50,000.00 PHP."""
    order_create(
        trust=case.trust,
        actor=None,
        court="District Court for the Fictional District",
        case_number="1:25-cr-00002",
        judgment_date=date(2025, 3, 1),
        total=php("50000.00"),
        lines=[LineSpec(beneficiary=case.mv1, amount=php("50000.00"), defendants=[case.d1])],
    )
    return php_bank(case.trust)


def test_a_peso_receipt_opens_a_peso_sub_ledger(case: Case, pesos: Account) -> None:
    receive(case, php("20000.00"), "p1", bank_account=pesos)
    sub = Account.objects.get(beneficiary=case.mv1, currency="PHP")
    assert (sub.role, sub.type, sub.no_negative) == ("sub_ledger", "liability", True)
    assert sub.balance == php("20000.00")
    assert balance(case.mv1, "USD") == usd("0.00")  # the dollar sub-ledger is untouched


def test_a_peso_receipt_allocates_only_peso_lines(case: Case, pesos: Account) -> None:
    receive(case, php("20000.00"), "p1", bank_account=pesos)
    assert case.line(case.mv2).collected_minor == 0
    assert OrderLine.objects.get(currency="PHP").collected == php("20000.00")


def test_a_peso_receipt_without_payer_opens_a_peso_unallocated_account(
    case: Case, pesos: Account
) -> None:
    receive(case, php("5000.00"), "p2", bank_account=pesos, payer=None)
    unallocated = Account.objects.get(
        trust=case.trust, role=Account.Role.UNALLOCATED, currency="PHP"
    )
    assert unallocated.balance == php("5000.00")
    assert case.trust.accounts.get(role="unallocated", currency="USD").balance == usd("0.00")


def test_receipts_in_two_currencies_keep_the_trust_identity(case: Case, pesos: Account) -> None:
    receive(case, "3000.00", "u1")
    receive(case, php("20000.00"), "p1", bank_account=pesos)
    receive(case, php("5000.00"), "p2", bank_account=pesos, payer=None)
    identity = trust_identity(trust=case.trust)
    assert set(identity) == {"USD", "PHP"}
    assert identity["PHP"].cash == php("25000.00") == identity["PHP"].obligations
    assert identity["USD"].cash == usd("3000.00") == identity["USD"].obligations
    assert all(line.holds for line in identity.values())
    assert ledger_violations(trust_id=case.trust.pk).ok


def test_a_second_peso_receipt_reuses_the_peso_accounts(case: Case, pesos: Account) -> None:
    receive(case, php("100.00"), "p1", bank_account=pesos)
    receive(case, php("100.00"), "p2", bank_account=pesos, payer=None)
    accounts = Account.objects.count()
    receive(case, php("100.00"), "p3", bank_account=pesos)
    receive(case, php("100.00"), "p4", bank_account=pesos, payer=None)
    assert Account.objects.count() == accounts


def test_a_peso_sub_ledger_is_found_for_a_pseudonym_that_ends_like_a_currency(
    case: Case, pesos: Account
) -> None:
    """MV-1's peso sub-ledger would be coded like the dollar sub-ledger of "MV-1-PHP"."""
    beneficiary_create(trust=case.trust, pseudonym="MV-1-PHP")
    receive(case, php("100.00"), "p1", bank_account=pesos)
    assert Account.objects.get(beneficiary=case.mv1, currency="PHP").balance == php("100.00")
    assert ledger_violations(trust_id=case.trust.pk).ok


# --- receipt_reverse ---------------------------------------------------------------------------


def test_receipt_reverse_undoes_the_shares_and_what_the_lines_collected(case: Case) -> None:
    receipt = receive(case, "3000.00", "r1")
    reversed_ = receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    assert (reversed_.status, reversed_.reversal_reason) == ("reversed", "Cheque returned unpaid")
    assert (balance(case.mv1), balance(case.mv2)) == (usd("0.00"), usd("0.00"))
    assert Account.objects.get(pk=case.bank.pk).balance == usd("0.00")
    assert case.line(case.mv1).collected_minor == case.line(case.mv2).collected_minor == 0
    assert shares_of(receipt) == {}
    reversal = receipt.allocations.get(method=Allocation.Method.REVERSAL)
    assert JournalEntry.objects.get(pk=reversal.entry_id).reverses_id == receipt.entry_id
    assert ledger_violations(trust_id=case.trust.pk).ok


def test_receipt_reverse_puts_back_what_the_current_version_of_an_amended_order_collected(
    case: Case,
) -> None:
    """The amended line carried the receipt's share; the bounced payment is owed again."""
    receipt = receive(case, "3000.00", "r1")
    amended = order_amend(
        order=case.order,
        actor=None,
        reason="Amended judgment, ECF No. 120",
        judgment_date=date(2025, 5, 1),
        total=usd("18000.00"),
        lines=[
            LineSpec(beneficiary=case.mv1, amount=usd("12000.00"), defendants=[case.d1, case.d2]),
            LineSpec(beneficiary=case.mv2, amount=usd("6000.00"), defendants=[case.d1]),
        ],
    )
    receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    current = {line.beneficiary_id: line for line in amended.lines.all()}
    assert current[case.mv1.pk].outstanding == usd("12000.00")
    assert current[case.mv2.pk].outstanding == usd("6000.00")
    assert set(case.order.lines.values_list("collected_minor", flat=True)) == {0}


@pytest.mark.parametrize("reason", ["", "   "])
def test_receipt_reverse_refuses_without_a_reason(case: Case, reason: str) -> None:
    receipt = receive(case, "3000.00", "r1")
    with refused("reason"):
        receipt_reverse(receipt=receipt, actor=None, reason=reason)


def test_receipt_reverse_refuses_when_a_sub_ledger_no_longer_holds_its_share(case: Case) -> None:
    receipt = receive(case, "3000.00", "r1")  # MV-1 2,000.00, MV-2 1,000.00
    payable = case.trust.accounts.get(role=Account.Role.PAYABLE)
    entry_post(  # a disbursement for MV-1, approved and payable
        trust=case.trust,
        actor=None,
        effective_date=RECEIVED,
        legs=[Leg(case.mv1.accounts.get(), usd("1500.00")), Leg(payable, usd("-1500.00"))],
        idempotency_key="disbursement-1",
        kind=EntryKind.DISBURSEMENT,
    )
    before = written()
    with pytest.raises(LedgerError) as info:
        receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    assert info.value.code == "overdraft"
    assert "no longer holds its share" in info.value.messages[0]
    assert written() == before
    receipt.refresh_from_db()
    assert receipt.status == "posted"


def test_receipt_reverse_twice_returns_the_reversed_receipt_and_writes_nothing(
    case: Case,
) -> None:
    receipt = receive(case, "3000.00", "r1")
    first = receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    before = written()
    again = receipt_reverse(receipt=receipt, actor=None, reason="Another reason")
    assert again.pk == first.pk
    assert (again.status, again.reversal_reason) == ("reversed", "Cheque returned unpaid")
    assert written() == before


def test_receipt_reverse_of_an_unallocated_receipt_empties_the_unallocated_account(
    case: Case,
) -> None:
    receipt = receive(case, "250.00", "d3", payer=case.d3)
    receipt_reverse(receipt=receipt, actor=None, reason="Paid into the wrong trust")
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("0.00")
    receipt.refresh_from_db()
    assert receipt.unallocated_minor == 0
    assert list(receipts_to_resolve(trust=case.trust)) == []


def test_receipt_reverse_after_a_later_allocation_undoes_both(case: Case) -> None:
    receipt = receive(case, "300.00", "anon", payer=None)
    receipt_allocate(receipt=receipt, actor=None, idempotency_key="a", payer=case.d1)
    receipt_reverse(receipt=receipt, actor=None, reason="Cheque returned unpaid")
    assert shares_of(receipt) == {}
    assert receipt.allocations.filter(method=Allocation.Method.REVERSAL).count() == 2
    assert case.trust.accounts.get(role=Account.Role.UNALLOCATED).balance == usd("0.00")
    assert case.line(case.mv1).collected_minor == 0
    assert ledger_violations(trust_id=case.trust.pk).ok


# --- random orders and receipts ----------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """2 to 6 order lines among 2 to 4 victims (individuals or a government agency) and up to 3
    defendants, joint or several; then receipts by any defendant or none (the first step is
    always a receipt), later allocations of unallocated money, and reversals."""
    defendants = draw(st.integers(1, 3))
    victim_kind = st.sampled_from([VictimKind.INDIVIDUAL, VictimKind.GOVERNMENT])
    kinds = draw(st.lists(victim_kind, min_size=2, max_size=4))
    line = st.tuples(
        st.integers(0, len(kinds) - 1),
        st.frozensets(st.integers(0, defendants - 1), min_size=1),
        st.integers(1, 500_000),
    )
    lines = draw(st.lists(line, min_size=2, max_size=6, unique_by=lambda item: (item[0], item[1])))
    payer = st.one_of(st.none(), st.integers(0, defendants - 1), st.integers(0, defendants - 1))
    amount = st.one_of(st.integers(1, 100_000), st.integers(1, 800_000))
    receive = st.tuples(st.just("receive"), payer, amount)
    allocate = st.tuples(st.just("allocate"), st.integers(0, 20), st.integers(0, defendants - 1))
    reverse = st.tuples(st.just("reverse"), st.integers(0, 20), st.just(0))
    later = st.lists(st.one_of(receive, receive, allocate, reverse), max_size=7)
    operations = [draw(receive), *draw(later)]
    return {"defendants": defendants, "kinds": kinds, "lines": lines, "operations": operations}


def check_invariants(trust: Trust) -> None:
    """Every receipt adds up, every line's collected is its shares and at most its amount, a
    pro-rata share goes only to a line its payer owes, and every sub-ledger and the
    unallocated account hold what the shares and receipts say."""
    shares = list(
        AllocationShare.objects.filter(allocation__receipt__trust=trust).values_list(
            "allocation__receipt_id",
            "allocation__method",
            "allocation__receipt__payer_id",
            "line_id",
            "beneficiary_id",
            "amount_minor",
        )
    )
    liable = defaultdict(set)
    for line_id, defendant_id in OrderLine.defendants.through.objects.filter(
        orderline__order__trust=trust
    ).values_list("orderline_id", "defendant_id"):
        liable[line_id].add(defendant_id)
    by_receipt: dict[int, int] = defaultdict(int)
    by_line: dict[int, int] = defaultdict(int)
    by_beneficiary: dict[int, int] = defaultdict(int)
    for receipt_id, method, payer_id, line_id, beneficiary_id, minor in shares:
        by_receipt[receipt_id] += minor
        by_beneficiary[beneficiary_id] += minor
        if line_id is not None:
            by_line[line_id] += minor
        if method == Allocation.Method.PRO_RATA:
            assert payer_id in liable[line_id], (receipt_id, line_id)
    receipts = Receipt.objects.filter(trust=trust).values_list(
        "pk", "status", "amount_minor", "unallocated_minor"
    )
    for pk, status, amount, unallocated in receipts:
        if status == Receipt.Status.POSTED:
            assert by_receipt[pk] + unallocated == amount, pk
        else:
            assert (by_receipt[pk], unallocated) == (0, 0), pk
    for pk, amount, collected in OrderLine.objects.filter(order__trust=trust).values_list(
        "pk", "amount_minor", "collected_minor"
    ):
        assert 0 <= collected <= amount, pk
        assert collected == by_line[pk], pk
    for beneficiary_id, held in Account.objects.filter(
        trust=trust, role=Account.Role.SUB_LEDGER
    ).values_list("beneficiary_id", "balance_minor"):
        assert held == by_beneficiary[beneficiary_id], beneficiary_id
    waiting = sum(unallocated for _, _, _, unallocated in receipts)
    assert trust.accounts.get(role=Account.Role.UNALLOCATED).balance_minor == waiting


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_random_orders_and_receipts_keep_every_receipt_and_line_exact(
    scenario: dict[str, Any],
) -> None:
    trust = TrustFactory()
    bank = trust.accounts.get(role=Account.Role.BANK)
    defendants = [
        defendant_create(trust=trust, name=f"Invented Defendant {n}")
        for n in range(scenario["defendants"])
    ]
    victims = [
        beneficiary_create(trust=trust, pseudonym=f"V-{n}", kind=kind)
        for n, kind in enumerate(scenario["kinds"])
    ]
    specs = [
        LineSpec(
            beneficiary=victims[b],
            amount=Money(minor, "USD") / 100,
            defendants=[defendants[d] for d in sorted(who)],
        )
        for b, who, minor in scenario["lines"]
    ]
    order_create(
        trust=trust,
        actor=None,
        court="Fictional Court",
        case_number="RANDOM-1",
        judgment_date=date(2025, 1, 2),
        total=Money(sum(minor for _, _, minor in scenario["lines"]), "USD") / 100,
        lines=specs,
    )
    receipts: list[Receipt] = []
    for step, (kind, first, second) in enumerate(scenario["operations"]):
        if kind == "receive":
            receipt = receipt_record(
                trust=trust,
                actor=None,
                amount=Money(second, "USD") / 100,
                received_on=RECEIVED,
                source=Receipt.Source.CLERK,
                bank_account=bank,
                payer=None if first is None else defendants[first],
                idempotency_key=f"r{step}",
            )
            receipts.append(receipt)
            event(
                "receipt partly unallocated" if receipt.unallocated_minor else "receipt allocated"
            )
            continue
        receipt = Receipt.objects.get(pk=receipts[first % len(receipts)].pk)
        if kind == "reverse":
            # Nothing was disbursed: every sub-ledger still holds every share.
            receipt_reverse(receipt=receipt, actor=None, reason="Returned unpaid")
            event("reversal")
        elif receipt.status == "posted" and receipt.unallocated_minor:
            try:
                receipt_allocate(
                    receipt=receipt,
                    actor=None,
                    idempotency_key=f"a{step}",
                    payer=receipt.payer or defendants[second],
                )
                event("later allocation")
            except ValidationError as exc:
                assert "owes nothing outstanding" in " ".join(exc.messages)
                event("later allocation finds nothing owed")
        check_invariants(trust)
    report = ledger_violations(trust_id=trust.pk)
    assert report.ok, [str(v) for v in report.violations]
