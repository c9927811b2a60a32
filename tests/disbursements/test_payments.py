"""Paying approved requests: the entries (per currency, through trading accounts), fees by the
trust's policy, acknowledgement with a shortfall, returned transfers, refusals that write
nothing, retries, and (on PostgreSQL) paying and cancelling racing each other.

The worked example of docs/disbursements.md is ``test_the_worked_example``: change both together.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moneyed import Money

from disbursements.models import DisbursementRequest, Payment, RequestDocument, RequestEvent, Status
from disbursements.services import (
    available,
    care_partner_vet,
    caseworker_add,
    policy_set_fee_bearer,
    request_approve,
    request_cancel,
    request_document_add,
)
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from tests.disbursements.test_requests import World, make_world, submitted, usd, user
from tests.factories import clean_image, fund
from tests.trust.test_receipts_concurrency import run_together
from trust.invariants import ledger_violations
from trust.models import Account, EntryKind, JournalEntry
from trust.selectors import trust_identity
from trust.services.trusts import administration_fund

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def php(value: str) -> Money:
    return Money(value, "PHP")


def balances(w: World) -> dict[str, int]:
    """Account code -> balance in minor units, for the accounts that are not at zero."""
    return {
        a.code: a.balance_minor for a in Account.objects.filter(trust=w.trust) if a.balance_minor
    }


def legs(entry: JournalEntry) -> list[tuple[str, int]]:
    return sorted((p.account.code, p.amount_minor) for p in entry.postings.all())


def identity_holds(w: World) -> None:
    for currency, line in trust_identity(trust=w.trust).items():
        assert line.holds, (currency, line)


def approved(w: World, amount: Money | str = "300.00", key: str = "p1", reserve: str = "") -> Any:
    request = submitted(w, amount, key)
    extra = {"reserve": usd(reserve)} if reserve else {}
    return request_approve(request=request, actor=w.trustee, **extra)


def pay(w: World, request: Any, sent: str, payout: str | None = None, **extra: Any) -> Payment:
    transfer = Transfer(
        sent=usd(sent),
        payout=php(payout) if payout else None,
        fee=usd(extra.pop("fee")) if "fee" in extra else None,
        value_date=extra.pop("value_date", TODAY()),
        reference=extra.pop("reference", f"TRF-{request.pk}"),
    )
    return payment_record(request=request, actor=extra.pop("actor", w.trustee), transfer=transfer)


def refused(code: str, call: Any) -> ValidationError:
    """``call()`` is refused with ``code`` and writes no entry, payment or event."""
    counts = (JournalEntry.objects.count(), Payment.objects.count(), RequestEvent.objects.count())
    statuses = list(DisbursementRequest.objects.order_by("pk").values_list("status", flat=True))
    with pytest.raises(ValidationError) as info:
        call()
    error = info.value
    codes = (
        [e.code for errors in error.error_dict.values() for e in errors]
        if hasattr(error, "error_dict")
        else [e.code for e in error.error_list]
    )
    assert code in codes, (codes, error.messages)
    assert (
        JournalEntry.objects.count(),
        Payment.objects.count(),
        RequestEvent.objects.count(),
    ) == counts
    assert list(DisbursementRequest.objects.order_by("pk").values_list("status", flat=True)) == (
        statuses
    )
    return error


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def usd_partner(world: World) -> World:
    """MV-1's partner is paid in the trust's own currency."""
    world.partner.payout_currency = "USD"
    world.partner.save(update_fields=["payout_currency"])
    return world


# --- across currencies ---------------------------------------------------------------------


def test_the_worked_example(world: World) -> None:
    """docs/disbursements.md: MV-1 holds USD 2,500.00; PHP 50,000.00 for school fees, USD
    1,020.00 reserved; USD 1,000.00 sent with a fee of USD 15.00 borne by the beneficiary;
    PHP 49,500.00 arrives."""
    fund(world.trust, world.sub1, "1500.00")
    request = approved(world, php("50000.00"), reserve="1020.00")
    assert available(world.sub1) == usd("1480.00")

    payment = pay(world, request, "1000.00", "50000.00", fee="15.00", reference="TRF-1")

    assert payment.rate == Decimal("50.000000")
    assert DisbursementRequest.objects.get(pk=request.pk).status == Status.PAID
    assert available(world.sub1) == usd("1485.00")  # charged 1,015.00; the reservation is gone
    assert balances(world) == {
        "1000-BANK": 2_500_00,  # nothing has cleared yet
        "2100-MV-1": 1_485_00,
        "2700-IN-TRANSIT": 15_00,
        "2700-IN-TRANSIT-PHP": 50_000_00,
        "3900-TRADING-USD": 1_000_00,
        "3900-TRADING-PHP": -50_000_00,
    }
    assert legs(payment.payment_entry) == [
        ("2100-MV-1", 1_000_00),
        ("2700-IN-TRANSIT-PHP", -50_000_00),
        ("3900-TRADING-PHP", 50_000_00),
        ("3900-TRADING-USD", -1_000_00),
    ]
    assert payment.payment_entry.kind == EntryKind.PAYMENT
    assert payment.fee_entry.kind == EntryKind.FEE
    assert legs(payment.fee_entry) == [("2100-MV-1", 15_00), ("2700-IN-TRANSIT", -15_00)]
    identity_holds(world)

    payment = payment_acknowledge(
        request=request,
        actor=world.caseworker,
        arrived=php("49500.00"),
        note="Intermediary bank deducted PHP 500",
    )

    assert payment.shortfall == php("500.00")
    assert balances(world) == {"1000-BANK": 1_485_00, "2100-MV-1": 1_485_00}
    assert legs(payment.settlement_entry) == [
        ("1000-BANK", -1_015_00),
        ("2700-IN-TRANSIT", 15_00),
        ("2700-IN-TRANSIT-PHP", 49_500_00),
        ("3900-TRADING-PHP", -49_500_00),
        ("3900-TRADING-USD", 1_000_00),
    ]
    assert payment.shortfall_entry.kind == EntryKind.SHORTFALL
    assert legs(payment.shortfall_entry) == [
        ("2700-IN-TRANSIT-PHP", 500_00),
        ("3900-TRADING-PHP", -500_00),
    ]
    identity_holds(world)
    assert ledger_violations(trust_id=world.trust.pk).ok
    assert list(request.events.values_list("action", flat=True))[-2:] == ["paid", "acknowledged"]
    assert "shortfall 500.00 PHP" in request.events.last().reason


def test_acknowledging_in_full_books_no_shortfall(world: World) -> None:
    request = approved(world, php("10000.00"), reserve="210.00")
    payment = pay(world, request, "200.00", "10000.00")
    assert payment.fee_entry is None and payment.rate == Decimal("50.000000")
    payment = payment_acknowledge(request=request, actor=world.caseworker, arrived=php("10000.00"))
    assert payment.shortfall == php("0.00") and payment.shortfall_entry is None
    assert balances(world) == {"1000-BANK": 800_00, "2100-MV-1": 800_00}
    assert ledger_violations(trust_id=world.trust.pk).ok


def test_a_payment_may_cost_more_than_reserved_when_funds_are_free(world: World) -> None:
    """Reserved 200.00 for PHP 10,000.00; the bank took 205.00: the extra 5.00 comes out of
    what is available. Another request's reservation is never touched."""
    other = approved(world, "700.00", "other")
    request = approved(world, php("10000.00"), "php", reserve="200.00")
    assert available(world.sub1) == usd("100.00")
    pay(world, request, "205.00", "10000.00")
    assert available(world.sub1) == usd("95.00")
    assert DisbursementRequest.objects.get(pk=other.pk).status == Status.APPROVED
    too_dear = approved(world, php("4000.00"), "dear", reserve="80.00")
    refused("insufficient_funds", lambda: pay(world, too_dear, "96.00", "4000.00"))


# --- in the trust's own currency -----------------------------------------------------------


def test_same_currency_payment_with_a_shortfall(usd_partner: World) -> None:
    w = usd_partner
    request = approved(w, "300.00")
    payment = pay(w, request, "300.00", fee="2.50")
    assert payment.payout == usd("300.00") and not payment.cross_currency
    assert legs(payment.payment_entry) == [("2100-MV-1", 300_00), ("2700-IN-TRANSIT", -300_00)]
    assert balances(w) == {"1000-BANK": 1_000_00, "2100-MV-1": 697_50, "2700-IN-TRANSIT": 302_50}
    identity_holds(w)

    payment = payment_acknowledge(
        request=request, actor=w.caseworker, arrived=usd("290.00"), note="Correspondent fee"
    )
    assert legs(payment.settlement_entry) == [("1000-BANK", -292_50), ("2700-IN-TRANSIT", 292_50)]
    assert legs(payment.shortfall_entry) == [("1000-BANK", -10_00), ("2700-IN-TRANSIT", 10_00)]
    assert balances(w) == {"1000-BANK": 697_50, "2100-MV-1": 697_50}
    assert ledger_violations(trust_id=w.trust.pk).ok


def test_the_payout_of_a_same_currency_payment_is_what_was_sent(usd_partner: World) -> None:
    request = approved(usd_partner, "300.00")
    transfer = Transfer(sent=usd("300.00"), payout=usd("290.00"), value_date=TODAY(), reference="X")
    refused(
        "payout_differs",
        lambda: payment_record(request=request, actor=usd_partner.trustee, transfer=transfer),
    )


# --- fees by the trust's policy ------------------------------------------------------------


def test_fees_charged_to_the_administration_fund(world: World) -> None:
    policy_set_fee_bearer(trust=world.trust, actor=world.trustee, bearer="administration")
    request = approved(world, php("10000.00"), reserve="200.00")
    error = refused(
        "administration_fund_short", lambda: pay(world, request, "200.00", "10000.00", fee="15.00")
    )
    assert "holds 0.00 USD" in str(error)

    # Unallocated money goes into the fund by a trustee's decision, with a reason.
    unallocated = Account.objects.get(trust=world.trust, code="2900-UNALLOCATED")
    fund(world.trust, unallocated, "50.00")
    administration_fund(
        trust=world.trust,
        actor=world.trustee,
        amount=usd("40.00"),
        reason="Order of 2026-03-01 allows administration costs",
        idempotency_key="admin-1",
    )
    payment = pay(world, request, "200.00", "10000.00", fee="15.00")
    assert payment.fee_bearer == "administration"
    assert legs(payment.fee_entry) == [("2600-ADMIN", 15_00), ("2700-IN-TRANSIT", -15_00)]
    assert balances(world)["2100-MV-1"] == 800_00  # the child pays only what was sent
    assert balances(world)["2600-ADMIN"] == 25_00
    identity_holds(world)


def test_the_administration_fund_takes_only_unallocated_money_with_a_reason(world: World) -> None:
    with pytest.raises(ValidationError):
        administration_fund(
            trust=world.trust,
            actor=world.trustee,
            amount=usd("1.00"),
            reason=" ",
            idempotency_key="a",
        )
    with pytest.raises(ValidationError) as info:
        administration_fund(
            trust=world.trust,
            actor=world.trustee,
            amount=usd("1.00"),
            reason="x",
            idempotency_key="b",
        )
    assert info.value.error_dict["amount"][0].code == "insufficient_funds"
    assert "Only 0.00 USD is unallocated" in str(info.value)
    assert not JournalEntry.objects.filter(kind=EntryKind.TRANSFER).exists()


def test_only_a_trustee_sets_the_fee_policy(world: World) -> None:
    with pytest.raises(ValidationError):
        policy_set_fee_bearer(trust=world.trust, actor=world.caseworker, bearer="administration")
    with pytest.raises(ValidationError):
        policy_set_fee_bearer(trust=world.trust, actor=world.trustee, bearer="partner")


# --- refusals: a clear error and nothing written -------------------------------------------


def test_only_a_trustee_records_a_payment(world: World) -> None:
    request = approved(world)
    refused(
        "not_trustee", lambda: pay(world, request, "300.00", "15000.00", actor=world.caseworker)
    )


def test_a_request_that_is_not_approved_cannot_be_paid(world: World) -> None:
    request = submitted(world, "300.00", "s")
    refused("bad_status", lambda: pay(world, request, "300.00", "15000.00"))
    cancelled = request_cancel(request=approved(world, key="c"), actor=world.trustee, reason="No")
    refused("bad_status", lambda: pay(world, cancelled, "300.00", "15000.00"))


@pytest.mark.parametrize(
    ("sent", "payout", "fee", "code"),
    [
        (usd("299.99"), php("15000.00"), None, "amount_differs"),  # the request is for 300.00
        (usd("0.00"), php("15000.00"), None, "not_positive"),
        (usd("300.001"), php("15000.00"), None, "bad_amount"),
        (Money("300.00", "EUR"), php("15000.00"), None, "currency"),
        (usd("300.00"), None, None, "required"),  # the partner is paid in PHP
        (usd("300.00"), Money("15000.00", "EUR"), None, "currency"),
        (usd("300.00"), php("-1.00"), None, "not_positive"),
        (usd("300.00"), php("15000.00"), usd("-1.00"), "not_positive"),
        (usd("300.00"), php("15000.00"), php("5.00"), "currency"),
        ("300.00", php("15000.00"), None, "required"),  # a bare number is not money
    ],
)
def test_payment_refuses_bad_amounts(
    world: World, sent: Any, payout: Any, fee: Any, code: str
) -> None:
    request = approved(world)
    transfer = Transfer(sent=sent, payout=payout, fee=fee, value_date=TODAY(), reference="R")
    refused(code, lambda: payment_record(request=request, actor=world.trustee, transfer=transfer))


def test_payment_refuses_bad_dates_and_references(world: World) -> None:
    request = approved(world)

    def with_(**kw: Any) -> Any:
        values = {"sent": usd("300.00"), "payout": php("15000.00"), "value_date": TODAY()}
        values.update(kw)
        transfer = Transfer(reference=values.pop("reference", "R-1"), **values)
        return lambda: payment_record(request=request, actor=world.trustee, transfer=transfer)

    refused("future_date", with_(value_date=TODAY() + timedelta(days=1)))
    refused("too_early", with_(value_date=TODAY() - timedelta(days=1)))  # approved today
    refused("required", with_(value_date=None))
    refused("required", with_(value_date=timezone.now()))  # a datetime is not a value date
    refused("required", with_(reference="   "))
    pay(world, approved(world, key="first"), "300.00", "15000.00", reference="R-1")
    refused("duplicate_reference", with_(reference=" R-1 "))


def test_payment_refuses_a_date_in_the_closed_period(world: World) -> None:
    from trust.services.trusts import trust_set_lock_date

    request = approved(world)
    trust_set_lock_date(trust=world.trust, lock_date=TODAY(), actor=world.trustee)
    refused("period_closed", lambda: pay(world, request, "300.00", "15000.00"))


def test_payment_refuses_a_partner_whose_vetting_lapsed_after_approval(world: World) -> None:
    request = approved(world)
    care_partner_vet(
        partner=world.partner,
        actor=world.trustee,
        status="suspended",
        vetted_on=TODAY() - timedelta(days=30),
        expires_on=TODAY() + timedelta(days=30),
    )
    refused("vetting_lapsed", lambda: pay(world, request, "300.00", "15000.00"))


def test_payment_refuses_a_payee_recorded_as_implicated_after_approval(world: World) -> None:
    from disbursements.services import Payee
    from trust.services.people import implicated_person_add

    request = submitted(
        world,
        "300.00",
        "fam",
        payee=Payee(kind="family", name="Invented Uncle", court_authorisation="ECF No. 12"),
    )
    request = request_approve(request=request, actor=world.trustee)
    implicated_person_add(
        trust=world.trust, actor=world.trustee, reference="Facilitator 2", name="invented uncle"
    )
    refused("payee_implicated", lambda: pay(world, request, "300.00", "15000.00"))


# --- retries ---------------------------------------------------------------------------------


def test_every_step_retried_changes_nothing(world: World) -> None:
    request = approved(world)
    first = pay(world, request, "300.00", "15000.00", fee="1.00")
    entries = JournalEntry.objects.count()
    assert pay(world, request, "300.00", "15000.00", fee="1.00") == first
    refused("already_paid", lambda: pay(world, request, "300.00", "15000.00", fee="2.00"))
    ack = payment_acknowledge(request=request, actor=world.caseworker, arrived=php("15000.00"))
    entries_after_ack = JournalEntry.objects.count()
    assert entries_after_ack == entries + 1
    again = payment_acknowledge(request=request, actor=world.caseworker, arrived=php("15000.00"))
    assert again.settlement_entry_id == ack.settlement_entry_id
    refused(
        "already_acknowledged",
        lambda: payment_acknowledge(
            request=request, actor=world.caseworker, arrived=php("14000.00"), note="x"
        ),
    )
    assert JournalEntry.objects.count() == entries_after_ack
    assert list(request.events.values_list("action", flat=True)).count("paid") == 1


# --- acknowledgement -------------------------------------------------------------------------


def test_only_the_partners_caseworkers_acknowledge(world: World) -> None:
    request = approved(world)
    pay(world, request, "300.00", "15000.00")
    outsider = user("other-caseworker")
    caseworker_add(partner=world.other_partner, user=outsider, actor=world.trustee)
    for actor in (outsider, world.trustee):
        refused(
            "not_yours",
            lambda actor=actor: payment_acknowledge(
                request=request, actor=actor, arrived=php("15000.00")
            ),
        )


@pytest.mark.parametrize(
    ("arrived", "extra", "code"),
    [
        (php("0.00"), {}, "nothing_arrived"),
        (php("15000.01"), {}, "more_than_sent"),
        (usd("300.00"), {}, "currency"),
        (php("14000.00"), {}, "note_required"),  # a shortfall needs the bank's explanation
        (php("15000.00"), {"received_on": "today"}, "future_date"),
        (php("15000.00"), {"received_on": "before"}, "too_early"),
        (php("1.001"), {}, "bad_amount"),
    ],
)
def test_acknowledgement_refuses(world: World, arrived: Money, extra: dict, code: str) -> None:
    request = approved(world)
    pay(world, request, "300.00", "15000.00", value_date=TODAY() - timedelta(days=0))
    if extra.get("received_on") == "today":
        extra = {"received_on": TODAY() + timedelta(days=1)}
    elif extra.get("received_on") == "before":
        extra = {"received_on": TODAY() - timedelta(days=1)}
    refused(
        code,
        lambda: payment_acknowledge(
            request=request, actor=world.caseworker, arrived=arrived, **extra
        ),
    )


def test_an_unpaid_request_cannot_be_acknowledged(world: World) -> None:
    request = approved(world)
    refused(
        "not_paid",
        lambda: payment_acknowledge(request=request, actor=world.caseworker, arrived=php("1.00")),
    )


def test_a_paid_request_cannot_be_cancelled(world: World) -> None:
    request = approved(world)
    pay(world, request, "300.00", "15000.00")
    refused(
        "bad_status", lambda: request_cancel(request=request, actor=world.trustee, reason="Oops")
    )


# --- returned transfers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("back", "fx"),
    [("285.00", 15_00), ("300.00", 0), ("310.00", -10_00)],  # a loss, nothing, a gain
)
def test_a_returned_transfer_across_currencies(world: World, back: str, fx: int) -> None:
    request = approved(world)
    pay(world, request, "300.00", "15000.00", fee="5.00")
    payment = payment_return(
        request=request, actor=world.trustee, returned=usd(back), reason="Account closed"
    )
    assert DisbursementRequest.objects.get(pk=request.pk).status == Status.RETURNED
    assert payment.return_entry.kind == EntryKind.RETURN
    assert legs(payment.settlement_entry) == [
        ("1000-BANK", -305_00),
        ("2700-IN-TRANSIT", 5_00),
        ("3900-TRADING-USD", 300_00),
    ]
    if fx:
        assert payment.fx_entry.kind == EntryKind.FX
        assert legs(payment.fx_entry) == sorted([("2100-MV-1", fx), ("3900-TRADING-USD", -fx)])
    else:
        assert payment.fx_entry is None
    back_minor = int(Decimal(back) * 100)
    # The beneficiary lost the fee and the exchange difference; the bank shows the same.
    assert balances(world) == {
        "1000-BANK": 1_000_00 - 305_00 + back_minor,
        "2100-MV-1": 1_000_00 - 305_00 + back_minor,
    }
    identity_holds(world)
    assert ledger_violations(trust_id=world.trust.pk).ok
    assert request.events.last().action == "returned"


def test_a_returned_transfer_in_the_same_currency(usd_partner: World) -> None:
    w = usd_partner
    request = approved(w)
    pay(w, request, "300.00")
    refused(
        "more_than_sent",
        lambda: payment_return(
            request=request, actor=w.trustee, returned=usd("300.01"), reason="x"
        ),
    )
    payment = payment_return(
        request=request, actor=w.trustee, returned=usd("295.00"), reason="Bad IBAN"
    )
    assert payment.fx_entry is None
    assert legs(payment.return_entry) == [("1000-BANK", 295_00), ("2100-MV-1", -295_00)]
    assert balances(w) == {"1000-BANK": 995_00, "2100-MV-1": 995_00}
    # Retried: nothing new; acknowledged afterwards: refused.
    entries = JournalEntry.objects.count()
    payment_return(request=request, actor=w.trustee, returned=usd("295.00"), reason="Bad IBAN")
    assert JournalEntry.objects.count() == entries
    refused(
        "bad_status",
        lambda: payment_acknowledge(request=request, actor=w.caseworker, arrived=usd("300.00")),
    )


def test_an_acknowledged_payment_cannot_come_back(world: World) -> None:
    request = approved(world)
    pay(world, request, "300.00", "15000.00")
    payment_acknowledge(request=request, actor=world.caseworker, arrived=php("15000.00"))
    refused(
        "bad_status",
        lambda: payment_return(
            request=request, actor=world.trustee, returned=usd("300.00"), reason="x"
        ),
    )
    refused(
        "not_trustee",
        lambda: payment_return(
            request=request, actor=world.caseworker, returned=usd("300.00"), reason="x"
        ),
    )
    refused(
        "reason_missing",
        lambda: payment_return(
            request=request, actor=world.trustee, returned=usd("1.00"), reason=""
        ),
    )


# --- what the caseworker sees and gets ---------------------------------------------------------


def test_the_requester_is_told_of_the_payment_and_adds_proof_of_use(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    world.caseworker.email = "caseworker@example.invalid"
    world.caseworker.save(update_fields=["email"])
    request = approved(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        pay(world, request, "300.00", "15000.00")
    assert [m.to for m in mail.outbox] == [["caseworker@example.invalid"]]
    assert "was paid" in mail.outbox[0].subject
    assert "MV-1" in mail.outbox[0].body and "TRF-" in mail.outbox[0].body
    png = clean_image("PNG")
    document = request_document_add(
        request=DisbursementRequest.objects.get(pk=request.pk),
        actor=world.caseworker,
        kind=RequestDocument.Kind.PROOF,
        content=png,
        title="School receipt",
    )
    assert document.kind == "proof"


# --- the books hold whatever happens (hypothesis) ----------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(
        st.tuples(
            st.booleans(),  # across currencies
            st.integers(1, 400_00),  # sent, cents
            st.integers(1, 30_000_00),  # payout, centavos
            st.integers(0, 20_00),  # fee
            st.sampled_from(["full", "short", "returned", "open"]),
            st.integers(1, 100),  # how much of the payout arrives, or comes back, in percent
        ),
        min_size=1,
        max_size=4,
    ),
    admin=st.booleans(),
)
def test_the_books_balance_per_currency_at_every_step(
    world: World, data: list, admin: bool
) -> None:
    """Random payments, shortfalls and returns: after every step each currency's identity holds,
    check_ledger finds nothing, and once nothing is open, transit and trading are back at zero."""
    from django.db import transaction

    with transaction.atomic():
        savepoint = transaction.savepoint()
        fund(world.trust, world.sub1, "5000.00")
        if admin:
            policy_set_fee_bearer(trust=world.trust, actor=world.trustee, bearer="administration")
            unallocated = Account.objects.get(trust=world.trust, code="2900-UNALLOCATED")
            fund(world.trust, unallocated, "100.00")
            administration_fund(
                trust=world.trust,
                actor=world.trustee,
                amount=usd("100.00"),
                reason="r",
                idempotency_key="a",
            )
        partner = world.partner
        for n, (cross, sent, payout, fee, fate, pct) in enumerate(data):
            partner.payout_currency = "PHP" if cross else "USD"
            partner.save(update_fields=["payout_currency"])
            amount = Money(Decimal(payout if cross else sent) / 100, "PHP" if cross else "USD")
            request = submitted(world, amount, f"h{n}")
            request = request_approve(
                request=request,
                actor=world.trustee,
                **({"reserve": Money(Decimal(sent + fee) / 100, "USD")} if cross else {}),
            )
            transfer = Transfer(
                sent=Money(Decimal(sent) / 100, "USD"),
                payout=amount if cross else None,
                fee=Money(Decimal(fee) / 100, "USD"),
                value_date=TODAY(),
                reference=f"H-{n}",
            )
            payment = payment_record(request=request, actor=world.trustee, transfer=transfer)
            identity_holds(world)
            ccy = payment.payout_currency
            if fate in ("full", "short"):
                arrived = payment.payout_minor
                if fate == "short":
                    arrived = max(1, payment.payout_minor * pct // 100)
                payment_acknowledge(
                    request=request,
                    actor=world.caseworker,
                    arrived=Money(Decimal(arrived) / 100, ccy),
                    note="short",
                )
            elif fate == "returned":
                back = max(1, sent * (pct + 50) // 100) if cross else max(1, sent * pct // 100)
                payment_return(
                    request=request,
                    actor=world.trustee,
                    returned=Money(Decimal(back) / 100, "USD"),
                    reason="back",
                )
            identity_holds(world)
        assert ledger_violations(trust_id=world.trust.pk).ok
        if all(fate != "open" for *_, fate, _ in data):
            for account in Account.objects.filter(
                trust=world.trust, role__in=[Account.Role.IN_TRANSIT, Account.Role.TRADING]
            ):
                assert account.balance_minor == 0, account.code
        bank = Account.objects.get(trust=world.trust, code="1000-BANK").balance_minor
        assert bank >= 0
        transaction.savepoint_rollback(savepoint)


# --- PostgreSQL: paying and cancelling racing each other --------------------------------------


def test_racing_payment_and_cancellation_one_wins(postgres_tx: None) -> None:
    """Eight approved requests, each paid by one trustee while another cancels it, all at once:
    for each exactly one wins. A paid request has its payment entry and no reservation; a
    cancelled one has no entry; the reservations left and the charges fit in the balance."""
    w = make_world("paycancel")
    payer, canceller = user("payer", "trustee", w.trust), user("canceller", "trustee", w.trust)
    requests = [approved(w, "100.00", f"r{n}") for n in range(8)]
    work: list[Any] = []
    for n, r in enumerate(requests):
        transfer = Transfer(
            sent=usd("100.00"), payout=php("5000.00"), value_date=TODAY(), reference=f"RACE-{n}"
        )
        work.append(lambda r=r, t=transfer: payment_record(request=r, actor=payer, transfer=t))
        work.append(lambda r=r: request_cancel(request=r, actor=canceller, reason="Duplicate"))
    results = run_together(work)
    for n, r in enumerate(requests):
        paid, cancelled = results[2 * n], results[2 * n + 1]
        status = DisbursementRequest.objects.get(pk=r.pk).status
        if status == Status.PAID:
            assert isinstance(paid, Payment) and isinstance(cancelled, ValidationError)
            assert cancelled.code == "bad_status"
        else:
            assert status == Status.CANCELLED
            assert isinstance(cancelled, DisbursementRequest) and isinstance(paid, ValidationError)
            assert paid.code == "bad_status"
            assert not JournalEntry.objects.filter(idempotency_key=f"payment:{r.uid}").exists()
    paid_count = Payment.objects.filter(trust=w.trust).count()
    assert JournalEntry.objects.filter(trust=w.trust, kind=EntryKind.PAYMENT).count() == paid_count
    w.sub1.refresh_from_db()
    assert w.sub1.balance_minor == 1_000_00 - paid_count * 100_00
    assert available(w.sub1) == usd("1000.00") - paid_count * usd("100.00")
    assert ledger_violations(trust_id=w.trust.pk).ok


def test_two_trustees_paying_one_request_pay_it_once(postgres_tx: None) -> None:
    """A double click, or two trustees with the same bank advice: one payment, one entry; a
    different advice for the same request is refused."""
    w = make_world("twice")
    other = user("second-payer", "trustee", w.trust)
    request = approved(w, "100.00")
    same = Transfer(sent=usd("100.00"), payout=php("5000.00"), value_date=TODAY(), reference="ONE")
    results = run_together(
        [
            lambda: payment_record(request=request, actor=w.trustee, transfer=same),
            lambda: payment_record(request=request, actor=other, transfer=same),
            lambda: payment_record(request=request, actor=w.trustee, transfer=same),
        ]
    )
    assert all(isinstance(r, Payment) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert JournalEntry.objects.filter(trust=w.trust, kind=EntryKind.PAYMENT).count() == 1
    assert w.sub1.__class__.objects.get(pk=w.sub1.pk).balance_minor == 900_00


def test_racing_acknowledgement_and_return_one_wins(postgres_tx: None) -> None:
    w = make_world("ackret")
    request = approved(w, "100.00")
    pay(w, request, "100.00", "5000.00")
    results = run_together(
        [
            lambda: payment_acknowledge(
                request=request, actor=w.caseworker, arrived=php("5000.00")
            ),
            lambda: payment_return(
                request=request, actor=w.trustee, returned=usd("98.00"), reason="Bounced"
            ),
        ]
    )
    assert sum(isinstance(r, Payment) for r in results) == 1, results
    assert [r.code for r in results if isinstance(r, ValidationError)] == ["bad_status"]
    assert JournalEntry.objects.filter(trust=w.trust, kind=EntryKind.SETTLEMENT).count() == 1
    identity = trust_identity(trust=w.trust)
    assert all(line.holds for line in identity.values())
    assert ledger_violations(trust_id=w.trust.pk).ok


# --- check_ledger covers payments and reservations ----------------------------------------------


def rules(w: World) -> set[str]:
    return {v.rule for v in ledger_violations(trust_id=w.trust.pk).violations}


def test_check_ledger_names_tampered_payments_and_reservations(world: World) -> None:
    request = approved(world)
    payment = pay(world, request, "300.00", "15000.00", fee="3.00")
    assert rules(world) == set()

    Payment.objects.filter(pk=payment.pk).update(payout_minor=14_000_00)
    assert rules(world) == {"payments-in-transit"}
    Payment.objects.filter(pk=payment.pk).update(payout_minor=15_000_00, sent_minor=299_00)
    assert rules(world) == {"payment-entry"}
    Payment.objects.filter(pk=payment.pk).update(sent_minor=300_00, fee_minor=4_00)
    assert "payment-entry" in rules(world)
    Payment.objects.filter(pk=payment.pk).update(fee_minor=3_00)
    DisbursementRequest.objects.filter(pk=request.pk).update(status=Status.APPROVED)
    assert "payment-status" in rules(world)
    DisbursementRequest.objects.filter(pk=request.pk).update(status=Status.PAID)
    assert rules(world) == set()

    other = approved(world, "500.00", "other")
    DisbursementRequest.objects.filter(pk=other.pk).update(reserve_minor=800_00)
    assert rules(world) == {"reservation"}  # 800.00 reserved, 697.00 left on MV-1


def test_a_request_in_a_currency_the_partner_no_longer_takes_is_refused(world: World) -> None:
    request = approved(world, php("5000.00"), reserve="100.00")
    world.partner.payout_currency = "USD"
    world.partner.save(update_fields=["payout_currency"])
    error = refused("payout_currency_changed", lambda: pay(world, request, "100.00"))
    assert "cancel it and request again" in str(error)
