"""Scheduled notices: a child reaching majority and a partner's vetting expiring tell the trust's
own trustees, each person once however often the schedule runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from disbursements.services import care_partner_create, care_partner_vet
from disbursements.services.notifications import vetting_expiry_notify
from disbursements.tasks import notify_vetting_expiry_task
from tests.factories import TrustFactory, person
from trust.models import Notice
from trust.roles import AUDITOR, TRUSTEE
from trust.services.notices import majority_notify
from trust.services.people import beneficiary_create
from trust.tasks import notify_majority_task

pytestmark = pytest.mark.django_db


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@pytest.fixture
def trusts():
    a, b = TrustFactory(), TrustFactory()
    people = {
        "a": person("trustee-a", TRUSTEE, a, email="a@example.invalid"),
        "auditor": person("auditor-a", AUDITOR, a, email="auditor@example.invalid"),
        "b": person("trustee-b", TRUSTEE, b, email="b@example.invalid"),
    }
    return a, b, people


def test_a_child_reaching_majority_tells_the_trusts_trustees_once(trusts) -> None:
    a, _, _ = trusts
    soon = years_before(timezone.localdate() + timedelta(days=30), 18)
    beneficiary_create(trust=a, pseudonym="MV-1", date_of_birth=soon)
    beneficiary_create(trust=a, pseudonym="MV-2", date_of_birth=date(2020, 1, 1))  # years away
    assert majority_notify() == 1
    assert notify_majority_task.delay().get() == 0  # the schedule ran again: nothing new
    [message] = mail.outbox
    assert message.to == ["a@example.invalid"]  # not the auditor, not another trust's trustee
    assert message.subject == "MV-1 reaches majority within 90 days"
    majority = timezone.localdate() + timedelta(days=30)
    for day in (soon, majority):  # neither the date of birth nor the day it gives away
        assert day.isoformat() not in message.subject + message.body
    assert Notice.objects.get().trust == a


def test_a_partner_whose_vetting_expires_tells_the_trustees_it_serves(trusts) -> None:
    a, _, people = trusts
    today = timezone.localdate()
    expiring = care_partner_create(
        actor=people["a"], name="Invented Expiring Partner", country="PH"
    )
    care_partner_vet(
        partner=expiring,
        actor=people["a"],
        status="approved",
        vetted_on=today - timedelta(days=300),
        expires_on=today + timedelta(days=20),
    )
    lasting = care_partner_create(actor=people["a"], name="Invented Lasting Partner", country="PH")
    care_partner_vet(
        partner=lasting,
        actor=people["a"],
        status="approved",
        vetted_on=today,
        expires_on=today + timedelta(days=300),
    )
    beneficiary_create(trust=a, pseudonym="MV-1", care_partner=expiring)
    beneficiary_create(trust=a, pseudonym="MV-2", care_partner=lasting)
    assert vetting_expiry_notify() == 1
    assert notify_vetting_expiry_task.delay().get() == 0
    [message] = mail.outbox
    assert message.to == ["a@example.invalid"]
    assert "Invented Expiring Partner" in message.subject


def test_a_notice_to_someone_without_an_address_is_not_recorded(trusts) -> None:
    a, _, people = trusts
    people["a"].email = ""
    people["a"].save()
    soon = years_before(timezone.localdate() + timedelta(days=10), 18)
    beneficiary_create(trust=a, pseudonym="MV-1", date_of_birth=soon)
    assert majority_notify() == 0
    assert not Notice.objects.exists()
