"""Beneficiaries, their encrypted identities and the people implicated in a case.

All names here are invented. No test prints a name; assertions about secrets compare stored values
with what the test wrote, they never show them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import TrustFactory, appoint
from trust import crypto
from trust.models import (
    Account,
    Beneficiary,
    BeneficiaryIdentity,
    IdentityReveal,
    ImplicatedPerson,
    Trust,
    VictimKind,
)
from trust.selectors import beneficiaries_reaching_majority
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    beneficiary_update,
    implicated_person_add,
    implicated_person_matches,
)

pytestmark = pytest.mark.django_db

LEGAL_NAME = "Invented Childname Testperson"
GUARDIAN = "Invented Guardian, +00 000 000 0000"
RELATIVE = "Zénobia Quillfeather-Inventa"


@pytest.fixture
def trust() -> Trust:
    return TrustFactory()


@pytest.fixture
def trustee(django_user_model: Any, trust: Trust) -> Any:
    # No password: hashing one costs most of a second, and no test signs in.
    return appoint(
        django_user_model.objects.create_user(username="trustee-one", password=None), trust
    )


def rows() -> tuple[int, int, int, int, int]:
    return (
        Beneficiary.objects.count(),
        Account.objects.count(),
        BeneficiaryIdentity.objects.count(),
        IdentityReveal.objects.count(),
        ImplicatedPerson.objects.count(),
    )


@contextmanager
def refused(where: str, match: str = "") -> Iterator[pytest.ExceptionInfo[ValidationError]]:
    """Refused with an error on field ``where`` (or with code ``where``), writing nothing."""
    before = rows()
    with pytest.raises(ValidationError) as info:
        yield info
    error = info.value
    if hasattr(error, "error_dict"):
        assert set(error.error_dict) == {where}, error.error_dict
    else:
        assert error.code == where, error
    if match:
        assert match in " ".join(error.messages), error.messages
    assert rows() == before


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (28 February for a 29 February that year lacks)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def set_majority_age(trust: Trust, age: int) -> None:
    Trust.objects.filter(pk=trust.pk).update(majority_age=age)
    trust.majority_age = age


# --- beneficiary_create ------------------------------------------------------------------------


def test_beneficiary_create_opens_a_sub_ledger_in_the_base_currency() -> None:
    trust = TrustFactory(base_currency="PHP")
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    sub = beneficiary.accounts.get()
    assert (sub.role, sub.type, sub.currency) == ("sub_ledger", "liability", "PHP")
    assert (sub.no_negative, sub.balance_minor, sub.trust) == (True, 0, trust)
    assert sub.code == "2100-MV-1"


def test_beneficiary_create_stores_the_fields(trust: Trust) -> None:
    beneficiary = beneficiary_create(
        trust=trust, pseudonym="  Minor Victim A ", date_of_birth=date(2014, 5, 1), country="ph"
    )
    beneficiary.refresh_from_db()
    assert (beneficiary.pseudonym, beneficiary.kind, beneficiary.country) == (
        "Minor Victim A",
        "individual",
        "PH",
    )


def test_beneficiary_create_refuses_a_pseudonym_already_used_in_the_trust(trust: Trust) -> None:
    beneficiary_create(trust=trust, pseudonym="MV-1")
    with refused("pseudonym", match="already a beneficiary"):
        beneficiary_create(trust=trust, pseudonym="MV-1")


def test_beneficiary_create_allows_the_same_pseudonym_in_another_trust(trust: Trust) -> None:
    first = beneficiary_create(trust=trust, pseudonym="MV-1")
    second = beneficiary_create(trust=TrustFactory(), pseudonym="MV-1")
    assert first.pk != second.pk
    assert second.accounts.get().code == "2100-MV-1"


@pytest.mark.parametrize(
    "pseudonym",
    ["", "   ", "-MV-1", "MV/1", "MV#1", "MV\n1", "M" * 51],
    ids=["empty", "blank", "leading-dash", "slash", "hash", "newline", "too-long"],
)
def test_beneficiary_create_refuses_a_bad_pseudonym(trust: Trust, pseudonym: str) -> None:
    with refused("pseudonym"):
        beneficiary_create(trust=trust, pseudonym=pseudonym)


def test_beneficiary_create_accepts_the_longest_pseudonym(trust: Trust) -> None:
    """Its sub-ledger's code ("2100-" and the pseudonym) fits the account code column."""
    beneficiary = beneficiary_create(trust=trust, pseudonym="M" * 50)
    assert beneficiary.accounts.get().code == "2100-" + "M" * 50


def test_beneficiary_create_gives_a_sub_ledger_a_free_code_when_its_own_is_taken(
    trust: Trust,
) -> None:
    """The code MV-1-PHP's sub-ledger would get is MV-1's peso sub-ledger's already."""
    mv1 = beneficiary_create(trust=trust, pseudonym="MV-1")
    Account.objects.create(
        trust=trust,
        code="2100-MV-1-PHP",
        name="Sub-ledger MV-1 (PHP)",
        type=Account.Type.LIABILITY,
        role=Account.Role.SUB_LEDGER,
        currency="PHP",
        beneficiary=mv1,
        no_negative=True,
    )
    other = beneficiary_create(trust=trust, pseudonym="MV-1-PHP")
    assert other.accounts.get().currency == "USD"
    assert other.accounts.get().code != "2100-MV-1-PHP"


@pytest.mark.parametrize("country", ["XX", "usa", "P", "1A"])
def test_beneficiary_create_refuses_a_bad_country(trust: Trust, country: str) -> None:
    with refused("country"):
        beneficiary_create(trust=trust, pseudonym="MV-1", country=country)


def test_beneficiary_create_refuses_a_date_of_birth_in_the_future(trust: Trust) -> None:
    with refused("date_of_birth", match="future"):
        beneficiary_create(
            trust=trust, pseudonym="MV-1", date_of_birth=timezone.localdate() + timedelta(days=1)
        )


@pytest.mark.parametrize("kind", [VictimKind.GOVERNMENT, VictimKind.INSURER])
def test_beneficiary_create_refuses_a_date_of_birth_for_an_organisation(
    trust: Trust, kind: str
) -> None:
    with refused("date_of_birth", match="Only individual"):
        beneficiary_create(
            trust=trust, pseudonym="Agency-1", kind=kind, date_of_birth=date(2000, 1, 1)
        )


def test_beneficiary_create_refuses_an_unknown_kind(trust: Trust) -> None:
    with refused("kind"):
        beneficiary_create(trust=trust, pseudonym="MV-1", kind="pet")


def test_beneficiary_create_refuses_an_unknown_status(trust: Trust) -> None:
    with refused("status"):
        beneficiary_create(trust=trust, pseudonym="MV-1", status="emancipated")


# --- status from the date of birth -------------------------------------------------------------


def test_beneficiary_is_a_minor_until_the_day_before_majority(trust: Trust) -> None:
    born = years_before(timezone.localdate(), 18) + timedelta(days=1)
    assert beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=born).status == "minor"


def test_beneficiary_is_an_adult_on_the_day_of_majority(trust: Trust) -> None:
    today = timezone.localdate()
    born = years_before(today, 18)
    if (born.month, born.day) != (today.month, today.day):
        pytest.skip("today is 29 February: covered by the 29 February tests")
    assert beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=born).status == "adult"


def test_beneficiary_status_follows_the_trust_s_majority_age(trust: Trust) -> None:
    set_majority_age(trust, 21)
    born = years_before(timezone.localdate(), 19)
    assert beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=born).status == "minor"


def test_beneficiary_without_a_date_of_birth_is_taken_to_be_a_minor(trust: Trust) -> None:
    assert beneficiary_create(trust=trust, pseudonym="MV-1").status == "minor"


def test_an_organisation_is_not_a_minor(trust: Trust) -> None:
    agency = beneficiary_create(trust=trust, pseudonym="Agency-1", kind=VictimKind.GOVERNMENT)
    assert agency.status == "adult"


def test_beneficiary_create_keeps_a_status_it_is_given(trust: Trust) -> None:
    born = years_before(timezone.localdate(), 30)
    beneficiary = beneficiary_create(
        trust=trust, pseudonym="MV-1", date_of_birth=born, status=Beneficiary.Status.CLOSED
    )
    assert beneficiary.status == "closed"


@pytest.mark.parametrize(
    ("born", "age", "expected"),
    [
        (date(2008, 2, 29), 18, date(2026, 3, 1)),  # 2026 has no 29 February
        (date(2008, 2, 29), 16, date(2024, 2, 29)),  # 2024 has one
        (date(2008, 2, 29), 21, date(2029, 3, 1)),
        (date(2010, 12, 31), 18, date(2028, 12, 31)),
        (date(2010, 3, 1), 18, date(2028, 3, 1)),
    ],
)
def test_majority_date(born: date, age: int, expected: date) -> None:
    assert Beneficiary(date_of_birth=born).majority_date(age) == expected


def test_majority_date_is_unknown_without_a_date_of_birth() -> None:
    assert Beneficiary().majority_date(18) is None


@pytest.mark.parametrize(
    ("today", "expected"),
    [(date(2026, 2, 28), "minor"), (date(2026, 3, 1), "adult")],
)
def test_a_29_february_birthday_comes_of_age_on_1_march(
    trust: Trust, monkeypatch: pytest.MonkeyPatch, today: date, expected: str
) -> None:
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: today)
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=date(2008, 2, 29))
    assert beneficiary.status == expected


# --- beneficiary_update ------------------------------------------------------------------------


def test_beneficiary_update_changes_country_and_status(trust: Trust) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    beneficiary_update(beneficiary=beneficiary, actor=None, country="kh", status="adult")
    beneficiary.refresh_from_db()
    assert (beneficiary.country, beneficiary.status) == ("KH", "adult")


def test_beneficiary_update_never_reopens_a_closed_beneficiary(trust: Trust) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    beneficiary_update(beneficiary=beneficiary, actor=None, status="closed")
    with refused("status", match="cannot be reopened"):
        beneficiary_update(beneficiary=beneficiary, actor=None, status="minor")
    beneficiary.refresh_from_db()
    assert beneficiary.status == "closed"


def test_beneficiary_update_never_reopens_a_closed_beneficiary_from_a_stale_copy(
    trust: Trust,
) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    stale = Beneficiary.objects.get(pk=beneficiary.pk)
    beneficiary_update(beneficiary=beneficiary, actor=None, status="closed")
    with refused("status", match="cannot be reopened"):
        beneficiary_update(beneficiary=stale, actor=None, status="adult")
    beneficiary.refresh_from_db()
    assert beneficiary.status == "closed"


def test_beneficiary_update_refuses_a_bad_country(trust: Trust) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1", country="PH")
    with refused("country"):
        beneficiary_update(beneficiary=beneficiary, actor=None, country="XX")
    beneficiary.refresh_from_db()
    assert beneficiary.country == "PH"


def test_beneficiary_update_refuses_a_date_of_birth_for_an_organisation(trust: Trust) -> None:
    agency = beneficiary_create(trust=trust, pseudonym="Agency-1", kind=VictimKind.GOVERNMENT)
    with refused("date_of_birth"):
        beneficiary_update(beneficiary=agency, actor=None, date_of_birth=date(2000, 1, 1))


def test_beneficiary_update_refuses_a_date_of_birth_in_the_future(trust: Trust) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    with refused("date_of_birth"):
        beneficiary_update(
            beneficiary=beneficiary,
            actor=None,
            date_of_birth=timezone.localdate() + timedelta(days=1),
        )


# --- identities --------------------------------------------------------------------------------


@pytest.fixture
def identified(trust: Trust) -> Beneficiary:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    beneficiary_identity_set(
        beneficiary=beneficiary, actor=None, legal_name=LEGAL_NAME, guardian_contact=GUARDIAN
    )
    return beneficiary


def test_identity_token_does_not_contain_the_details(identified: Beneficiary) -> None:
    token = BeneficiaryIdentity.objects.get(beneficiary=identified).token
    assert token.startswith("v1:")
    for secret in (LEGAL_NAME, GUARDIAN, "Childname", "Guardian", "legal_name"):
        assert secret.casefold() not in token.casefold()


def test_identity_set_again_replaces_the_details(identified: Beneficiary, trustee: Any) -> None:
    beneficiary_identity_set(beneficiary=identified, actor=trustee, legal_name="Invented Other")
    assert BeneficiaryIdentity.objects.filter(beneficiary=identified).count() == 1
    shown = beneficiary_identity_reveal(beneficiary=identified, actor=trustee, purpose="Audit")
    assert shown == {"legal_name": "Invented Other", "guardian_contact": ""}


def test_identity_set_refuses_an_overlong_value(trust: Trust) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    with refused("guardian_contact"):
        beneficiary_identity_set(beneficiary=beneficiary, actor=None, guardian_contact="x" * 501)


def test_identity_reveal_returns_the_details_and_records_the_reveal(
    identified: Beneficiary, trustee: Any
) -> None:
    shown = beneficiary_identity_reveal(
        beneficiary=identified, actor=trustee, purpose="Court order to verify the payee"
    )
    assert shown == {"legal_name": LEGAL_NAME, "guardian_contact": GUARDIAN}
    reveal = IdentityReveal.objects.get()
    assert (reveal.beneficiary, reveal.actor, reveal.purpose) == (
        identified,
        trustee,
        "Court order to verify the payee",
    )
    assert reveal.fields == ["legal_name", "guardian_contact"]
    assert reveal.revealed_at is not None


def test_identity_reveal_lists_only_the_fields_that_hold_something(
    trust: Trust, trustee: Any
) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    beneficiary_identity_set(beneficiary=beneficiary, actor=None, guardian_contact=GUARDIAN)
    beneficiary_identity_reveal(beneficiary=beneficiary, actor=trustee, purpose="Payment check")
    assert IdentityReveal.objects.get().fields == ["guardian_contact"]


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["none", "anonymous"])
def test_identity_reveal_refuses_without_a_signed_in_user(
    identified: Beneficiary, actor: Any
) -> None:
    with refused("no_actor"):
        beneficiary_identity_reveal(beneficiary=identified, actor=actor, purpose="Audit check")


@pytest.mark.parametrize("purpose", ["", "    ", "why"])
def test_identity_reveal_refuses_without_a_purpose(
    identified: Beneficiary, trustee: Any, purpose: str
) -> None:
    with refused("purpose"):
        beneficiary_identity_reveal(beneficiary=identified, actor=trustee, purpose=purpose)


def test_identity_reveal_of_nothing_stored_records_nothing(trust: Trust, trustee: Any) -> None:
    beneficiary = beneficiary_create(trust=trust, pseudonym="MV-1")
    assert (
        beneficiary_identity_reveal(beneficiary=beneficiary, actor=trustee, purpose="Audit") == {}
    )
    assert IdentityReveal.objects.count() == 0


def test_identity_token_copied_to_another_beneficiary_fails_to_decrypt(
    identified: Beneficiary, trust: Trust, trustee: Any
) -> None:
    other = beneficiary_create(trust=trust, pseudonym="MV-2")
    beneficiary_identity_set(beneficiary=other, actor=None, legal_name="Invented Second Child")
    token = BeneficiaryIdentity.objects.get(beneficiary=identified).token
    BeneficiaryIdentity.objects.filter(beneficiary=other).update(token=token)
    with pytest.raises(crypto.DecryptionError, match="does not belong"):
        beneficiary_identity_reveal(beneficiary=other, actor=trustee, purpose="Audit check")
    assert IdentityReveal.objects.count() == 0


# --- implicated people -------------------------------------------------------------------------


def test_implicated_person_matches_ignoring_case_accents_and_spacing(
    trust: Trust, trustee: Any
) -> None:
    person = implicated_person_add(
        trust=trust, actor=trustee, reference="Facilitator 1", name=RELATIVE
    )
    for spelling in (RELATIVE, "zenobia quillfeather-inventa", "  ZÉNOBIA   Quillfeather-INVENTA "):
        assert implicated_person_matches(trust=trust, name=spelling) == [person]


def test_implicated_person_does_not_match_another_name(trust: Trust) -> None:
    implicated_person_add(trust=trust, actor=None, reference="Facilitator 1", name=RELATIVE)
    assert implicated_person_matches(trust=trust, name="Zenobia Quillfeather") == []


def test_implicated_person_does_not_match_across_trusts(trust: Trust) -> None:
    implicated_person_add(trust=trust, actor=None, reference="Facilitator 1", name=RELATIVE)
    assert implicated_person_matches(trust=TrustFactory(), name=RELATIVE) == []


@pytest.mark.parametrize("name", ["", "   "])
def test_implicated_person_matches_nothing_for_a_blank_name(trust: Trust, name: str) -> None:
    implicated_person_add(trust=trust, actor=None, reference="Facilitator 1")
    assert implicated_person_matches(trust=trust, name=name) == []


def test_implicated_person_name_is_not_stored_in_clear(trust: Trust) -> None:
    person = implicated_person_add(
        trust=trust,
        actor=None,
        reference="Facilitator 1",
        name=RELATIVE,
        note="Invented note about the relative",
    )
    stored = ImplicatedPerson.objects.filter(pk=person.pk).values().get()
    text = " ".join(str(value) for value in stored.values()).casefold()
    for secret in (RELATIVE, "zenobia", "quillfeather", "invented note"):
        assert secret.casefold() not in text
    assert person.token.startswith("v1:")


def test_implicated_person_token_decrypts_only_for_its_own_row(trust: Trust) -> None:
    person = implicated_person_add(
        trust=trust, actor=None, reference="Facilitator 1", name=RELATIVE
    )
    other = implicated_person_add(trust=trust, actor=None, reference="Facilitator 2", name="X Y")
    assert RELATIVE in crypto.decrypt_text(person.token, context=f"implicated-person:{person.uid}")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_text(person.token, context=f"implicated-person:{other.uid}")


def test_implicated_person_without_a_name_has_no_index(trust: Trust) -> None:
    person = implicated_person_add(trust=trust, actor=None, reference="Facilitator 1")
    assert (person.token, person.name_index) == ("", "")


def test_implicated_person_add_refuses_a_repeated_reference(trust: Trust) -> None:
    implicated_person_add(trust=trust, actor=None, reference="Facilitator 1", name=RELATIVE)
    with refused("reference", match="already recorded"):
        implicated_person_add(trust=trust, actor=None, reference="  Facilitator   1 ")


def test_implicated_person_add_refuses_a_blank_reference(trust: Trust) -> None:
    with refused("reference"):
        implicated_person_add(trust=trust, actor=None, reference="  ", name=RELATIVE)


def test_implicated_person_add_refuses_a_name_that_is_only_accents(trust: Trust) -> None:
    with refused("name"):
        implicated_person_add(trust=trust, actor=None, reference="Facilitator 1", name="\u0301")


def test_implicated_person_matches_nothing_for_a_name_that_is_only_accents(trust: Trust) -> None:
    implicated_person_add(trust=trust, actor=None, reference="Facilitator 1", name=RELATIVE)
    assert implicated_person_matches(trust=trust, name="\u0301\u0300") == []


# --- beneficiaries_reaching_majority -----------------------------------------------------------


def minor_coming_of_age_in(trust: Trust, pseudonym: str, days: int) -> Beneficiary:
    """A minor whose majority (at the trust's age) is ``days`` from today."""
    born = years_before(date.today() + timedelta(days=days), trust.majority_age)
    return beneficiary_create(
        trust=trust, pseudonym=pseudonym, date_of_birth=born, status=Beneficiary.Status.MINOR
    )


def test_reaching_majority_lists_minors_due_within_the_window_soonest_first(trust: Trust) -> None:
    later = minor_coming_of_age_in(trust, "MV-1", 80)
    sooner = minor_coming_of_age_in(trust, "MV-2", 10)
    minor_coming_of_age_in(trust, "MV-3", 200)
    due = beneficiaries_reaching_majority(trust=trust, within_days=90)
    assert [(b, when) for b, when in due] == [
        (sooner, sooner.majority_date(18)),
        (later, later.majority_date(18)),
    ]


def test_reaching_majority_includes_minors_already_past_it(trust: Trust) -> None:
    overdue = minor_coming_of_age_in(trust, "MV-1", -5)
    assert [b for b, _ in beneficiaries_reaching_majority(trust=trust)] == [overdue]


def test_reaching_majority_leaves_out_adults_closed_and_undated(trust: Trust) -> None:
    soon = years_before(date.today() + timedelta(days=10), 18)
    beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=soon, status="adult")
    beneficiary_create(trust=trust, pseudonym="MV-2", date_of_birth=soon, status="closed")
    beneficiary_create(trust=trust, pseudonym="MV-3")
    beneficiary_create(trust=trust, pseudonym="Agency-1", kind=VictimKind.GOVERNMENT)
    assert beneficiaries_reaching_majority(trust=trust) == []


def test_reaching_majority_uses_the_trust_s_majority_age(trust: Trust) -> None:
    set_majority_age(trust, 21)
    at_21 = minor_coming_of_age_in(trust, "MV-1", 30)
    eighteen_soon = years_before(date.today() + timedelta(days=30), 18)
    beneficiary_create(trust=trust, pseudonym="MV-2", date_of_birth=eighteen_soon)
    assert [b for b, _ in beneficiaries_reaching_majority(trust=trust)] == [at_21]


def test_reaching_majority_does_not_list_another_trust_s_minors(trust: Trust) -> None:
    minor_coming_of_age_in(TrustFactory(), "MV-1", 10)
    assert beneficiaries_reaching_majority(trust=trust) == []
