"""Property: whatever happened in the books, every court account reconciles (start + charges =
credits + end, and the bank side equals the funds held plus what is in transit), and every
beneficiary statement runs from the ledger's opening to the ledger's closing balance."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moneyed import Money

from disbursements.services import request_approve
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from reports.periods import Period
from reports.selectors import beneficiary_statement_figures, court_account_figures
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import fund
from trust.models import Account
from trust.selectors import account_balance_as_of
from trust.services.ledger import entry_reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return make_world()


def usd(cents: int) -> Money:
    return Money(Decimal(cents) / 100, "USD")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    receipts=st.lists(
        st.tuples(st.integers(0, 90), st.integers(1, 300_000), st.booleans()),
        min_size=1,
        max_size=5,
    ),
    payments=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(1, 20_000),
            st.integers(0, 1_500),
            st.sampled_from(["full", "short", "returned", "open"]),
        ),
        max_size=3,
    ),
    window=st.tuples(st.integers(0, 120), st.integers(0, 120)),
)
def test_every_account_reconciles(world: World, receipts, payments, window) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    with transaction.atomic():
        savepoint = transaction.savepoint()
        entries = []
        for days_ago, cents, reverse in receipts:
            posted = fund(
                world.trust, world.sub1, str(usd(cents).amount), on=today - timedelta(days=days_ago)
            )
            entries.append((posted, reverse))
        for posted, reverse in entries:
            if reverse:  # before any payment: the sub-ledger holds at least this receipt
                entry_reverse(entry=posted.entry, actor=None, reason="bounced")
        for n, (cross, sent, fee, fate) in enumerate(payments):
            world.partner.payout_currency = "PHP" if cross else "USD"
            world.partner.save(update_fields=["payout_currency"])
            amount = Money(Decimal(sent * 50) / 100, "PHP") if cross else usd(sent)
            sub = Account.objects.get(pk=world.sub1.pk)
            if sub.balance_minor < sent + fee + 10:
                continue
            request = request_approve(
                request=submitted(world, amount, f"p{n}"),
                actor=world.trustee,
                **({"reserve": usd(sent + fee)} if cross else {}),
            )
            payment_record(
                request=request,
                actor=world.trustee,
                transfer=Transfer(sent=usd(sent), payout=amount if cross else None,
                                  fee=usd(fee), value_date=today, reference=f"T-{n}"),
            )  # fmt: skip
            if fate in ("full", "short"):
                cents = int(amount.amount * 100)
                arrived = cents if fate == "full" else max(1, cents // 2)
                payment_acknowledge(request=request, actor=world.caseworker,
                                    arrived=Money(Decimal(arrived) / 100, amount.currency),
                                    note="short")  # fmt: skip
            elif fate == "returned":
                payment_return(request=request, actor=world.trustee,
                               returned=usd(max(1, sent - 7)), reason="back")  # fmt: skip
        first, last = sorted(window)
        period = Period(today - timedelta(days=last), today - timedelta(days=first))
        account = court_account_figures(trust=world.trust, period=period)
        for c in account.currencies:
            assert c.reconciles, (c.currency, c.charges_minor, c.credits_minor)
            assert sum(h.closing_minor for h in c.holders) == c.closing_minor
            assert sum(h.opening_minor for h in c.holders) == c.opening_minor
        statement = beneficiary_statement_figures(beneficiary=world.mv1, period=period)
        for section in statement.sections:
            sub = Account.objects.get(code=section.account_code, trust=world.trust)
            ledger_open = account_balance_as_of(account=sub, as_of=period.day_before)
            ledger_close = account_balance_as_of(account=sub, as_of=period.end)
            assert section.opening_minor == int(ledger_open.amount * 100)
            assert section.closing_minor == int(ledger_close.amount * 100)
            assert section.opening_minor + sum(line.amount_minor for line in section.lines) == (
                section.closing_minor
            )
        transaction.savepoint_rollback(savepoint)
