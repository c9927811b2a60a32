"""Interest and fees shared among the beneficiaries (``trust.bank.services.charges``) and their
pages: hand-computed shares by average daily balance, the largest remainder, fees capped by what
is reserved, refusals that write nothing, retries, who may do what, and the ledger's invariants
after each. The worked example of docs/interest-and-fees.md is
``test_interest_is_shared_by_average_daily_balance_with_movements_mid_period``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import include, path, reverse
from moneyed import Money

from tests.factories import TrustFactory, account, appoint, beneficiary, fund, person
from trust import reservations
from trust.bank.models import (
    BankAccount,
    BankStatement,
    SharedCharge,
    SharedChargeShare,
    StatementImport,
    StatementLine,
)
from trust.bank.selectors.charges import charge_schedule, sub_ledger_balance_days
from trust.bank.services.charges import fee_charge, interest_allocate
from trust.bank.sharing import balance_days
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    AccountDay,
    AuditEvent,
    EntryKind,
    JournalEntry,
    Posting,
    Trust,
)
from trust.roles import AUDITOR
from trust.selectors import trust_identity
from trust.services.ledger import Leg, entry_post
from trust.services.people import beneficiary_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

# The pages at /trusts/<id>/bank/ as config will include them, and every other page.
urlpatterns = [
    path("trusts/<int:trust_id>/bank/", include("trust.bank.urls_charges")),
    path("", include("config.urls")),
]

_keys = count(1)


def usd(value: str) -> Money:
    return Money(value, "USD")


@dataclass
class Case:
    trust: Trust
    bank: Account
    subs: list[Account]
    trustee: Any


def make_case(children: int = 3, tag: str = "") -> Case:
    trust = TrustFactory()
    subs = [beneficiary(trust, f"MV-{n}")[1] for n in range(1, children + 1)]
    trustee = appoint(person(f"trustee-charges{tag}"), trust)
    return Case(trust, account(trust, Account.Role.BANK), subs, trustee)


@pytest.fixture
def case() -> Case:
    return make_case()


def pay_out(trust: Trust, sub: Account, amount: str, on: date) -> None:
    """Money leaving a sub-ledger through the bank (a disbursement, for these tests)."""
    money = usd(amount)
    entry_post(
        trust=trust,
        actor=None,
        effective_date=on,
        legs=[Leg(sub, money), Leg(account(trust, Account.Role.BANK), -money)],
        idempotency_key=f"pay-out-{next(_keys)}",
        kind=EntryKind.DISBURSEMENT,
    )


def shares(charge: SharedCharge) -> dict[str, int]:
    return {
        pseudonym: share
        for pseudonym, share in SharedChargeShare.objects.filter(charge=charge).values_list(
            "beneficiary__pseudonym", "share_minor"
        )
    }


def balances(case: Case) -> dict[str, int]:
    return {
        sub.beneficiary.pseudonym: Account.objects.get(pk=sub.pk).balance_minor for sub in case.subs
    }


def books_sound(trust: Trust) -> None:
    assert ledger_violations(trust_id=trust.pk).ok, ledger_violations(trust_id=trust.pk).violations
    assert all(line.holds for line in trust_identity(trust=trust).values())


def written() -> tuple[int, ...]:
    return (
        JournalEntry.objects.count(),
        SharedCharge.objects.count(),
        SharedChargeShare.objects.count(),
        AuditEvent.objects.count(),
        Account.objects.count(),
    )


def refused(code: str, call: Any) -> ValidationError:
    """``call()`` is refused with ``code`` and writes nothing at all."""
    before = written()
    with pytest.raises(ValidationError) as info:
        call()
    error = info.value
    codes = (
        [e.code for errors in error.error_dict.values() for e in errors]
        if hasattr(error, "error_dict")
        else [e.code for e in error.error_list]
    )
    assert code in codes, (codes, error.messages)
    assert written() == before
    return error


def interest(case: Case, amount: str = "10.00", **extra: Any) -> SharedCharge:
    values = {
        "actor": case.trustee,
        "trust": case.trust,
        "bank_account": case.bank,
        "amount": usd(amount),
        "period_start": date(2026, 1, 1),
        "period_end": date(2026, 1, 31),
        "effective_date": date(2026, 2, 1),
        "idempotency_key": "interest-jan",
        **extra,
    }
    return interest_allocate(**values)


def fee(case: Case, amount: str = "100.00", **extra: Any) -> SharedCharge:
    values = {
        "actor": case.trustee,
        "trust": case.trust,
        "kind": SharedCharge.Kind.TRUSTEE_FEE,
        "amount": usd(amount),
        "effective_date": date(2026, 2, 10),
        "order_reference": "Order of 2026-02-03, ECF 41",
        "pay_from": case.bank,
        "idempotency_key": "fee-1",
        **extra,
    }
    return fee_charge(**values)


# --- interest ------------------------------------------------------------------------------------


def test_interest_is_shared_by_average_daily_balance_with_movements_mid_period(case: Case) -> None:
    mv1, mv2, mv3 = case.subs
    fund(case.trust, mv1, "1000.00", on=date(2025, 12, 15))  # all 31 days: 3,100,000
    fund(case.trust, mv2, "1000.00", on=date(2026, 1, 16))  # 16 days: 1,600,000
    fund(case.trust, mv3, "2000.00", on=date(2025, 12, 1))
    pay_out(case.trust, mv3, "1500.00", on=date(2026, 1, 11))  # 10 x 200,000 + 21 x 50,000
    fund(case.trust, mv2, "5000.00", on=date(2026, 2, 5))  # after the period: not counted
    bank_before = Account.objects.get(pk=case.bank.pk).balance_minor

    charge = interest(case, "10.00")

    # 1000 cents x (3.1, 1.6, 3.05) / 7.75 = 400, 206.45, 393.55: floors 999, the cent to MV-3.
    assert shares(charge) == {"MV-1": 400, "MV-2": 206, "MV-3": 394}
    basis = dict(
        SharedChargeShare.objects.filter(charge=charge).values_list("account_id", "basis_minor")
    )
    assert basis == {mv1.pk: 3_100_000, mv2.pk: 1_600_000, mv3.pk: 3_050_000}
    rows = {row.pseudonym: row for row in charge_schedule(charge=charge).rows}
    assert rows["MV-2"].days == 31
    assert rows["MV-2"].average_minor == Decimal(1_600_000) / 31
    assert rows["MV-2"].average == usd("516.13") and rows["MV-3"].average == usd("983.87")
    entry = JournalEntry.objects.get(pk=charge.entry_id)
    assert entry.kind == EntryKind.INTEREST
    assert Posting.objects.filter(entry=entry).count() == 4  # the bank and three sub-ledgers
    assert Account.objects.get(pk=case.bank.pk).balance_minor == bank_before + 1000
    assert (charge.kind, charge.rule, charge.amount_minor) == ("interest", "average_daily", 1000)
    books_sound(case.trust)


def test_balance_days_in_sql_match_their_definition_and_floor_days_below_zero(case: Case) -> None:
    mv1, mv2, _ = case.subs
    fund(case.trust, mv1, "500.00", on=date(2026, 1, 20))
    # Recorded later but dated earlier: days 10-19 end below zero and count as zero.
    pay_out(case.trust, mv1, "200.00", on=date(2026, 1, 10))
    fund(case.trust, mv2, "70.00", on=date(2025, 11, 30))
    fund(case.trust, mv2, "30.00", on=date(2026, 1, 1))
    pay_out(case.trust, mv2, "100.00", on=date(2026, 1, 31))
    found = sub_ledger_balance_days(
        trust=case.trust,
        currency="USD",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
    )
    assert found[mv1.pk] == balance_days(0, [(9, -20000), (19, 50000)], 31) == 30000 * 12
    assert found[mv2.pk] == balance_days(7000, [(0, 3000), (30, -10000)], 31) == 10000 * 30
    assert case.subs[2].pk not in found  # held nothing


def test_balance_days_in_sql_match_their_definition_for_random_back_dated_movements() -> None:
    """Entries posted in a random order with random dates around the period: the SQL (both its
    one-pass sum and its walk in day order) agrees with ``balance_days`` on every sub-ledger."""
    rng = random.Random(23)
    case = make_case(8, tag="-random")
    start, end = date(2026, 1, 1), date(2026, 1, 31)
    for sub in case.subs:
        held = 0
        for _ in range(rng.randint(0, 12)):
            on = start + timedelta(days=rng.randint(-10, 35))
            if held and rng.random() < 0.4:
                amount = rng.randint(1, held)
                pay_out(case.trust, sub, str(Decimal(amount) / 100), on=on)
                held -= amount
            else:
                amount = rng.randint(1, 50000)
                fund(case.trust, sub, str(Decimal(amount) / 100), on=on)
                held += amount
    found = sub_ledger_balance_days(
        trust=case.trust, currency="USD", period_start=start, period_end=end
    )
    clamped = 0
    for sub in case.subs:
        rows = AccountDay.objects.filter(account=sub).values_list("day", "net_minor")
        opening = sum(net for day, net in rows if day < start)
        moves = [((day - start).days, net) for day, net in rows if start <= day <= end]
        assert found.get(sub.pk, 0) == balance_days(opening, moves, 31), sub.code
        unclamped = opening * 31 + sum(net * (31 - index) for index, net in moves)
        clamped += found.get(sub.pk, 0) != max(unclamped, 0)
    assert clamped  # some day ended below zero: the walk in day order was exercised


def test_interest_extra_cent_goes_to_the_older_sub_ledger_on_a_tie(case: Case) -> None:
    for sub in case.subs:
        fund(case.trust, sub, "300.00", on=date(2025, 12, 1))
    charge = interest(case, "1.00")
    assert shares(charge) == {"MV-1": 34, "MV-2": 33, "MV-3": 33}
    books_sound(case.trust)


def test_interest_with_no_child_holding_money_goes_to_unallocated(case: Case) -> None:
    charge = interest(case, "2.50")
    unallocated = Account.objects.get(trust=case.trust, role=Account.Role.UNALLOCATED)
    assert unallocated.balance_minor == 250
    assert shares(charge) == {}
    assert charge_schedule(charge=charge).unallocated_minor == 250
    books_sound(case.trust)


def test_interest_refuses_a_bad_period_or_bank_account_and_writes_nothing(case: Case) -> None:
    fund(case.trust, case.subs[0], "100.00", on=date(2025, 12, 1))
    refused("period_reversed", lambda: interest(case, period_end=date(2025, 12, 31)))
    refused("period_after_credit", lambda: interest(case, effective_date=date(2026, 1, 30)))
    refused("period_too_long", lambda: interest(case, period_start=date(2024, 12, 1)))
    refused("not_bank", lambda: interest(case, bank_account=case.subs[0]))
    other = make_case(1, tag="-other")
    refused("foreign_account", lambda: interest(case, bank_account=other.bank))
    refused("not_positive", lambda: interest(case, "0.00"))
    refused("bad_amount", lambda: interest(case, "0.001"))
    refused("date_future", lambda: interest(case, effective_date=date(2999, 1, 1)))


def test_interest_from_a_statement_line_must_be_that_line_and_only_once(case: Case) -> None:
    fund(case.trust, case.subs[0], "100.00", on=date(2025, 12, 1))
    line = statement_line(case, 1000)
    charge = interest(case, "10.00", line=line)
    assert charge.line_id == line.pk
    line.refresh_from_db()  # the line is this money: matched with the interest's entry
    assert line.state == StatementLine.State.MATCHED
    assert list(line.match.entries.values_list("entry_id", flat=True)) == [charge.entry_id]
    assert interest(case, "10.00", line=line) == charge  # a retry
    refused("line_used", lambda: interest(case, "10.00", line=line, idempotency_key="again"))
    refused("line_amount", lambda: interest(case, "9.00", line=statement_line(case, 1000, "2")))


def statement_line(case: Case, amount_minor: int, tag: str = "1") -> StatementLine:
    """A line of an imported statement (built directly: importing is another feature's)."""
    bank, _ = BankAccount.objects.get_or_create(
        account=case.bank, trust=case.trust, defaults={"number": "DE00TEST"}
    )
    source = StatementImport.objects.create(
        trust=case.trust, bank_account=bank, format="camt.053", sha256=tag * 64, size=1
    )
    statement = BankStatement.objects.create(
        trust=case.trust,
        bank_account=bank,
        source=source,
        statement_id=f"S-{tag}",
        currency="USD",
        continuity=BankStatement.Continuity.FIRST,
    )
    return StatementLine.objects.create(
        trust=case.trust,
        bank_account=bank,
        statement=statement,
        position=1,
        fingerprint=f"line-{tag}",
        booking_date=date(2026, 2, 1),
        amount_minor=amount_minor,
        currency="USD",
        kind="interest",
    )


# --- fees ----------------------------------------------------------------------------------------


def funded(case: Case, *amounts: str) -> None:
    for sub, amount in zip(case.subs, amounts, strict=False):
        fund(case.trust, sub, amount, on=date(2026, 1, 5))


def test_a_fee_is_shared_pro_rata_to_balance_and_paid_from_the_bank(case: Case) -> None:
    funded(case, "600.00", "300.00", "100.00")
    charge = fee(case, "100.00")
    assert shares(charge) == {"MV-1": 6000, "MV-2": 3000, "MV-3": 1000}
    assert balances(case) == {"MV-1": 54000, "MV-2": 27000, "MV-3": 9000}
    assert Account.objects.get(pk=case.bank.pk).balance_minor == 90000
    assert JournalEntry.objects.get(pk=charge.entry_id).kind == EntryKind.FEE
    assert (charge.rule, charge.order_reference) == ("pro_rata", "Order of 2026-02-03, ECF 41")
    books_sound(case.trust)


def test_a_fee_shared_by_largest_remainder_sums_exactly(case: Case) -> None:
    funded(case, "100.00", "100.00", "100.00")
    charge = fee(case, "0.10")
    assert shares(charge) == {"MV-1": 4, "MV-2": 3, "MV-3": 3}
    books_sound(case.trust)


def test_the_trust_rule_equal_shares_among_children_with_money(case: Case) -> None:
    Trust.objects.filter(pk=case.trust.pk).update(charge_sharing="equal")
    case.trust.refresh_from_db()
    four = beneficiary(case.trust, "MV-4")[1]
    funded(case, "600.00", "300.00", "100.00")  # MV-4 holds nothing: not charged
    charge = fee(case, "100.00")
    assert charge.rule == "equal"
    assert shares(charge) == {"MV-1": 3334, "MV-2": 3333, "MV-3": 3333}
    assert Account.objects.get(pk=four.pk).balance_minor == 0
    books_sound(case.trust)


def test_a_fee_paid_later_is_booked_as_payable(case: Case) -> None:
    funded(case, "600.00", "300.00", "100.00")
    fee(case, "100.00", pay_from=None, kind=SharedCharge.Kind.EXPENSE)
    payable = Account.objects.get(trust=case.trust, role=Account.Role.PAYABLE)
    assert payable.balance_minor == 10000
    assert Account.objects.get(pk=case.bank.pk).balance_minor == 100000
    books_sound(case.trust)


def test_the_admin_rule_charges_the_administration_fund_only(case: Case) -> None:
    funded(case, "600.00")
    admin = Account.objects.create(
        trust=case.trust,
        code="2600-ADMIN",
        name="Trust administration fund (USD)",
        type=Account.Type.LIABILITY,
        role=Account.Role.ADMINISTRATION,
        currency="USD",
        no_negative=True,
    )
    entry_post(
        trust=case.trust,
        actor=None,
        effective_date=date(2026, 1, 6),
        legs=[Leg(case.bank, usd("50.00")), Leg(admin, usd("-50.00"))],
        idempotency_key="admin-funded",
        kind=EntryKind.TRANSFER,
    )
    refused("insufficient_funds", lambda: fee(case, "50.01", rule="admin"))
    charge = fee(case, "40.00", rule="admin", kind=SharedCharge.Kind.BANK_FEE, order_reference="")
    assert shares(charge) == {}
    assert Account.objects.get(pk=admin.pk).balance_minor == 1000
    assert balances(case)["MV-1"] == 60000
    books_sound(case.trust)


def test_a_fee_never_takes_what_is_reserved_and_shares_the_rest_among_the_others(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    funded(case, "600.00", "300.00", "100.00")
    mv1 = case.subs[0]
    # 570.00 of MV-1's 600.00 is reserved: its pro rata 60.00 is capped at 30.00, and the other
    # 30.00 is shared 3:1 between MV-2 and MV-3.
    monkeypatch.setattr(reservations, "RESERVED_PROVIDERS", [lambda trust: {mv1.pk: 57000}])
    charge = fee(case, "100.00")
    assert shares(charge) == {"MV-1": 3000, "MV-2": 5250, "MV-3": 1750}
    books_sound(case.trust)


def test_a_fee_larger_than_the_free_balance_is_refused_naming_the_shortfall(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    funded(case, "600.00", "300.00", "100.00")
    mv1 = case.subs[0]
    monkeypatch.setattr(reservations, "RESERVED_PROVIDERS", [lambda trust: {mv1.pk: 57000}])
    error = refused("insufficient_funds", lambda: fee(case, "430.01"))
    assert "430.00 USD" in " ".join(error.messages)  # the free balance
    assert "0.01 USD short" in " ".join(error.messages)
    assert fee(case, "430.00").amount_minor == 43000  # exactly the free balance
    assert balances(case) == {"MV-1": 57000, "MV-2": 0, "MV-3": 0}
    books_sound(case.trust)


def test_disbursements_reservations_are_respected(db: None) -> None:
    from disbursements.services import request_approve
    from tests.disbursements.test_requests import make_world, submitted

    w = make_world("-fees")
    sub2 = w.mv2.accounts.get()
    fund(w.trust, sub2, "500.00")  # MV-1 holds 1,000.00 (make_world)
    request_approve(request=submitted(w, "950.00", "reserve-950"), actor=w.trustee)
    case = Case(w.trust, account(w.trust, Account.Role.BANK), [w.sub1, sub2], w.trustee)
    charge = fee(case, "300.00")
    # Pro rata 200.00 and 100.00; MV-1 may bear only 50.00, so MV-2 bears the other 250.00.
    assert shares(charge) == {"MV-1": 5000, "MV-2": 25000}
    refused("insufficient_funds", lambda: fee(case, "250.01", idempotency_key="fee-2"))
    books_sound(w.trust)


def test_a_trustees_fee_needs_the_court_orders_reference(case: Case) -> None:
    funded(case, "600.00")
    refused("order_missing", lambda: fee(case, order_reference=" "))
    refused("order_missing", lambda: fee(case, kind=SharedCharge.Kind.EXPENSE, order_reference=""))
    refused("bad_kind", lambda: fee(case, kind=SharedCharge.Kind.INTEREST))
    refused("bad_rule", lambda: fee(case, rule="average_daily"))
    refused("line_needs_bank", lambda: fee(case, pay_from=None, line=statement_line(case, -10000)))
    assert fee(case, kind=SharedCharge.Kind.BANK_FEE, order_reference="").kind == "bank_fee"


# --- who, retries --------------------------------------------------------------------------------


def caseworker_of(case: Case, tag: str) -> Any:
    """A caseworker whose care partner looks after a child of ``case``'s trust."""
    from tests.disbursements.test_requests import make_world

    world = make_world(tag)
    beneficiary_create(trust=case.trust, pseudonym=f"MV-CW{tag}", care_partner=world.partner)
    return world.caseworker


def test_only_a_trustee_records_interest_or_charges_fees(case: Case) -> None:
    funded(case, "600.00")
    auditor = person("auditor-charges", AUDITOR, case.trust)
    caseworker = caseworker_of(case, "-cw")
    stranger = make_case(1, tag="-stranger").trustee
    for actor in (auditor, caseworker, stranger):
        refused("not_trustee", lambda actor=actor: interest(case, actor=actor))
        refused("not_trustee", lambda actor=actor: fee(case, actor=actor))


def test_a_retry_returns_the_first_charge_and_another_payload_is_refused(case: Case) -> None:
    funded(case, "600.00", "300.00", "100.00")
    first = fee(case, "100.00")
    fund(case.trust, case.subs[2], "900.00")  # balances change: a retry still answers the first
    before = written()
    assert fee(case, "100.00") == first
    assert written() == before
    refused("key_reused", lambda: fee(case, "100.01"))
    refused("key_reused", lambda: fee(case, "100.00", pay_from=None))
    refused("key_reused", lambda: fee(case, "100.00", rule="equal"))
    charge = interest(case, "5.00")
    assert interest(case, "5.00") == charge
    refused("key_reused", lambda: interest(case, "5.00", period_start=date(2026, 1, 2)))
    books_sound(case.trust)


def test_a_closed_period_is_refused_on_the_date(case: Case) -> None:
    fund(case.trust, case.subs[0], "600.00", on=date(2026, 2, 20))  # after the lock date
    Trust.objects.filter(pk=case.trust.pk).update(lock_date=date(2026, 2, 15))
    case.trust.refresh_from_db()
    refused("period_closed", lambda: fee(case))


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def pages(case: Case, settings: Any, tmp_path: Any) -> tuple[Case, Client, Client]:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    funded(case, "600.00", "300.00", "100.00")
    trustee = Client()
    trustee.force_login(case.trustee)
    auditor = Client()
    auditor.force_login(person("auditor-charge-pages", AUDITOR, case.trust))
    return case, trustee, auditor


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def interest_form(case: Case, **overrides: str) -> dict[str, str]:
    return {
        "bank_account": str(case.bank.pk),
        "amount_0": "10.00",
        "amount_1": "USD",
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "effective_date": "2026-02-01",
        "description": "January interest",
        "idempotency_key": "page-interest-1",
        **overrides,
    }


def test_a_trustee_previews_interest_then_records_it(pages: tuple[Case, Client, Client]) -> None:
    case, trustee, _ = pages
    url = reverse("bank_interest_new", args=[case.trust.pk])
    assert trustee.get(url).status_code == 200
    preview = trustee.post(url, {**interest_form(case), "action": "preview"})
    assert preview.status_code == 200
    page = text(preview)
    assert "Nothing is recorded yet" in page and "MV-1" in page and "Record it" in page
    assert not SharedCharge.objects.exists()
    digest = preview.context["form"].data["previewed"]
    done = trustee.post(url, {**interest_form(case), "action": "confirm", "previewed": digest})
    charge = SharedCharge.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("bank_charge_detail", args=[case.trust.pk, charge.pk])
    detail = text(trustee.get(done["Location"]))
    assert "Interest of 10.00 USD recorded" in detail and "MV-3" in detail
    assert "Average daily balance" in detail
    books_sound(case.trust)


def test_confirming_other_details_than_previewed_shows_the_preview_again(
    pages: tuple[Case, Client, Client],
) -> None:
    case, trustee, _ = pages
    url = reverse("bank_interest_new", args=[case.trust.pk])
    preview = trustee.post(url, {**interest_form(case), "action": "preview"})
    digest = preview.context["form"].data["previewed"]
    changed = trustee.post(
        url, {**interest_form(case, amount_0="11.00"), "action": "confirm", "previewed": digest}
    )
    assert changed.status_code == 200 and "changed since the preview" in text(changed)
    assert not SharedCharge.objects.exists()


def test_bad_interest_input_is_shown_on_the_form_and_writes_nothing(
    pages: tuple[Case, Client, Client],
) -> None:
    case, trustee, _ = pages
    url = reverse("bank_interest_new", args=[case.trust.pk])
    before = written()
    response = trustee.post(
        url, {**interest_form(case, period_end="2025-12-01"), "action": "preview"}
    )
    assert response.status_code == 400 and "ends before it starts" in text(response)
    response = trustee.post(url, {**interest_form(case, amount_0="1.001"), "action": "preview"})
    assert response.status_code == 400
    assert written() == before


def fee_form(**overrides: str) -> dict[str, str]:
    return {
        "kind": "trustee_fee",
        "amount_0": "100.00",
        "amount_1": "USD",
        "effective_date": "2026-02-10",
        "order_reference": "ECF 41",
        "description": "",
        "pay_from": "",
        "rule": "",
        "idempotency_key": "page-fee-1",
        **overrides,
    }


def test_a_trustee_previews_a_fee_then_charges_it(pages: tuple[Case, Client, Client]) -> None:
    case, trustee, _ = pages
    url = reverse("bank_fee_new", args=[case.trust.pk])
    assert trustee.get(url).status_code == 200
    preview = trustee.post(url, {**fee_form(pay_from=str(case.bank.pk)), "action": "preview"})
    assert preview.status_code == 200 and "Reserved" in text(preview)
    digest = preview.context["form"].data["previewed"]
    done = trustee.post(
        url, {**fee_form(pay_from=str(case.bank.pk)), "action": "confirm", "previewed": digest}
    )
    assert done.status_code == 302
    charge = SharedCharge.objects.get()
    assert shares(charge) == {"MV-1": 6000, "MV-2": 3000, "MV-3": 1000}
    listing = text(trustee.get(reverse("bank_charges", args=[case.trust.pk])))
    assert "Trustee&#x27;s fee" in listing or "Trustee's fee" in listing
    books_sound(case.trust)


def test_a_fee_form_refuses_what_the_children_cannot_bear(
    pages: tuple[Case, Client, Client],
) -> None:
    case, trustee, _ = pages
    url = reverse("bank_fee_new", args=[case.trust.pk])
    before = written()
    response = trustee.post(url, {**fee_form(amount_0="1000.01"), "action": "preview"})
    assert response.status_code == 400 and "0.01 USD short" in text(response)
    response = trustee.post(url, {**fee_form(order_reference=""), "action": "preview"})
    assert response.status_code == 400 and "court order" in text(response)
    assert written() == before


def test_an_auditor_reads_charges_and_may_not_write(pages: tuple[Case, Client, Client]) -> None:
    case, _, auditor = pages
    charge = fee(case, "100.00")
    assert auditor.get(reverse("bank_charges", args=[case.trust.pk])).status_code == 200
    detail = auditor.get(reverse("bank_charge_detail", args=[case.trust.pk, charge.pk]))
    assert detail.status_code == 200 and "MV-2" in text(detail)
    for name in ("bank_interest_new", "bank_fee_new"):
        url = reverse(name, args=[case.trust.pk])
        assert auditor.get(url).status_code == 403
        assert auditor.post(url, {**fee_form(), "action": "confirm"}).status_code == 403
    assert SharedCharge.objects.count() == 1


def test_a_caseworker_and_another_trusts_trustee_find_nothing(
    pages: tuple[Case, Client, Client],
) -> None:
    case, _, _ = pages
    charge = fee(case, "100.00")
    caseworker = Client()
    caseworker.force_login(caseworker_of(case, "-pages"))
    stranger = Client()
    stranger.force_login(make_case(1, tag="-pages").trustee)
    for client in (caseworker, stranger):
        for url in (
            reverse("bank_charges", args=[case.trust.pk]),
            reverse("bank_charge_detail", args=[case.trust.pk, charge.pk]),
            reverse("bank_interest_new", args=[case.trust.pk]),
            reverse("bank_fee_new", args=[case.trust.pk]),
        ):
            assert client.get(url).status_code == 404, url


def test_another_trusts_charge_is_not_found_under_this_trust(
    pages: tuple[Case, Client, Client],
) -> None:
    case, trustee, _ = pages
    other = make_case(1, tag="-elsewhere")
    fund(other.trust, other.subs[0], "100.00")
    theirs = fee(other, "10.00")
    url = reverse("bank_charge_detail", args=[case.trust.pk, theirs.pk])
    assert trustee.get(url).status_code == 404


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def test_a_fee_and_an_approval_racing_never_overdraw_a_reservation(postgres_tx: None) -> None:
    from disbursements.services import request_approve
    from tests.disbursements.test_requests import make_world, submitted
    from tests.trust.test_receipts_concurrency import run_together

    w = make_world("-race")
    sub2 = w.mv2.accounts.get()
    fund(w.trust, sub2, "100.00")  # MV-1 1,000.00, MV-2 100.00
    request = submitted(w, "950.00", "race-950")
    case = Case(w.trust, account(w.trust, Account.Role.BANK), [w.sub1, sub2], w.trustee)
    results = run_together(
        [
            lambda: request_approve(request=request, actor=w.trustee),
            lambda: fee(case, "150.00", idempotency_key="race-fee"),
        ]
    )
    # Either order is fine; what may not happen is both taking the same free money.
    approved, charged = results
    assert not (isinstance(approved, Exception) and isinstance(charged, Exception)), results
    books_sound(w.trust)
