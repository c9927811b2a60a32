"""The permission layer (trust.access): roles held per trust by appointment or through a care
partner, scoped querysets, one "not found" for what is missing or not yours, and appointments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from disbursements.services import caseworker_add
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import TrustFactory, appoint, beneficiary, person
from trust import access
from trust.models import Appointment, AuditEvent, Beneficiary, Trust
from trust.roles import ADMINISTRATOR, AUDITOR, CASEWORKER, TRUSTEE, Action
from trust.services.appointments import appointment_create, appointment_end

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


@pytest.fixture
def two() -> tuple[World, Trust]:
    """The disbursement world (trust A: MV-1 with the caseworker's partner, MV-2 with another)
    and a second trust B with a child of its own."""
    w = make_world()
    other = TrustFactory(caption="United States v. Another Invented")
    beneficiary(other, "MV-B1")
    return w, other


def test_a_trustee_holds_the_role_in_their_trust_only(two: tuple[World, Trust]) -> None:
    w, other = two
    assert access.roles_in(w.trustee, w.trust) == {TRUSTEE}
    assert access.roles_in(w.trustee, other) == frozenset()
    assert access.can(w.trustee, Action.LEDGER_VIEW, w.trust)
    assert not access.can(w.trustee, Action.TRUST_VIEW, other)
    assert list(access.visible_trusts(w.trustee)) == [w.trust]
    assert {b.pseudonym for b in access.visible_beneficiaries(w.trustee)} == {"MV-1", "MV-2"}


def test_an_appointment_holds_between_its_dates(two: tuple[World, Trust]) -> None:
    _, other = two
    later = person("later")
    Appointment.objects.create(
        user=later, trust=other, role=TRUSTEE, starts_on=TODAY() + timedelta(days=1)
    )
    ended = person("ended")
    Appointment.objects.create(
        user=ended,
        trust=other,
        role=TRUSTEE,
        starts_on=TODAY() - timedelta(days=30),
        ends_on=TODAY() - timedelta(days=1),
    )
    last_day = person("last-day")
    Appointment.objects.create(
        user=last_day, trust=other, role=AUDITOR, starts_on=TODAY(), ends_on=TODAY()
    )
    assert access.roles_in(later, other) == frozenset()
    assert access.roles_in(ended, other) == frozenset()
    assert access.roles_in(last_day, other) == {AUDITOR}


def test_a_caseworker_sees_only_their_partners_children_and_no_cash(
    two: tuple[World, Trust],
) -> None:
    w, other = two
    cw = w.caseworker
    assert access.roles_in(cw, w.trust) == {CASEWORKER}
    assert access.roles_in(cw, other) == frozenset()  # their partner serves no child there
    assert access.can(cw, Action.TRUST_VIEW, w.trust)
    assert not access.can(cw, Action.LEDGER_VIEW, w.trust)
    assert access.can(cw, Action.BENEFICIARY_VIEW, w.mv1)
    assert not access.can(cw, Action.BENEFICIARY_VIEW, w.mv2)
    assert [b.pseudonym for b in access.visible_beneficiaries(cw)] == ["MV-1"]
    accounts = access.visible_accounts(cw, Action.BENEFICIARY_VIEW)
    assert [a.code for a in accounts] == ["2100-MV-1"]
    assert not access.visible_accounts(cw).exists()  # the books: none


def test_a_caseworkers_requests_and_documents_are_theirs_only(two: tuple[World, Trust]) -> None:
    w, _ = two
    mine = submitted(w)
    stranger = person("stranger")
    caseworker_add(partner=w.other_partner, user=stranger, actor=w.trustee)
    assert list(access.visible_requests(w.caseworker)) == [mine]
    assert not access.visible_requests(stranger).exists()
    assert list(access.visible_requests(w.trustee)) == [mine]
    with pytest.raises(Http404):
        access.object_for(stranger, type(mine), mine.pk)


def test_a_superuser_administers_every_trust_but_reads_no_books(two: tuple[World, Trust]) -> None:
    w, other = two
    root = person("root", is_superuser=True, is_staff=True)
    assert access.roles_in(root, other) == {ADMINISTRATOR}
    assert set(access.visible_trusts(root)) == {w.trust, other}
    assert not access.visible_beneficiaries(root).exists()
    assert not access.visible_requests(root).exists()
    assert not access.can(root, Action.LEDGER_VIEW, w.trust)
    assert not access.can(root, Action.REQUEST_DECIDE, submitted(w))
    assert access.can(root, Action.APPOINTMENT_MANAGE, other)


def test_nobody_signed_out_or_inactive_holds_anything(two: tuple[World, Trust]) -> None:
    w, _ = two
    gone = person("gone")
    appoint(gone, w.trust)
    gone.is_active = False
    gone.save()
    for user in (AnonymousUser(), None, gone):
        assert access.roles_in(user, w.trust) == frozenset()
        assert not access.visible_trusts(user).exists()
        assert not access.can(user, Action.TRUST_VIEW, w.trust)


def test_trust_for_is_not_found_for_missing_and_not_yours_alike(two: tuple[World, Trust]) -> None:
    w, other = two
    assert access.trust_for(w.trustee, w.trust.pk) == w.trust
    for missing in (other.pk, other.pk + 1000):
        with pytest.raises(Http404):
            access.trust_for(w.trustee, missing)


def test_require_refuses_with_the_given_code_and_lets_the_system_through(
    two: tuple[World, Trust],
) -> None:
    w, other = two
    with pytest.raises(ValidationError) as info:
        access.require(w.trustee, Action.RECEIPT_MANAGE, other, "No.", "not_trustee")
    assert info.value.code == "not_trustee"
    access.require(None, Action.RECEIPT_MANAGE, other, system=True)
    with pytest.raises(ValidationError):
        access.require(None, Action.RECEIPT_MANAGE, other)


def test_audit_events_of_other_trusts_and_of_no_trust_are_hidden(
    two: tuple[World, Trust],
) -> None:
    w, other = two
    mine = access.visible_audit_events(w.trustee)
    assert mine.exists()
    assert not mine.filter(trust_id=other.pk).exists()
    assert not mine.filter(trust_id__isnull=True).exists()
    assert not access.audits_everything(w.trustee)
    appoint(w.trustee, other, AUDITOR)
    assert access.audits_everything(w.trustee)
    assert access.visible_audit_events(w.trustee).count() == AuditEvent.objects.count()


def test_alerts_go_to_the_trusts_own_people(two: tuple[World, Trust]) -> None:
    w, other = two
    for user, trust, role in [(w.trustee, w.trust, None), (person("b"), other, AUDITOR)]:
        user.email = f"{user.username}@example.invalid"
        user.save()
        if role:
            appoint(user, trust, role)
    assert access.alert_emails(trust=other) == ["b@example.invalid"]
    assert sorted(access.alert_emails()) == [
        "b@example.invalid",
        f"{w.trustee.username}@example.invalid",
    ]


# --- appointments -------------------------------------------------------------------------------


def test_an_appointment_is_recorded_in_the_audit_trail(two: tuple[World, Trust]) -> None:
    _, other = two
    user = person("new-auditor")
    appointment = appointment_create(trust=other, user=user, role=AUDITOR, actor=None)
    event = AuditEvent.objects.filter(action="appointment.created").latest("id")
    assert event.trust_id == other.pk and event.object_id == str(appointment.pk)
    appointment_end(appointment=appointment, actor=None, reason="Term over")
    assert AuditEvent.objects.filter(action="appointment.ended", trust_id=other.pk).exists()
    assert access.roles_in(user, other) == {AUDITOR}  # the last day is today


def test_only_an_administrator_of_the_trust_appoints(two: tuple[World, Trust]) -> None:
    w, other = two
    user = person("candidate")
    with pytest.raises(ValidationError) as info:
        appointment_create(trust=w.trust, user=user, role=AUDITOR, actor=w.trustee)
    assert info.value.code == "not_administrator"
    admin_a = person("admin-a")
    appoint(admin_a, w.trust, ADMINISTRATOR)
    appointment_create(trust=w.trust, user=user, role=AUDITOR, actor=admin_a)
    with pytest.raises(ValidationError):
        appointment_create(trust=other, user=user, role=AUDITOR, actor=admin_a)
    root = person("root", is_superuser=True)
    appointment_create(trust=other, user=user, role=AUDITOR, actor=root)
    assert access.roles_in(user, other) == {AUDITOR}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "caseworker"}, "role"),
        ({"role": "owner"}, "role"),
        ({"ends_on": TODAY() - timedelta(days=1)}, "ends_on"),
    ],
)
def test_a_bad_appointment_is_refused_and_writes_nothing(
    two: tuple[World, Trust], changes: dict[str, Any], field: str
) -> None:
    _, other = two
    values = {"trust": other, "user": person("x"), "role": AUDITOR, "actor": None, **changes}
    before = (Appointment.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as info:
        appointment_create(**values)
    assert field in info.value.error_dict
    assert (Appointment.objects.count(), AuditEvent.objects.count()) == before


def test_an_overlapping_appointment_to_the_same_role_is_refused(two: tuple[World, Trust]) -> None:
    w, _ = two
    with pytest.raises(ValidationError) as info:
        appointment_create(trust=w.trust, user=w.trustee, role=TRUSTEE, actor=None)
    assert info.value.code == "overlap"
    appointment_create(trust=w.trust, user=w.trustee, role=AUDITOR, actor=None)  # another role


def test_an_inactive_user_is_not_appointed(two: tuple[World, Trust]) -> None:
    _, other = two
    gone = person("gone2", is_active=False)
    with pytest.raises(ValidationError):
        appointment_create(trust=other, user=gone, role=AUDITOR, actor=None)
    assert not Beneficiary.objects.filter(trust=other, pseudonym="MV-1").exists()


def test_a_services_trustee_check_costs_one_query_outside_a_request(
    two: tuple[World, Trust], django_assert_num_queries
) -> None:
    w, other = two
    with django_assert_num_queries(1):
        assert access.is_trustee(w.trustee, w.trust)
    with django_assert_num_queries(1):
        assert not access.is_trustee(w.trustee, other)
    with django_assert_num_queries(1):
        assert access.holds(w.trustee, TRUSTEE)
    with django_assert_num_queries(1):
        assert not access.holds(w.caseworker, TRUSTEE)
    root = person("root-q", is_superuser=True)
    with django_assert_num_queries(0):
        assert access.holds(root, ADMINISTRATOR)
    # Inside a web request the grants are read once, and each check then costs nothing.
    with access.grants_cached():
        access.is_trustee(w.trustee, w.trust)
        with django_assert_num_queries(0):
            assert access.is_trustee(w.trustee, w.trust) and access.holds(w.trustee, TRUSTEE)
