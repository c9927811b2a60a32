"""The balances page: every account of a trust at the end of a chosen day, in natural order, from
the daily totals (later entries left out), under the totals by role and the trust identity on
that day; a bad date refused; paged and searched in a constant number of queries; read only by
the trust's trustees and auditors."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from tests.disbursements.test_requests import make_world
from tests.factories import TrustFactory, account, beneficiary, fund, person
from trust.models import Account, Trust
from trust.roles import AUDITOR, TRUSTEE
from trust.selectors import account_balances_as_of, trust_identity
from trust.services.ledger import Leg, entry_post

pytestmark = pytest.mark.django_db

JAN, FEB = date(2026, 1, 31), date(2026, 2, 28)


@pytest.fixture
def books(settings: Any, tmp_path: Any) -> tuple[Trust, Client]:
    """MV-1, MV-2 and MV-10: 100.00 and 20.50 to MV-1 in January, 7.25 to MV-2 and 3.00 to
    MV-10 in February."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    subs = {name: beneficiary(trust, name)[1] for name in ("MV-1", "MV-10", "MV-2")}
    fund(trust, subs["MV-1"], "100.00", on=date(2026, 1, 5))
    fund(trust, subs["MV-1"], "20.50", on=date(2026, 1, 31))
    fund(trust, subs["MV-2"], "7.25", on=date(2026, 2, 1))
    fund(trust, subs["MV-10"], "3.00", on=date(2026, 2, 28))
    return trust, signed_in(person("trustee-books", TRUSTEE, trust))


def signed_in(who: Any) -> Client:
    client = Client()
    client.force_login(who)
    return client


def url(trust: Trust) -> str:
    return reverse("balances", kwargs={"trust_id": trust.pk})


def balances(response: Any) -> dict[str, int]:
    return {a.code: balance for a, balance in response.context["rows"]}


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def test_balances_at_the_end_of_a_past_day_leave_out_later_entries(books) -> None:
    trust, client = books
    january = client.get(url(trust), {"as_of": JAN.isoformat()})
    assert january.status_code == 200
    assert balances(january) == {
        "1000-BANK": 120_50,
        "2100-MV-1": 120_50,
        "2100-MV-2": 0,
        "2100-MV-10": 0,
        "2700-IN-TRANSIT": 0,
        "2800-PAYABLE": 0,
        "2900-UNALLOCATED": 0,
    }
    assert "120.50 USD" in text(january) and "Balances at the end of 2026-01-31" in text(january)
    day_before = balances(client.get(url(trust), {"as_of": "2026-01-30"}))
    assert day_before["2100-MV-1"] == 100_00 and day_before["1000-BANK"] == 100_00


def test_balances_today_are_the_stored_balances(books) -> None:
    trust, client = books
    response = client.get(url(trust))  # today by default
    stored = {a.code: a.balance_minor for a in Account.objects.filter(trust=trust)}
    assert balances(response) == stored
    assert response.context["as_of"] == timezone.localdate()
    (line,) = response.context["identity"]
    stored_by_role = trust_identity(trust=trust)["USD"].by_role
    assert line.by_role == {role: total for role, total in stored_by_role.items() if total}


def test_the_totals_by_role_are_the_sums_of_the_accounts_and_the_identity_holds(books) -> None:
    trust, client = books
    for day in (JAN, FEB):
        response = client.get(url(trust), {"as_of": day.isoformat()})
        (line,) = response.context["identity"]
        accounts = list(Account.objects.filter(trust=trust))
        each = account_balances_as_of(account_ids=[a.pk for a in accounts], as_of=day)
        by_role: dict[str, int] = defaultdict(int)
        for a in accounts:
            by_role[a.role] += each[a.pk]
        assert {r: t for r, t in line.by_role.items() if t} == {
            r: t for r, t in by_role.items() if t
        }
        assert line.cash_minor == by_role[Account.Role.BANK] == line.obligations_minor
        assert line.holds
        page = text(response)
        assert "Held for the beneficiaries (sub-ledgers)" in page and ">yes<" in page
    (february,) = client.get(url(trust), {"as_of": FEB.isoformat()}).context["identity"]
    assert february.by_role[Account.Role.SUB_LEDGER] == 130_75


def test_a_day_on_which_the_identity_does_not_hold_says_so(books) -> None:
    """Money that reached the bank for no one on the books (an income account, say) shows."""
    trust, client = books
    income = Account.objects.create(
        trust=trust, code="4000-INCOME", name="Income", type="income", role="income", currency="USD"
    )
    entry_post(
        trust=trust,
        actor=None,
        effective_date=FEB,
        legs=[
            Leg(account(trust, Account.Role.BANK), Money("1.00", "USD")),
            Leg(income, Money("-1.00", "USD")),
        ],
        idempotency_key="income-1",
        memo="Income (test)",
        kind="adjustment",
    )
    (line,) = client.get(url(trust), {"as_of": FEB.isoformat()}).context["identity"]
    assert not line.holds and line.difference_minor == 1_00 and line.outside == {"income": 1_00}
    page = text(client.get(url(trust), {"as_of": FEB.isoformat()}))
    assert "off by 1.00 USD" in page and "Held for no one" in page
    assert client.get(url(trust), {"as_of": JAN.isoformat()}).context["identity"][0].holds


def test_the_accounts_are_in_natural_order(books) -> None:
    trust, client = books
    codes = list(balances(client.get(url(trust))))
    assert codes.index("2100-MV-2") < codes.index("2100-MV-10")
    assert codes[0] == "1000-BANK" and codes[1:4] == ["2100-MV-1", "2100-MV-2", "2100-MV-10"]


@pytest.mark.parametrize("bad", ["2026-13-45", "yesterday", "31/01/2026"])
def test_a_bad_date_is_refused_with_a_message(books, bad: str) -> None:
    trust, client = books
    response = client.get(url(trust), {"as_of": bad})
    assert response.status_code == 400
    page = text(response)
    assert f"“{bad}” is not a date" in page and 'role="alert"' in page
    assert "rows" not in response.context and "1000-BANK" not in page


def test_the_search_finds_accounts_by_code_or_name(books) -> None:
    trust, client = books
    assert list(balances(client.get(url(trust), {"q": "MV-1"}))) == ["2100-MV-1", "2100-MV-10"]
    assert list(balances(client.get(url(trust), {"q": "bank account"}))) == ["1000-BANK"]
    page = text(client.get(url(trust), {"q": "nothing like it"}))
    assert "No account's code or name contains “nothing like it”." in page


def test_the_accounts_are_paged_fifty_at_a_time_with_their_balances(books) -> None:
    trust, client = books
    for n in range(100, 157):
        _, sub = beneficiary(trust, f"MV-{n}")
        fund(trust, sub, f"{n}.01", on=JAN)
    first = client.get(url(trust), {"as_of": JAN.isoformat()})
    assert len(first.context["rows"]) == 50 and "Page 1 of 2" in text(first)
    second = client.get(url(trust), {"as_of": JAN.isoformat(), "page": 2})
    rows = balances(second)
    codes = list(rows)
    assert len(codes) == 64 - 50 and rows["2100-MV-156"] == 156_01
    assert codes[:2] == ["2100-MV-146", "2100-MV-147"]
    assert codes[-3:] == ["2700-IN-TRANSIT", "2800-PAYABLE", "2900-UNALLOCATED"]
    assert balances(first)["2100-MV-10"] == 0  # funded in February


def test_the_page_costs_the_same_queries_for_3_or_30_accounts(books) -> None:
    trust, client = books

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(trust), {"as_of": FEB.isoformat()}).status_code == 200
        return len(captured.captured_queries)

    few = queries()
    for n in range(20, 47):
        _, sub = beneficiary(trust, f"MV-{n}")
        fund(trust, sub, "1.00", on=JAN)
    assert queries() == few


def test_another_trusts_trustee_and_a_caseworker_find_nothing(settings: Any, tmp_path: Any) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    w = make_world()
    stranger = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    assert signed_in(stranger).get(url(w.trust)).status_code == 404
    assert signed_in(w.caseworker).get(url(w.trust)).status_code == 404
    assert signed_in(w.trustee).get(url(w.trust)).status_code == 200


def test_an_auditor_reads_the_balances_without_any_action(books) -> None:
    trust, _ = books
    response = signed_in(person("auditor-balances", AUDITOR, trust)).get(url(trust))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('method="post"') == 1  # signing out, nothing else
    assert "button primary" not in page


def test_the_journal_and_the_trust_page_link_to_the_balances(books) -> None:
    trust, client = books
    link = f'href="{url(trust)}"'
    assert link in client.get(reverse("journal", args=[trust.pk])).content.decode()
    assert link in client.get(reverse("trust-detail", args=[trust.pk])).content.decode()
