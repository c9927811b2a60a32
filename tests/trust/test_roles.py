"""The roles as data (trust.roles): every role and action has a row, and the rows say what
DOMAIN.md says each role may do."""

from __future__ import annotations

from trust import roles
from trust.countries import COUNTRY_CODES, country_name
from trust.roles import ADMINISTRATOR, AUDITOR, CASEWORKER, MAY, TRUSTEE, Action, may


def test_every_action_has_a_rule_and_every_rule_names_known_roles() -> None:
    assert set(MAY) == set(Action)
    for action, holders in MAY.items():
        assert holders <= set(roles.ROLES), action


def test_auditors_read_and_change_nothing() -> None:
    reads = {Action.TRUST_VIEW, Action.LEDGER_VIEW, Action.BENEFICIARY_VIEW, Action.REQUEST_VIEW}
    reads |= {Action.REPORT_VIEW, Action.REPORT_REQUEST, Action.AUDIT_VIEW, Action.VIEW_LOG}
    assert {a for a in Action if may(AUDITOR, a)} == reads


def test_identity_is_revealed_by_trustees_and_caseworkers_and_the_log_read_by_readers() -> None:
    assert MAY[Action.IDENTITY_REVEAL] == {TRUSTEE, CASEWORKER}
    assert MAY[Action.VIEW_LOG] == {TRUSTEE, AUDITOR}


def test_administrators_manage_appointments_never_money_nor_children() -> None:
    assert {a for a in Action if may(ADMINISTRATOR, a)} == {
        Action.TRUST_VIEW,
        Action.APPOINTMENT_MANAGE,
    }


def test_segregation_of_duties_in_the_rules() -> None:
    assert may(CASEWORKER, Action.REQUEST_DRAFT) and not may(TRUSTEE, Action.REQUEST_DRAFT)
    assert may(TRUSTEE, Action.REQUEST_DECIDE) and not may(CASEWORKER, Action.REQUEST_DECIDE)
    assert not may(CASEWORKER, Action.LEDGER_VIEW)
    assert not may(TRUSTEE, Action.APPOINTMENT_MANAGE)


def test_country_codes_come_from_iso_3166() -> None:
    assert {"PH", "KH", "TH", "VN", "US"} <= COUNTRY_CODES
    assert "XX" not in COUNTRY_CODES and "UK" not in COUNTRY_CODES
    assert len(COUNTRY_CODES) == 249
    assert country_name("ph") == "Philippines"
    assert country_name("XX") == "XX"
