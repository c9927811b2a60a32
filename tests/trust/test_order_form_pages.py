"""The order form: a trustee types an order's judgment and its lines (or an amended judgment,
starting from the current version); the order service records it all or nothing, and a refusal
comes back on the field or row it is about, with everything typed kept and nothing written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from moneyed import Money

from tests.factories import TrustFactory, appoint, person
from trust.audit.models import AuditEvent
from trust.models import Beneficiary, Defendant, OrderLine, RestitutionOrder, Trust
from trust.roles import AUDITOR, TRUSTEE
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create

pytestmark = pytest.mark.django_db

COURT = "District Court for the Fictional District"
CASE = "1:25-cr-00042"
ROWS = 5


@dataclass
class Case:
    trust: Trust
    trustee: Client
    d1: Defendant
    d2: Defendant
    mv1: Beneficiary
    mv2: Beneficiary


@pytest.fixture
def case(settings: Any, tmp_path: Any) -> Case:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name="Invented Defendant One")
    d2 = defendant_create(trust=trust, name="Invented Defendant Two")
    mv1 = beneficiary_create(trust=trust, pseudonym="MV-1")
    mv2 = beneficiary_create(trust=trust, pseudonym="MV-2")
    trustee = Client()
    trustee.force_login(appoint(person("trustee-order-form"), trust))
    return Case(trust, trustee, d1, d2, mv1, mv2)


def order_data(
    lines: dict[int, dict[str, Any]], total: str = "15000.01", rows: int = ROWS, **header: str
) -> dict[str, Any]:
    """What the browser posts: the judgment, then ``rows`` line rows (``lines`` by row index;
    the others left empty)."""
    data: dict[str, Any] = {
        "court": COURT,
        "case_number": CASE,
        "judgment_date": "2025-03-01",
        "total_0": total,
        "total_1": "USD",
        "document_reference": "ECF No. 87",
        "payment_terms": "lump_sum",
        "schedule_note": "",
        "first_payment_due": "",
        "lines-TOTAL_FORMS": str(rows),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "500",
        **header,
    }
    for row in range(rows):
        line = lines.get(row, {})
        data[f"lines-{row}-beneficiary"] = line.get("beneficiary", "")
        data[f"lines-{row}-amount_0"] = line.get("amount", "")
        data[f"lines-{row}-amount_1"] = "USD"
        data[f"lines-{row}-defendants"] = line.get("defendants", [])
        data[f"lines-{row}-liability"] = line.get("liability", "")
    return data


def two_lines(c: Case) -> dict[int, dict[str, Any]]:
    """MV-1 owed 10,000.00 by both defendants jointly; MV-2 owed 5,000.01 by D1 alone (row 2:
    the empty row 1 between them is no line)."""
    return {
        0: {"beneficiary": c.mv1.pk, "amount": "10000.00", "defendants": [c.d1.pk, c.d2.pk]},
        2: {"beneficiary": c.mv2.pk, "amount": "5000.01", "defendants": [c.d1.pk]},
    }


def written() -> tuple[int, int, int]:
    return (
        RestitutionOrder.objects.count(),
        OrderLine.objects.count(),
        OrderLine.defendants.through.objects.count(),
    )


def page_text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def test_the_form_starts_with_five_empty_rows(case: Case) -> None:
    response = case.trustee.get(reverse("order-new", args=[case.trust.pk]))
    assert response.status_code == 200
    assert response.context["lines"].total_form_count() == ROWS
    page = page_text(response)
    assert 'aria-label="Line 5: beneficiary"' in page and "Line 6:" not in page


def test_an_order_with_two_lines_is_recorded_to_the_cent(case: Case) -> None:
    response = case.trustee.post(
        reverse("order-new", args=[case.trust.pk]), order_data(two_lines(case))
    )
    order = RestitutionOrder.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("order-detail", args=[case.trust.pk, order.pk])
    assert (order.court, order.case_number, order.judgment_date) == (COURT, CASE, date(2025, 3, 1))
    assert order.total_minor == 1_500_001 and order.currency == "USD" and order.version == 1
    lines = list(order.lines.order_by("position"))
    assert [(x.position, x.beneficiary_id, x.amount_minor, x.currency) for x in lines] == [
        (1, case.mv1.pk, 1_000_000, "USD"),
        (2, case.mv2.pk, 500_001, "USD"),
    ]
    assert [x.liability for x in lines] == ["joint", "several"]
    assert {d.pk for d in lines[0].defendants.all()} == {case.d1.pk, case.d2.pk}
    assert lines[1].amount == Money("5000.01", "USD")
    event = AuditEvent.objects.get(action="order.recorded", object_id=str(order.pk))
    assert event.trust_id == case.trust.pk
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Order recorded: 2 line(s), 15,000.01 USD."
    ]


def test_more_lines_adds_rows_and_keeps_what_was_typed(case: Case) -> None:
    data = order_data(two_lines(case), more="1")
    response = case.trustee.post(reverse("order-new", args=[case.trust.pk]), data)
    assert response.status_code == 200
    assert response.context["lines"].total_form_count() == ROWS + 5
    page = page_text(response)
    assert 'value="5000.01"' in page and f'value="{CASE}"' in page
    assert "Line 10: beneficiary" in page and "This field is required" not in page
    assert written() == (0, 0, 0)


def test_an_amended_judgment_starts_from_the_current_version_and_supersedes_it(
    case: Case,
) -> None:
    first = order_create(
        trust=case.trust,
        actor=None,
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=Money("15000.01", "USD"),
        lines=[
            LineSpec(case.mv1, Money("10000.00", "USD"), [case.d1, case.d2]),
            LineSpec(case.mv2, Money("5000.01", "USD"), [case.d1]),
        ],
    )
    url = reverse("order-amend", args=[case.trust.pk, first.pk])
    shown = case.trustee.get(url)
    assert shown.status_code == 200
    prefilled = shown.context["lines"]
    assert prefilled.total_form_count() == 2 + ROWS
    assert prefilled.forms[1].initial["beneficiary"] == case.mv2.pk
    assert 'value="10000.00"' in page_text(shown) and 'value="15000.01"' in page_text(shown)

    data = order_data(
        {
            0: {"beneficiary": case.mv1.pk, "amount": "8000.00", "defendants": [case.d1.pk]},
            1: {"beneficiary": case.mv2.pk, "amount": "5000.01", "defendants": [case.d1.pk]},
        },
        total="13000.01",
        judgment_date="2025-06-01",
        reason="The court reduced MV-1's award on appeal.",
    )
    response = case.trustee.post(url, data)
    amended = RestitutionOrder.objects.get(supersedes=first)
    assert response.status_code == 302 and response["Location"].endswith(f"/{amended.pk}/")
    first.refresh_from_db()
    assert first.status == RestitutionOrder.Status.SUPERSEDED
    assert amended.version == 2 and amended.status == RestitutionOrder.Status.CURRENT
    assert (amended.court, amended.case_number) == (COURT, CASE)
    assert amended.reason == "The court reduced MV-1's award on appeal."
    assert [x.amount_minor for x in amended.lines.order_by("position")] == [800_000, 500_001]
    assert AuditEvent.objects.filter(action="order.amended", object_id=str(amended.pk)).exists()
    # The superseded version is no longer offered for amendment.
    again = case.trustee.get(url)
    assert again.status_code == 302 and not RestitutionOrder.objects.filter(version=3).exists()


def test_an_amendment_without_a_reason_is_refused(case: Case) -> None:
    first = order_create(
        trust=case.trust,
        actor=None,
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=Money("100.00", "USD"),
        lines=[LineSpec(case.mv1, Money("100.00", "USD"), [case.d1])],
    )
    data = order_data(
        {0: {"beneficiary": case.mv1.pk, "amount": "90.00", "defendants": [case.d1.pk]}},
        total="90.00",
        reason="",
    )
    response = case.trustee.post(reverse("order-amend", args=[case.trust.pk, first.pk]), data)
    assert response.status_code == 400 and response.context["form"].errors["reason"]
    assert RestitutionOrder.objects.get().status == RestitutionOrder.Status.CURRENT


def other_trust_beneficiary(case: Case) -> int:
    return beneficiary_create(trust=TrustFactory(), pseudonym="MV-B1").pk


BAD = {
    "three decimals": (
        lambda c: {0: {"beneficiary": c.mv1.pk, "amount": "100.005", "defendants": [c.d1.pk]}},
        "100.005",
        {},
        (0, "amount", "more than 2 decimal places"),
    ),
    "negative amount": (
        lambda c: {0: {"beneficiary": c.mv1.pk, "amount": "-5.00", "defendants": [c.d1.pk]}},
        "-5.00",
        {},
        (0, "amount", "greater than or equal to 0"),
    ),
    "unknown beneficiary": (
        lambda c: {0: {"beneficiary": 999_999, "amount": "100.00", "defendants": [c.d1.pk]}},
        "100.00",
        {},
        (0, "beneficiary", "Choose one of this trust's beneficiaries."),
    ),
    "another trust's beneficiary": (
        lambda c: {
            0: {
                "beneficiary": other_trust_beneficiary(c),
                "amount": "100.00",
                "defendants": [c.d1.pk],
            }
        },
        "100.00",
        {},
        (0, "beneficiary", "Choose one of this trust's beneficiaries."),
    ),
    "a row half filled": (
        lambda c: {0: {"beneficiary": c.mv1.pk, "amount": "100.00"}},
        "100.00",
        {},
        (0, "defendants", "Tick the defendant(s) who owe it."),
    ),
    "no lines": (lambda c: {}, "100.00", {}, (None, None, "An order needs at least one line.")),
    "blank court": (
        lambda c: {0: {"beneficiary": c.mv1.pk, "amount": "100.00", "defendants": [c.d1.pk]}},
        "100.00",
        {"court": ""},
        (None, "court", "This field is required."),
    ),
    "joint liability with one defendant, after an empty row": (
        lambda c: {
            0: {"beneficiary": c.mv2.pk, "amount": "40.00", "defendants": [c.d1.pk]},
            2: {
                "beneficiary": c.mv1.pk,
                "amount": "60.00",
                "defendants": [c.d1.pk],
                "liability": "joint",
            },
        },
        "100.00",
        {},
        (2, "liability", "joint and several liability needs two or more defendants"),
    ),
    "a total that is not the sum of the lines": (
        lambda c: {0: {"beneficiary": c.mv1.pk, "amount": "99.99", "defendants": [c.d1.pk]}},
        "99.99",
        {"total_0": "100.00"},
        (None, "total", "does not match its lines"),
    ),
}


@pytest.mark.parametrize("bad", BAD, ids=list(BAD))
def test_a_bad_order_is_refused_on_its_field_and_nothing_written(case: Case, bad: str) -> None:
    lines, typed, header, (row, field, message) = BAD[bad]
    data = order_data(lines(case), total="100.00", **header)
    before = written()
    response = case.trustee.post(reverse("order-new", args=[case.trust.pk]), data)
    assert response.status_code == 400
    assert written() == before == (0, 0, 0)
    target = response.context["form"] if row is None else response.context["lines"].forms[row]
    errors = target.errors.get(field or "__all__", [])
    assert any(message in error for error in errors), target.errors
    page = page_text(response)
    assert "Nothing was recorded" in page
    assert f'value="{typed}"' in page and f'value="{CASE}"' in page
    assert 'value="ECF No. 87"' in page


def test_an_auditor_may_not_record_or_amend_an_order(case: Case) -> None:
    auditor = Client()
    auditor.force_login(person("auditor-order-form", AUDITOR, case.trust))
    url = reverse("order-new", args=[case.trust.pk])
    assert auditor.get(url).status_code == 403
    assert auditor.post(url, order_data(two_lines(case))).status_code == 403
    order = order_create(
        trust=case.trust,
        actor=None,
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=Money("100.00", "USD"),
        lines=[LineSpec(case.mv1, Money("100.00", "USD"), [case.d1])],
    )
    assert auditor.get(reverse("order-amend", args=[case.trust.pk, order.pk])).status_code == 403
    assert RestitutionOrder.objects.count() == 1


def test_a_trustee_of_another_trust_finds_no_order_form(case: Case) -> None:
    stranger = Client()
    stranger.force_login(person("trustee-elsewhere", TRUSTEE, TrustFactory()))
    url = reverse("order-new", args=[case.trust.pk])
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, order_data(two_lines(case))).status_code == 404
    assert written() == (0, 0, 0)


def test_the_order_pages_link_to_the_form_for_a_trustee_only(case: Case) -> None:
    order = order_create(
        trust=case.trust,
        actor=None,
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=Money("100.00", "USD"),
        lines=[LineSpec(case.mv1, Money("100.00", "USD"), [case.d1])],
    )
    listing = case.trustee.get(reverse("order-list", args=[case.trust.pk])).content.decode()
    detail = case.trustee.get(reverse("order-detail", args=[case.trust.pk, order.pk]))
    assert reverse("order-new", args=[case.trust.pk]) in listing
    assert reverse("order-amend", args=[case.trust.pk, order.pk]) in detail.content.decode()
    auditor = Client()
    auditor.force_login(person("auditor-links", AUDITOR, case.trust))
    seen = auditor.get(reverse("order-detail", args=[case.trust.pk, order.pk])).content.decode()
    assert reverse("order-amend", args=[case.trust.pk, order.pk]) not in seen
