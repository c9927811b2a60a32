"""The books' pages: the journal, an entry with its postings, an account's history with the
balance after each posting (checked against the stored balances) and the balance as of a date."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import TrustFactory, account, beneficiary, fund, person
from trust.models import Account
from trust.roles import AUDITOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    _, sub = beneficiary(trust, "MV-1")
    amounts = [
        ("100.00", date(2026, 1, 5)),
        ("20.50", date(2026, 1, 5)),
        ("7.25", date(2026, 2, 1)),
    ]
    entries = [fund(trust, sub, amount, on=day) for amount, day in amounts]
    auditor = Client()
    auditor.force_login(person("auditor-books", AUDITOR, trust))
    return trust, sub, entries, auditor


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_an_accounts_history_shows_the_balance_after_each_posting(books) -> None:
    trust, sub, _, auditor = books
    page = text(auditor.get(reverse("account-detail", args=[trust.pk, sub.pk])))
    # Newest first: 127.75 after the last, 120.50 before it, 100.00 after the first.
    assert page.index("127.75 USD") < page.index("120.50 USD") < page.index("100.00 USD")
    bank = account(trust, Account.Role.BANK)
    bank_page = text(auditor.get(reverse("account-detail", args=[trust.pk, bank.pk])))
    assert "Balance now <strong>127.75 USD</strong>" in bank_page


def test_a_page_of_an_older_part_of_the_history_starts_from_the_right_balance(books) -> None:
    trust, sub, _, auditor = books
    for _ in range(55):
        fund(trust, sub, "1.00", on=date(2026, 3, 1))
    response = auditor.get(reverse("account-detail", args=[trust.pk, sub.pk]), {"page": 2})
    rows = response.context["rows"]
    # Page 2 holds the 5 oldest of the March postings and the three earlier ones.
    assert [str(balance.amount) for _, balance in rows][-3:] == ["127.75", "120.50", "100.00"]
    assert str(rows[0][1].amount) == "132.75"


def test_the_balance_as_of_a_date(books) -> None:
    trust, sub, _, auditor = books
    response = auditor.get(
        reverse("account-detail", args=[trust.pk, sub.pk]), {"as_of": "2026-01-31"}
    )
    assert "120.50 USD" in text(response)
    assert response.context["balance_as_of"].amount == 120.50


def test_an_entry_shows_its_debits_and_credits(books) -> None:
    trust, _, entries, auditor = books
    page = text(auditor.get(reverse("entry-detail", args=[trust.pk, entries[1].entry.pk])))
    assert "2100-MV-1" in page and "1000-BANK" in page
    assert page.count("20.50 USD") == 2  # one debit, one credit


def test_the_journal_filters_by_date_and_says_when_a_date_is_wrong(books) -> None:
    trust, _, entries, auditor = books
    url = reverse("journal", args=[trust.pk])
    february = auditor.get(url, {"since": "2026-02-01"})
    assert [e.pk for e in february.context["page"].object_list] == [entries[2].entry.pk]
    wrong = text(auditor.get(url, {"since": "01/02/2026"}))
    assert "A date was not understood" in wrong


def test_an_entry_of_another_trust_is_not_found(books) -> None:
    trust, _, _, auditor = books
    other = TrustFactory()
    _, other_sub = beneficiary(other, "MV-1")
    elsewhere = fund(other, other_sub, "5.00")
    assert (
        auditor.get(reverse("entry-detail", args=[trust.pk, elsewhere.entry.pk])).status_code == 404
    )
    assert auditor.get(reverse("account-detail", args=[trust.pk, other_sub.pk])).status_code == 404


def test_the_balance_history_ends_at_the_stored_balance_and_rises_with_each_receipt(books) -> None:
    from trust.selectors import balance_history

    _, sub, _, _ = books
    sub.refresh_from_db()
    points = balance_history(account=sub, months=24)
    assert len(points) == 24
    assert points[-1].balance == sub.balance  # every posting of the test is in the past
    amounts = [p.balance.amount for p in points]
    assert amounts == sorted(amounts)  # receipts only: it never goes down


def test_the_beneficiary_page_draws_the_history(books) -> None:
    trust, sub, _, auditor = books
    page = auditor.get(reverse("beneficiary-detail", args=[trust.pk, sub.beneficiary_id]))
    html = page.content.decode()
    assert '<svg class="chart"' in html and "127.75 USD" in html
