"""Disbursement requests from draft to decision: who may do what, reservations, budgets,
vetting, implicated payees, retries, and (on PostgreSQL) approvals racing for one sub-ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from moneyed import Money

from disbursements.models import Approval, CarePartner, DisbursementRequest, RequestEvent, Status
from disbursements.services import (
    Payee,
    available,
    budget_set,
    care_partner_create,
    care_partner_set_payout,
    care_partner_vet,
    caseworker_add,
    policy_set_dual_approval,
    request_approve,
    request_cancel,
    request_draft,
    request_reject,
    request_submit,
)
from tests.factories import TrustFactory, appoint, fund
from tests.trust.test_receipts_concurrency import run_together
from trust.models import Account, Beneficiary, Trust
from trust.services.people import beneficiary_create, implicated_person_add

pytestmark = pytest.mark.django_db


def usd(value: str) -> Money:
    return Money(value, "USD")


def draft(w: World, **overrides: Any) -> Any:
    """A caseworker's draft for MV-1, with ``overrides``."""
    values: dict[str, Any] = {
        "actor": w.caseworker,
        "beneficiary": w.mv1,
        "category": "medical",
        "amount": usd("10.00"),
        "purpose": "Check-up",
        "idempotency_key": "k",
    }
    values.update(overrides)
    return request_draft(**values)


def user(name: str, role: str | None = None, trust: Trust | None = None) -> Any:
    """A user (no password: fast), appointed to ``trust`` as ``role`` if a role is given."""
    if role and trust is None:
        raise TypeError("a role is held in a trust: say which")
    person = get_user_model().objects.create_user(username=name)
    if role and trust is not None:
        appoint(person, trust, role)
    return person


@dataclass
class World:
    trust: Trust
    partner: CarePartner
    other_partner: CarePartner
    mv1: Beneficiary
    mv2: Beneficiary
    sub1: Account
    caseworker: Any
    trustee: Any
    trustee2: Any


def make_world(tag: str = "") -> World:
    trust = TrustFactory()
    trustee = appoint(user(f"trustee{tag}"), trust)
    trustee2 = appoint(user(f"trustee2{tag}"), trust)
    partner = care_partner_create(
        actor=trustee, name=f"Invented Care Partner {tag}", country="PH", payout_currency="PHP"
    )
    today = timezone.localdate()
    care_partner_vet(
        partner=partner,
        actor=trustee,
        status="approved",
        vetted_on=today - timedelta(days=30),
        expires_on=today + timedelta(days=335),
    )
    other = care_partner_create(actor=trustee, name=f"Other Invented Partner {tag}", country="PH")
    mv1 = beneficiary_create(trust=trust, pseudonym="MV-1", care_partner=partner)
    mv2 = beneficiary_create(trust=trust, pseudonym="MV-2", care_partner=other)
    sub1 = mv1.accounts.get()
    fund(trust, sub1, "1000.00")
    caseworker = user(f"caseworker{tag}")
    caseworker_add(partner=partner, user=caseworker, actor=trustee)
    return World(trust, partner, other, mv1, mv2, sub1, caseworker, trustee, trustee2)


@pytest.fixture
def world() -> World:
    return make_world()


def submitted(w: World, amount: str = "300.00", key: str = "k1", **extra: Any) -> Any:
    request = request_draft(
        actor=w.caseworker,
        beneficiary=w.mv1,
        category=extra.pop("category", "education"),
        amount=usd(amount) if isinstance(amount, str) else amount,
        purpose=extra.pop("purpose", "School fees, second term"),
        idempotency_key=key,
        **extra,
    )
    return request_submit(request=request, actor=w.caseworker)


def refused(code: str, call: Any) -> ValidationError:
    """``call()`` is refused with ``code`` and writes no approval or event."""
    approvals, events = Approval.objects.count(), RequestEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        call()
    error = info.value
    codes = (
        [e.code for errors in error.error_dict.values() for e in errors]
        if hasattr(error, "error_dict")
        else [e.code for e in error.error_list]
    )
    assert code in codes, (codes, error.messages)
    assert (Approval.objects.count(), RequestEvent.objects.count()) == (approvals, events)
    return error


# --- the lifecycle ---------------------------------------------------------------------------


def test_draft_submit_approve_reserves_the_funds_and_records_each_step(world: World) -> None:
    request = submitted(world)
    assert available(world.sub1) == usd("1000.00")
    approved = request_approve(request=request, actor=world.trustee)
    assert approved.status == Status.APPROVED
    assert approved.reserve == usd("300.00")
    assert available(world.sub1) == usd("700.00")
    assert world.sub1.__class__.objects.get(pk=world.sub1.pk).balance == usd("1000.00")
    history = list(approved.events.values_list("action", "status_from", "status_to", "actor"))
    assert history == [
        ("drafted", "", "draft", world.caseworker.pk),
        ("submitted", "draft", "submitted", world.caseworker.pk),
        ("approved", "submitted", "approved", world.trustee.pk),
    ]


def test_cancelling_an_approved_request_releases_the_reservation(world: World) -> None:
    request = request_approve(request=submitted(world), actor=world.trustee)
    cancelled = request_cancel(request=request, actor=world.caseworker, reason="Scholarship won")
    assert cancelled.status == Status.CANCELLED
    assert available(world.sub1) == usd("1000.00")
    again = request_cancel(request=request, actor=world.caseworker, reason="Scholarship won")
    assert again.status == Status.CANCELLED
    assert cancelled.events.filter(action="cancelled").count() == 1


def test_rejection_needs_a_reason_and_is_recorded(world: World) -> None:
    request = submitted(world)
    refused(
        "reason_missing", lambda: request_reject(request=request, actor=world.trustee, reason="")
    )
    rejected = request_reject(request=request, actor=world.trustee, reason="Covered by the school")
    assert rejected.status == Status.REJECTED
    assert rejected.events.last().reason == "Covered by the school"
    refused("bad_status", lambda: request_approve(request=request, actor=world.trustee))


def test_retries_do_not_duplicate(world: World) -> None:
    first = draft(world, amount=usd("50.00"), idempotency_key="same")
    again = draft(world, amount=usd("50.00"), idempotency_key="same")
    assert again.pk == first.pk
    request_submit(request=first, actor=world.caseworker)
    request_submit(request=first, actor=world.caseworker)
    request_approve(request=first, actor=world.trustee)
    request_approve(request=first, actor=world.trustee)
    assert Approval.objects.filter(request=first).count() == 1
    assert list(first.events.values_list("action", flat=True)) == [
        "drafted",
        "submitted",
        "approved",
    ]


# --- segregation of duties --------------------------------------------------------------------


def test_a_caseworker_cannot_approve(world: World) -> None:
    request = submitted(world)
    refused("not_trustee", lambda: request_approve(request=request, actor=world.caseworker))


def test_a_trustee_cannot_be_a_caseworker(world: World) -> None:
    refused(
        "is_trustee",
        lambda: caseworker_add(partner=world.partner, user=world.trustee, actor=world.trustee),
    )


def test_the_requester_can_never_approve_their_own_request(world: World) -> None:
    """Even a user who is (or later becomes) a trustee."""
    request = submitted(world)
    appoint(world.caseworker, world.trust)
    refused("own", lambda: request_approve(request=request, actor=world.caseworker))


def test_above_the_threshold_two_different_trustees_approve(world: World) -> None:
    policy_set_dual_approval(trust=world.trust, actor=world.trustee, threshold=usd("250.00"))
    request = submitted(world, "300.00")
    once = request_approve(request=request, actor=world.trustee)
    assert once.status == Status.SUBMITTED
    assert available(world.sub1) == usd("1000.00")  # nothing reserved on one approval
    again = request_approve(request=request, actor=world.trustee)  # the same trustee: no change
    assert again.status == Status.SUBMITTED
    assert Approval.objects.filter(request=request).count() == 1
    twice = request_approve(request=request, actor=world.trustee2)
    assert twice.status == Status.APPROVED
    assert available(world.sub1) == usd("700.00")
    assert [e.action for e in twice.events.all()][-2:] == ["first_approval", "approved"]


def test_at_the_threshold_one_approval_is_enough(world: World) -> None:
    policy_set_dual_approval(trust=world.trust, actor=world.trustee, threshold=usd("300.00"))
    assert request_approve(request=submitted(world), actor=world.trustee).status == "approved"


# --- what approval refuses --------------------------------------------------------------------


def test_approval_refuses_more_than_is_available(world: World) -> None:
    request_approve(request=submitted(world, "700.00", "a"), actor=world.trustee)
    second = submitted(world, "300.01", "b")
    error = refused(
        "insufficient_funds", lambda: request_approve(request=second, actor=world.trustee)
    )
    assert "300.00" in error.messages[0]
    assert DisbursementRequest.objects.get(pk=second.pk).status == Status.SUBMITTED
    third = submitted(world, "300.00", "c")
    assert request_approve(request=third, actor=world.trustee).status == Status.APPROVED
    assert available(world.sub1) == usd("0.00")


def test_approval_refuses_a_partner_whose_vetting_lapsed(world: World) -> None:
    request = submitted(world)
    CarePartner.objects.filter(pk=world.partner.pk).update(
        vetting_expires_on=timezone.localdate() - timedelta(days=1)
    )
    refused("vetting_lapsed", lambda: request_approve(request=request, actor=world.trustee))


def test_approval_refuses_a_suspended_partner(world: World) -> None:
    request = submitted(world)
    care_partner_vet(partner=world.partner, actor=world.trustee, status="suspended")
    refused("vetting_lapsed", lambda: request_approve(request=request, actor=world.trustee))


def test_approval_refuses_a_payee_recorded_as_implicated(world: World) -> None:
    implicated_person_add(
        trust=world.trust,
        actor=world.trustee,
        reference="Co-conspirator 1",
        name="Invented Relative",
    )
    request = submitted(
        world,
        payee=Payee(kind="family", name="  invented  RELATIVE ", court_authorisation="ECF No. 90"),
    )
    assert "Relative" not in request.payee_token
    refused("payee_implicated", lambda: request_approve(request=request, actor=world.trustee))


def test_a_family_member_needs_the_courts_authorisation(world: World) -> None:
    refused(
        "authorisation_missing",
        lambda: submitted(world, payee=Payee(kind="family", name="Invented Aunt")),
    )
    assert not DisbursementRequest.objects.exists()


def test_over_budget_needs_an_override_reason(world: World) -> None:
    today = timezone.localdate()
    budget_set(
        beneficiary=world.mv1,
        actor=world.trustee,
        category="education",
        period_start=today.replace(month=1, day=1),
        period_end=today.replace(month=12, day=31),
        amount=usd("400.00"),
    )
    request_approve(request=submitted(world, "300.00", "a"), actor=world.trustee)
    second = submitted(world, "150.00", "b")
    error = refused("over_budget", lambda: request_approve(request=second, actor=world.trustee))
    assert "450.00" in error.messages[0] and "400.00" in error.messages[0]
    approved = request_approve(
        request=second, actor=world.trustee, override_reason="Exam fees, ECF No. 95"
    )
    assert approved.budget_override_reason == "Exam fees, ECF No. 95"
    assert approved.events.last().reason == "Exam fees, ECF No. 95"


def test_a_request_in_the_local_currency_needs_the_reservation_in_the_trusts(world: World) -> None:
    request = submitted(world, Money("15000.00", "PHP"))
    refused("reserve_missing", lambda: request_approve(request=request, actor=world.trustee))
    refused(
        "currency_mismatch",
        lambda: request_approve(
            request=request, actor=world.trustee, reserve=Money("15000.00", "PHP")
        ),
    )
    approved = request_approve(request=request, actor=world.trustee, reserve=usd("270.00"))
    assert approved.reserve == usd("270.00")
    assert available(world.sub1) == usd("730.00")


# --- what drafting refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (usd("0"), "not_positive"),
        (usd("-5.00"), "not_positive"),
        (usd("1.001"), "bad_amount"),
        (Money("5.00", "EUR"), "currency_mismatch"),
        ("5.00", "required"),
    ],
)
def test_draft_refuses_bad_amounts(world: World, amount: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        draft(world, amount=amount)
    assert code in str(info.value.error_dict["amount"][0].code)
    assert not DisbursementRequest.objects.exists()


def test_draft_refuses_another_partners_beneficiary(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        draft(world, beneficiary=world.mv2)
    assert info.value.error_dict["beneficiary"][0].code == "not_yours"
    assert not DisbursementRequest.objects.exists()


def test_draft_refuses_other_without_justification_and_non_caseworkers(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        draft(world, category="other")
    assert info.value.error_dict["justification"][0].code == "justification_missing"
    with pytest.raises(ValidationError) as info:
        draft(world, actor=world.trustee)
    assert info.value.code == "not_caseworker"
    assert not DisbursementRequest.objects.exists()


def test_payout_details_are_stored_encrypted(world: World) -> None:
    care_partner_set_payout(
        partner=world.partner,
        actor=world.trustee,
        currency="PHP",
        details={"bank": "Invented Bank", "account_number": "000123456789"},
    )
    stored = CarePartner.objects.get(pk=world.partner.pk).payout_token
    assert stored.startswith("v1:") and "000123456789" not in stored


def test_vetting_needs_dates_in_order(world: World) -> None:
    today = timezone.localdate()
    with pytest.raises(ValidationError):
        care_partner_vet(
            partner=world.other_partner,
            actor=world.trustee,
            status="approved",
            vetted_on=today,
            expires_on=today,
        )
    with pytest.raises(ValidationError):
        care_partner_vet(partner=world.other_partner, actor=world.caseworker, status="approved")


# --- PostgreSQL: approvals racing for one sub-ledger ------------------------------------------


def test_racing_approvals_reserve_exactly_what_fits(postgres_tx: None) -> None:
    """1,000.00 available; 12 trustees approve 12 requests of 150.00 at once: exactly 6 succeed
    (900.00), the others are refused for want of funds, and nothing is ever over-reserved."""
    w = make_world("race")
    trustees = [user(f"racer{n}", "trustee", w.trust) for n in range(12)]
    requests = [submitted(w, "150.00", f"r{n}") for n in range(12)]
    results = run_together(
        [
            (lambda r=r, t=t: request_approve(request=r, actor=t))
            for r, t in zip(requests, trustees, strict=True)
        ]
    )
    won = [r for r in results if isinstance(r, DisbursementRequest)]
    lost = [r for r in results if isinstance(r, ValidationError)]
    assert len(won) == 6 and len(lost) == 6, results
    assert all(e.code == "insufficient_funds" for e in lost)
    assert available(w.sub1) == usd("100.00")
    assert DisbursementRequest.objects.filter(status="approved").count() == 6


def test_racing_approval_and_cancellation_never_over_reserve(postgres_tx: None) -> None:
    """One approved request of 600.00 is cancelled while two of 500.00 are approved: at most
    one of those fits unless the cancellation came first; either way what is reserved never
    exceeds the balance."""
    w = make_world("cancel")
    t1, t2 = user("t-a", "trustee", w.trust), user("t-b", "trustee", w.trust)
    big = request_approve(request=submitted(w, "600.00", "big"), actor=w.trustee)
    a, b = submitted(w, "500.00", "a"), submitted(w, "500.00", "b")
    results = run_together(
        [
            lambda: request_cancel(request=big, actor=w.caseworker, reason="Not needed"),
            lambda: request_approve(request=a, actor=t1),
            lambda: request_approve(request=b, actor=t2),
        ]
    )
    assert isinstance(results[0], DisbursementRequest)
    for result in results[1:]:
        assert isinstance(result, DisbursementRequest) or result.code == "insufficient_funds"
    approved = [r for r in results[1:] if isinstance(r, DisbursementRequest)]
    # An approval that ran before the cancellation saw 400.00 free and was refused; after it,
    # 1,000.00. Whatever the interleaving, the reservations fit in the balance.
    assert available(w.sub1) == usd("1000.00") - len(approved) * usd("500.00")
    assert available(w.sub1) >= usd("0.00")


def test_only_a_trustee_records_partners_and_places_caseworkers(world: World) -> None:
    refused(
        "not_trustee",
        lambda: care_partner_create(actor=world.caseworker, name="Self-made Partner", country="PH"),
    )
    assert not CarePartner.objects.filter(name="Self-made Partner").exists()
    newcomer = user("newcomer")
    refused(
        "not_trustee",
        lambda: caseworker_add(partner=world.partner, user=newcomer, actor=world.caseworker),
    )


def test_a_deactivated_caseworker_can_no_longer_request(world: World) -> None:
    world.caseworker.is_active = False
    world.caseworker.save()
    with pytest.raises(ValidationError) as info:
        submitted(world)
    assert info.value.code == "not_caseworker"
    assert not DisbursementRequest.objects.exists()
