"""Closing a trust for good (DOMAIN.md rule 17, trust.services.closing): only once every account
that holds or owes money is at zero and no request waits; then the books take no entry ever
again. Refusals say why and change nothing. All names are invented."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from disbursements.services import request_approve, request_draft, request_submit
from disbursements.services.payments import Transfer, payment_acknowledge, payment_record
from tests.disbursements.test_requests import World, make_world, usd
from tests.factories import TrustFactory, fund, person
from tests.trust.test_check_ledger import run_check
from trust.errors import first_code
from trust.models import AuditEvent, Trust
from trust.roles import AUDITOR, TRUSTEE
from trust.services.closing import trust_close, trust_closing_blockers
from trust.services.ledger import LedgerError
from trust.services.trusts import trust_update

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate
PURPOSE = "School fees at the Invented Hidden Academy"


def settle(w: World, **draft: Any) -> Any:
    """Pay MV-1's whole sub-ledger (USD 1,000.00) to the care partner, in USD, and have it
    acknowledged: every account of the trust is back at zero, no request waits."""
    w.partner.payout_currency = "USD"
    w.partner.save(update_fields=["payout_currency"])
    request = request_draft(
        actor=w.caseworker,
        beneficiary=w.mv1,
        category="education",
        amount=usd("1000.00"),
        purpose=PURPOSE,
        idempotency_key="settle",
        **draft,
    )
    request = request_submit(request=request, actor=w.caseworker)
    request = request_approve(request=request, actor=w.trustee)
    if request.status != "approved":  # above the threshold: a second trustee
        request = request_approve(request=request, actor=w.trustee2)
    payment_record(
        request=request,
        actor=w.trustee,
        transfer=Transfer(sent=usd("1000.00"), value_date=TODAY(), reference="TRF-final"),
    )
    payment_acknowledge(request=request, actor=w.caseworker, arrived=usd("1000.00"))
    request.refresh_from_db()
    return request


def unchanged(trust: Trust) -> None:
    trust.refresh_from_db()
    assert (trust.status, trust.closed_on, trust.lock_date) == ("active", None, None)
    assert not AuditEvent.objects.filter(action="trust.closed").exists()


def codes(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [e.code for errors in error.error_dict.values() for e in errors]
    return [e.code for e in error.error_list]


@pytest.fixture
def w() -> World:
    return make_world()


@pytest.fixture
def settled(w: World) -> World:
    settle(w)
    return w


# --- the service ---------------------------------------------------------------------------------


def test_closing_is_refused_with_money_on_a_sub_ledger(w: World) -> None:
    with pytest.raises(ValidationError) as info:
        trust_close(trust=w.trust, actor=w.trustee, closed_on=TODAY())
    assert "unsettled" in codes(info.value)
    said = " ".join(info.value.messages)
    assert "2100-MV-1" in said and "1,000.00" in said and "1000-BANK" in said
    unchanged(w.trust)


def test_closing_is_refused_while_a_request_waits(settled: World) -> None:
    draft = request_draft(
        actor=settled.caseworker,
        beneficiary=settled.mv1,
        category="education",
        amount=usd("10.00"),
        purpose="Books",
        idempotency_key="late",
    )
    blockers = trust_closing_blockers(trust=settled.trust)
    assert blockers == [
        f"Request #{draft.pk} (MV-1) is draft: it waits for the caseworker to submit it."
    ]
    with pytest.raises(ValidationError) as info:
        trust_close(trust=settled.trust, actor=settled.trustee, closed_on=TODAY())
    assert info.value.messages == blockers
    unchanged(settled.trust)


def test_a_settled_trust_closes_for_good(settled: World) -> None:
    trust = settled.trust
    assert trust_closing_blockers(trust=trust) == []
    closed = trust_close(trust=trust, actor=settled.trustee, closed_on=TODAY())
    trust.refresh_from_db()
    assert closed.status == trust.status == Trust.Status.CLOSED
    assert trust.closed_on == trust.lock_date == TODAY()
    event = AuditEvent.objects.get(action="trust.closed")
    assert event.trust_id == trust.pk and event.actor_id == settled.trustee.pk
    # No entry ever again, whatever its date.
    with pytest.raises(LedgerError) as refused:
        fund(trust, settled.sub1, "1.00", on=TODAY() + timedelta(days=1))
    assert refused.value.code == "trust_closed"
    # Closing is final: closing again is refused, and so is a new request.
    with pytest.raises(ValidationError) as again:
        trust_close(trust=trust, actor=settled.trustee2, closed_on=TODAY())
    assert codes(again.value) == ["already_closed"]
    with pytest.raises(ValidationError) as request:
        request_draft(
            actor=settled.caseworker,
            beneficiary=settled.mv1,
            category="education",
            amount=usd("10.00"),
            purpose="Books",
            idempotency_key="after",
        )
    assert first_code(request.value) == "trust_closed"
    assert run_check("--trust", str(trust.pk))[0] == 0


def test_only_a_trustee_of_the_trust_closes_it(settled: World) -> None:
    auditor = person("auditor", AUDITOR, settled.trust)
    other = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    for who in (auditor, other, settled.caseworker, None):
        with pytest.raises(ValidationError) as info:
            trust_close(trust=settled.trust, actor=who, closed_on=TODAY())
        assert codes(info.value) == ["not_trustee"], who
    unchanged(settled.trust)


@pytest.mark.parametrize(
    ("day", "code"),
    [
        ("2026-12-01", "required"),  # text, not a date
        (None, "required"),
        ("tomorrow", "future"),
        ("yesterday", "before_last_entry"),  # the payment is dated today
    ],
)
def test_a_bad_closing_day_is_refused(settled: World, day: Any, code: str) -> None:
    day = {"tomorrow": TODAY() + timedelta(days=1), "yesterday": TODAY() - timedelta(days=1)}.get(
        day, day
    )
    with pytest.raises(ValidationError) as info:
        trust_close(trust=settled.trust, actor=settled.trustee, closed_on=day)
    assert codes(info.value) == [code] and "closed_on" in info.value.error_dict
    unchanged(settled.trust)


def test_the_closing_day_is_not_before_the_closed_period(settled: World) -> None:
    trust = settled.trust
    if connection.vendor == "postgresql":
        # The fixture's entries are checked at commit, in this test's one transaction: check
        # them now, while their days are open, as they would have been long before.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    Trust.objects.filter(pk=trust.pk).update(lock_date=TODAY())
    trust.refresh_from_db()
    with pytest.raises(ValidationError) as info:
        trust_close(trust=trust, actor=settled.trustee, closed_on=TODAY() - timedelta(days=3))
    assert codes(info.value) == ["before_lock_date"]
    trust.refresh_from_db()
    assert trust.status == "active" and trust.lock_date == TODAY()


def test_retention_years_are_a_term_from_1_to_100(w: World) -> None:
    for bad in (0, 101, True, "7", None):
        with pytest.raises(ValidationError) as info:
            trust_update(trust=w.trust, actor=w.trustee, retention_years=bad)
        assert first_code(info.value) == "bad_retention"
    w.trust.refresh_from_db()
    assert w.trust.retention_years == 7
    trust_update(trust=w.trust, actor=w.trustee, retention_years=10)
    w.trust.refresh_from_db()
    assert w.trust.retention_years == 10
    event = AuditEvent.objects.filter(action="trust.updated").last()
    assert b'"retention_years"' in bytes(event.data)


# --- the pages -----------------------------------------------------------------------------------


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pages(settings: Any, tmp_path: Any) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


def test_the_close_page_shows_what_stands_in_the_way(pages: None, w: World) -> None:
    trustee = client_for(w.trustee)
    url = reverse("trust-close-for-good", args=[w.trust.pk])
    page = trustee.get(url)
    assert page.status_code == 200 and "2100-MV-1" in page.content.decode()
    refused = trustee.post(url, {"closed_on": TODAY().isoformat(), "final": "on"})
    assert refused.status_code == 400 and "1,000.00" in refused.content.decode()
    unchanged(w.trust)
    auditor = client_for(person("auditor", AUDITOR, w.trust))
    assert auditor.get(url).status_code == 403


def test_a_trustee_closes_the_trust_on_the_page(pages: None, settled: World) -> None:
    trustee = client_for(settled.trustee)
    url = reverse("trust-close-for-good", args=[settled.trust.pk])
    unticked = trustee.post(url, {"closed_on": TODAY().isoformat()})
    assert unticked.status_code == 400 and "cannot be undone" in unticked.content.decode()
    bad_day = trustee.post(url, {"closed_on": "2026-02-30", "final": "on"})
    assert bad_day.status_code == 400
    unchanged(settled.trust)
    done = trustee.post(url, {"closed_on": TODAY().isoformat(), "final": "on"})
    assert done.status_code == 302
    assert done["Location"] == reverse("retention", args=[settled.trust.pk])
    settled.trust.refresh_from_db()
    assert settled.trust.status == "closed"
    page = trustee.get(url)
    assert page.status_code == 200 and "closing is final" in page.content.decode()


def test_retention_years_on_the_terms_page(pages: None, w: World) -> None:
    trustee = client_for(w.trustee)
    url = reverse("trust-edit", args=[w.trust.pk])
    terms = {
        "caption": w.trust.caption,
        "court": w.trust.court,
        "case_number": w.trust.case_number,
        "majority_age": 18,
        "time_zone": "UTC",
    }
    for bad in ("0", "101", "seven", "2.5"):
        assert trustee.post(url, {**terms, "retention_years": bad}).status_code == 400
    assert trustee.post(url, {**terms, "retention_years": ""}).status_code == 302  # kept
    w.trust.refresh_from_db()
    assert w.trust.retention_years == 7
    assert trustee.post(url, {**terms, "retention_years": "12"}).status_code == 302
    w.trust.refresh_from_db()
    assert w.trust.retention_years == 12
