"""Retrying a draft (issue 22, "Retries"): the caseworker's key with the same request returns the
first draft and writes nothing; the key with anything else (beneficiary, category, amount,
currency, purpose, justification, payee) is refused with ``key_reused``, as every other service
refuses a key reused for something else, instead of answering with a draft that is not the one
asked for. On the page, a form sent again after being changed says so and gets a new key; the API's
``Idempotency-Key`` answers before the service does (replay, or 422)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from disbursements.models import DisbursementRequest, RequestEvent
from disbursements.services import DraftKeyReused, Payee, caseworker_add
from tests.disbursements.test_requests import World, draft, make_world, user
from tests.trust.test_receipts_concurrency import run_together
from trust.models import IdempotencyRecord
from trust.services.people import beneficiary_create
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db

PROVIDER = Payee(kind="provider", name="Invented Academy")
FAMILY = Payee(kind="family", name="Invented Aunt", court_authorisation="ECF No. 12")


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def served(settings: Any, tmp_path: Any) -> None:
    """Pages and the API served as in the other page tests (static files in a folder of the test)."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


def writes() -> tuple[int, int]:
    return DisbursementRequest.objects.count(), RequestEvent.objects.count()


def reused(w: World, **overrides: Any) -> DraftKeyReused:
    """``draft(w, **overrides)`` with the key of a first draft is refused, writing nothing."""
    before = writes()
    with pytest.raises(DraftKeyReused) as info:
        draft(w, **overrides)
    assert writes() == before
    error = info.value
    assert [e.code for e in error.error_dict["idempotency_key"]] == ["key_reused"]
    return error


def test_the_same_request_with_the_same_key_is_the_first_draft(world: World) -> None:
    first = draft(world)
    before = writes()
    again = draft(world)
    assert again.pk == first.pk and again.status == first.status
    assert writes() == before
    assert list(first.events.values_list("action", flat=True)) == ["drafted"]


def test_the_same_amount_written_with_other_decimals_is_the_same_request(world: World) -> None:
    first = draft(world, amount=Money("10", "USD"))
    assert draft(world, amount=Money("10.00", "USD")).pk == first.pk


def test_the_same_purpose_with_other_spaces_around_it_is_the_same_request(world: World) -> None:
    first = draft(world, purpose="Check-up")
    assert draft(world, purpose="  Check-up \n").pk == first.pk


def test_a_key_reused_with_another_amount_is_refused_naming_the_first_draft(world: World) -> None:
    first = draft(world, amount=Money("10.00", "USD"))
    error = reused(world, amount=Money("99.00", "USD"))
    assert (error.request_id, error.differs) == (first.pk, ["amount"])
    assert error.messages == [
        f"key 'k' was already used for request #{first.pk}, which differs in amount: use a new"
        " key for a new request"
    ]
    assert DisbursementRequest.objects.get().amount == Money("10.00", "USD")


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"amount": Money("10.01", "USD")}, ["amount"]),
        ({"amount": Money("10.00", "PHP")}, ["currency"]),  # the partner's payout currency
        ({"category": "education"}, ["category"]),
        ({"purpose": "Dental check-up"}, ["purpose"]),
        ({"payee": PROVIDER}, ["payee"]),
        ({"category": "education", "amount": Money("20.00", "USD")}, ["category", "amount"]),
    ],
)
def test_a_key_reused_for_another_request_is_refused(
    world: World, change: dict[str, Any], differs: list[str]
) -> None:
    draft(world)
    assert reused(world, **change).differs == differs


def test_a_key_reused_for_another_child_is_refused(world: World) -> None:
    draft(world)
    sibling = beneficiary_create(trust=world.trust, pseudonym="MV-3", care_partner=world.partner)
    assert reused(world, beneficiary=sibling).differs == ["beneficiary"]


def test_a_key_reused_with_another_justification_is_refused(world: World) -> None:
    first = draft(world, category="other", purpose="Bicycle", justification="School is 6 km away")
    same = draft(world, category="other", purpose="Bicycle", justification="School is 6 km away")
    assert same.pk == first.pk
    error = reused(world, category="other", purpose="Bicycle", justification="It was stolen")
    assert error.differs == ["purpose"]


@pytest.mark.parametrize(
    "payee",
    [
        None,
        Payee(kind="provider", name="Another Invented Academy"),
        Payee(kind="family", name="Invented Aunt", court_authorisation="ECF No. 13"),
        Payee(kind="provider", name="Invented Aunt", court_authorisation="ECF No. 12"),
    ],
)
def test_a_key_reused_with_another_payee_is_refused(world: World, payee: Payee | None) -> None:
    draft(world, payee=FAMILY)
    assert reused(world, payee=payee).differs == ["payee"]


def test_the_same_payee_again_is_the_first_draft(world: World) -> None:
    first = draft(world, payee=FAMILY)
    again = draft(
        world,
        payee=Payee(kind="family", name=" Invented Aunt ", court_authorisation="ECF No. 12 "),
    )
    assert again.pk == first.pk


def test_the_key_is_the_caseworkers_own(world: World) -> None:
    first = draft(world, amount=Money("10.00", "USD"))
    colleague = user("caseworker-colleague")
    caseworker_add(partner=world.partner, user=colleague, actor=world.trustee)
    theirs = draft(world, actor=colleague, amount=Money("99.00", "USD"))
    assert theirs.pk != first.pk and theirs.amount == Money("99.00", "USD")


def test_a_retry_after_the_childs_data_was_erased_says_so(world: World) -> None:
    draft(world)
    world.mv1.identity_erased_at = timezone.now()  # as the erasure leaves it
    with pytest.raises(ValidationError) as info:
        draft(world)
    assert [e.code for e in info.value.error_dict["beneficiary"]] == ["erased"]


# --- the page ------------------------------------------------------------------------------------


def ask(client: Client, w: World, key: str, amount: str) -> Any:
    return client.post(
        reverse("request-new"),
        {
            "beneficiary": str(w.mv1.pk),
            "category": "education",
            "amount_0": amount,
            "amount_1": "USD",
            "purpose": "School fees, second term",
            "justification": "",
            "idempotency_key": key,
            "draft": "1",
        },
    )


def test_a_form_sent_again_with_another_amount_says_so_and_gets_a_new_key(
    world: World, served: None
) -> None:
    client = Client()
    client.force_login(world.caseworker)
    assert ask(client, world, "page-1", "120.00").status_code == 302
    first = DisbursementRequest.objects.get()
    changed = ask(client, world, "page-1", "150.00")  # back, amount changed, sent again
    assert changed.status_code == 400
    page = " ".join(changed.content.decode().split())
    assert (
        f"This form was already sent: it made request #{first.pk}, which differs in amount." in page
    )
    assert DisbursementRequest.objects.count() == 1
    key = changed.context["form"].data["idempotency_key"]
    assert key != "page-1" and f'value="{key}"' in page
    assert ask(client, world, key, "150.00").status_code == 302
    assert sorted(r.amount_minor for r in DisbursementRequest.objects.all()) == [12000, 15000]


# --- the API -------------------------------------------------------------------------------------


def test_the_api_replays_a_draft_and_refuses_its_key_for_another_body(
    world: World, served: None
) -> None:
    """The API's Idempotency-Key answers first: the same body replays the draft (201), another
    body is refused (422) before the service sees it. If the key's record is gone (purged after
    48 hours), the service's own key still refuses another body (400 ``key_reused``)."""
    _, raw = token_create(actor=world.caseworker, name="retrying app", scope="write")
    client = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    body = {
        "beneficiary": world.mv1.pk,
        "category": "medical",
        "amount": "40.00",
        "amount_currency": "USD",
        "purpose": "Check-up",
    }

    def post(data: dict[str, Any]) -> Any:
        return client.post(
            "/api/v1/requests/", data, content_type="application/json", HTTP_IDEMPOTENCY_KEY="d-1"
        )

    first = post(body)
    assert first.status_code == 201, first.content
    assert post(body).content == first.content
    other = post({**body, "amount": "41.00"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    IdempotencyRecord.objects.filter(key="d-1").delete()
    late = post({**body, "amount": "41.00"})
    assert late.status_code == 400 and late.json()["code"] == "key_reused"
    assert f"request #{first.json()['id']}" in late.json()["detail"]
    again = post(body)  # the same body after the purge: the service returns the first draft
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert DisbursementRequest.objects.count() == 1


# --- PostgreSQL: one key sent many times at once ------------------------------------------------


def test_one_key_sent_at_once_makes_one_draft_and_refuses_another_amount(
    postgres_tx: None,
) -> None:
    """Eight calls with one key at once, six asking for 10.00 and two for 99.00: one draft is made;
    every call asking for what it holds gets it, every other is refused with ``key_reused``
    (the unique key decides the race; the losers answer as a retry would)."""
    w = make_world("retry-race")
    amounts = ["10.00"] * 6 + ["99.00"] * 2
    results = run_together(
        [(lambda a=a: draft(w, amount=Money(a, "USD"), idempotency_key="race")) for a in amounts]
    )
    made = DisbursementRequest.objects.get(requested_by=w.caseworker)
    for amount, result in zip(amounts, results, strict=True):
        if Money(amount, "USD") == made.amount:
            assert isinstance(result, DisbursementRequest) and result.pk == made.pk, result
        else:
            assert isinstance(result, DraftKeyReused) and result.request_id == made.pk, result
    assert made.events.count() == 1
