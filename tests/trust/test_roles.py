"""Role names and checks (trust.roles): the one place that says who is a trustee, who reads
everything and who is alerted."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User

from trust import roles
from trust.countries import COUNTRY_CODES, country_name

pytestmark = pytest.mark.django_db


def person(username: str, *groups: str, **fields: object) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@example.invalid")
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def test_role_names_are_the_groups_the_demo_and_the_admin_use() -> None:
    assert roles.ROLES == ("trustee", "auditor", "caseworker")
    assert set(roles.READERS) == {roles.TRUSTEE, roles.AUDITOR}


def test_is_trustee_only_for_an_active_member_of_the_trustee_group() -> None:
    assert roles.is_trustee(person("t", roles.TRUSTEE))
    assert not roles.is_trustee(person("a", roles.AUDITOR))
    assert not roles.is_trustee(person("gone", roles.TRUSTEE, is_active=False))
    assert not roles.is_trustee(AnonymousUser())
    assert not roles.is_trustee(None)


def test_a_superuser_is_no_trustee_but_reads_everything() -> None:
    root = person("root", is_superuser=True)
    assert not roles.is_trustee(root)
    assert roles.reads_everything(root)


def test_reads_everything_for_trustees_and_auditors_not_caseworkers() -> None:
    assert roles.reads_everything(person("t", roles.TRUSTEE))
    assert roles.reads_everything(person("a", roles.AUDITOR))
    assert not roles.reads_everything(person("c", roles.CASEWORKER))
    assert not roles.reads_everything(person("nobody"))
    assert not roles.reads_everything(AnonymousUser())


def test_role_emails_each_active_address_once() -> None:
    person("t", roles.TRUSTEE, roles.AUDITOR)  # in both groups: one address
    person("a", roles.AUDITOR)
    person("gone", roles.TRUSTEE, is_active=False)
    person("mute", roles.TRUSTEE, email="")
    person("c", roles.CASEWORKER)
    assert sorted(roles.role_emails()) == ["a@example.invalid", "t@example.invalid"]


def test_country_codes_come_from_iso_3166() -> None:
    assert {"PH", "KH", "TH", "VN", "US"} <= COUNTRY_CODES
    assert "XX" not in COUNTRY_CODES and "UK" not in COUNTRY_CODES
    assert len(COUNTRY_CODES) == 249
    assert country_name("ph") == "Philippines"
    assert country_name("XX") == "XX"
