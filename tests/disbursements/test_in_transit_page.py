"""The payments in transit page: what left the trust's bank and its partners have not acknowledged,
oldest first, with totals that agree to the cent with the in-transit accounts; filtered, searched,
paged in a constant number of queries, and shown only to the readers of the trust's books."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from disbursements.models import DisbursementRequest, Payment
from disbursements.services import (
    care_partner_vet,
    caseworker_add,
    request_approve,
    request_draft,
    request_submit,
)
from disbursements.services.payments import Transfer, payment_acknowledge, payment_record
from tests.disbursements.test_requests import World, make_world, usd, user
from tests.factories import TrustFactory, fund, person
from trust.models import Account
from trust.roles import AUDITOR, TRUSTEE

pytestmark = pytest.mark.django_db


def php(value: str) -> Money:
    return Money(value, "PHP")


@pytest.fixture
def w(settings: Any, tmp_path: Any) -> World:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    world = make_world()
    fund(world.trust, world.sub1, "9000.00")  # MV-1 holds 10,000.00 USD
    # MV-2's partner is paid in the trust's own currency: vetted, with a caseworker and money.
    today = timezone.localdate()
    care_partner_vet(
        partner=world.other_partner,
        actor=world.trustee,
        status="approved",
        vetted_on=today - timedelta(days=30),
        expires_on=today + timedelta(days=335),
    )
    caseworker_add(partner=world.other_partner, user=user("caseworker-other"), actor=world.trustee)
    fund(world.trust, world.mv2.accounts.get(), "5000.00")
    return world


def paid(
    w: World,
    key: str,
    sent: str,
    payout: str | None = None,
    *,
    fee: str | None = None,
    days_ago: int = 0,
    other: bool = False,
) -> Payment:
    """A request of MV-1 (paid in PHP) or, with ``other``, of MV-2 (paid in USD), approved and
    paid ``days_ago`` (its approval moved back so that the value date may be that early)."""
    caseworker = w.other_partner.caseworkers.get().user if other else w.caseworker
    request = request_draft(
        actor=caseworker,
        beneficiary=w.mv2 if other else w.mv1,
        category="education",
        amount=usd(sent),
        purpose="School fees",
        idempotency_key=key,
    )
    request = request_submit(request=request, actor=caseworker)
    request = request_approve(request=request, actor=w.trustee)
    day = timezone.localdate() - timedelta(days=days_ago)
    if days_ago:
        DisbursementRequest.objects.filter(pk=request.pk).update(
            decided_at=timezone.now() - timedelta(days=days_ago + 1)
        )
        request.refresh_from_db()
    return payment_record(
        request=request,
        actor=w.trustee,
        transfer=Transfer(
            sent=usd(sent),
            payout=php(payout) if payout else None,
            fee=usd(fee) if fee else None,
            value_date=day,
            reference=f"TRF-{key}",
        ),
    )


def signed_in(who: Any) -> Client:
    client = Client()
    client.force_login(who)
    return client


def url(w: World) -> str:
    return reverse("payments-in-transit", kwargs={"trust_id": w.trust.pk})


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def in_transit_accounts(w: World) -> dict[str, int]:
    return {
        a.currency: a.balance_minor
        for a in Account.objects.filter(trust=w.trust, role=Account.Role.IN_TRANSIT)
    }


def test_the_payments_in_transit_are_listed_oldest_first_with_their_age(w: World) -> None:
    recent = paid(w, "recent", "100.00", "5000.00", fee="2.50", days_ago=1)
    oldest = paid(w, "oldest", "200.00", "10000.00", days_ago=12)
    local = paid(w, "local", "50.00", other=True)
    response = signed_in(w.trustee).get(url(w))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.payment.pk for r in rows] == [oldest.pk, recent.pk, local.pk]
    assert [r.days for r in rows] == [12, 1, 0]
    page = text(response)
    assert f'href="/requests/{oldest.request_id}/">#{oldest.request_id}</a>' in page
    assert "MV-1" in page and "MV-2" in page and w.partner.name in page
    assert "200.00 USD" in page and "10,000.00 PHP" in page and "2.50 USD" in page
    assert "TRF-oldest" in page and (timezone.localdate() - timedelta(days=12)).isoformat() in page


def test_the_total_in_transit_equals_the_in_transit_accounts_to_the_cent(w: World) -> None:
    paid(w, "a", "100.00", "5012.34", fee="2.50")
    paid(w, "b", "33.33", "1666.67", fee="0.01")
    paid(w, "c", "50.05", other=True, fee="1.10")
    totals = {t.currency: t for t in signed_in(w.trustee).get(url(w)).context["totals"]}
    # PHP: what the transfers are for; USD: the local payment and every fee.
    assert totals["PHP"].payments_minor == 5012_34 + 1666_67
    assert totals["USD"].payments_minor == 50_05 + 1_10 + 2_50 + 1
    accounts = in_transit_accounts(w)
    assert {c: t.payments_minor for c, t in totals.items()} == accounts
    assert all(t.accounts_minor == accounts[c] and t.agrees for c, t in totals.items())


def test_an_acknowledged_payment_is_no_longer_in_transit(w: World) -> None:
    gone = paid(w, "gone", "100.00", "5000.00", fee="2.00")
    stays = paid(w, "stays", "10.00", "500.00")
    payment_acknowledge(request=gone.request, actor=w.caseworker, arrived=php("5000.00"))
    response = signed_in(w.trustee).get(url(w))
    assert [r.payment.pk for r in response.context["rows"]] == [stays.pk]
    assert "TRF-gone" not in text(response)
    totals = {t.currency: t for t in response.context["totals"]}
    assert totals["PHP"].payments_minor == 500_00 == totals["PHP"].accounts_minor
    assert totals["USD"].payments_minor == 0 == totals["USD"].accounts_minor


def test_nothing_in_transit_says_what_it_means(w: World) -> None:
    payment = paid(w, "done", "10.00", "500.00")
    payment_acknowledge(request=payment.request, actor=w.caseworker, arrived=php("500.00"))
    page = text(signed_in(w.trustee).get(url(w)))
    assert "Nothing in transit: every payment recorded has been acknowledged by its partner" in page


def test_a_difference_between_the_payments_and_the_accounts_is_shown(w: World) -> None:
    payment = paid(w, "x", "10.00", "500.00")
    # A tampered payment row: the books still hold 500.00 PHP in transit.
    Payment.objects.filter(pk=payment.pk).update(payout_minor=400_00)
    response = signed_in(w.trustee).get(url(w))
    php_total = next(t for t in response.context["totals"] if t.currency == "PHP")
    assert not php_total.agrees and php_total.difference_minor == 100_00
    assert "differ by 100.00 PHP" in text(response)
    assert 'role="alert"' in response.content.decode()


def test_the_list_filters_by_partner_and_searches_by_number_or_reference(w: World) -> None:
    first = paid(w, "first", "10.00", "500.00")
    second = paid(w, "second", "20.00", "1000.00")
    local = paid(w, "local", "30.00", other=True)
    client = signed_in(w.trustee)

    def listed(**query: Any) -> list[int]:
        return [r.payment.pk for r in client.get(url(w), query).context["rows"]]

    assert listed(partner=w.other_partner.pk) == [local.pk]
    assert listed(partner=w.partner.pk) == [first.pk, second.pk]
    assert listed(q="TRF-sec") == [second.pk]
    assert listed(q=f"#{first.request_id}") == [first.pk]
    assert listed(q=str(local.request_id)) == [local.pk]
    page = text(client.get(url(w), {"q": "no-such-reference"}))
    assert "No payment in transit matches these filters." in page


def test_the_list_is_paged_fifty_at_a_time(w: World) -> None:
    for n in range(51):
        paid(w, f"p{n}", "1.00", "50.00")
    client = signed_in(w.trustee)
    first = client.get(url(w))
    assert len(first.context["rows"]) == 50 and "Page 1 of 2" in text(first)
    second = client.get(url(w), {"page": 2})
    assert [r.payment.transfer_reference for r in second.context["rows"]] == ["TRF-p50"]


def test_the_page_costs_the_same_queries_for_3_or_30_payments(w: World) -> None:
    client = signed_in(w.trustee)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(w)).status_code == 200
        return len(captured.captured_queries)

    for n in range(3):
        paid(w, f"few{n}", "1.00", "50.00", fee="0.10")
    few = queries()
    for n in range(27):
        local = n % 2 == 0  # a mix of partners and currencies
        paid(w, f"many{n}", "1.00", None if local else "50.00", other=local, fee="0.10")
    assert queries() == few


def test_another_trusts_trustee_and_a_caseworker_find_nothing(w: World) -> None:
    paid(w, "x", "10.00", "500.00")
    stranger = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    assert signed_in(stranger).get(url(w)).status_code == 404
    assert signed_in(w.caseworker).get(url(w)).status_code == 404


def test_an_auditor_reads_the_page_without_any_action(w: World) -> None:
    paid(w, "x", "10.00", "500.00")
    auditor = person("auditor-transit", AUDITOR, w.trust)
    response = signed_in(auditor).get(url(w))
    assert response.status_code == 200
    page = response.content.decode()
    assert "TRF-x" in page
    assert page.count('method="post"') == 1  # signing out, nothing else
    assert "button primary" not in page


def test_the_trust_page_links_to_the_payments_in_transit(w: World) -> None:
    page = signed_in(w.trustee).get(reverse("trust-detail", args=[w.trust.pk])).content.decode()
    assert f'href="{url(w)}"' in page
