"""Restitution orders: ``order_create``, ``order_amend`` and the outstanding selectors.

Every refusal is checked to have written nothing (orders, lines and their defendant links).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from moneyed import Money

from tests.factories import TrustFactory
from trust.models import (
    Account,
    Beneficiary,
    Defendant,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
    VictimKind,
)
from trust.selectors import (
    defendant_outstanding,
    order_lines,
    order_list,
    outstanding_by_beneficiary,
    outstanding_by_defendant,
)
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record

pytestmark = pytest.mark.django_db

JUDGMENT = date(2025, 3, 1)


def usd(value: str) -> Money:
    return Money(value, "USD")


@dataclass
class Case:
    trust: Trust
    d1: Defendant
    d2: Defendant
    mv1: Beneficiary
    mv2: Beneficiary


@pytest.fixture
def case() -> Case:
    trust = TrustFactory()
    return Case(
        trust=trust,
        d1=defendant_create(trust=trust, name="Invented Defendant One"),
        d2=defendant_create(trust=trust, name="Invented Defendant Two"),
        mv1=beneficiary_create(trust=trust, pseudonym="MV-1", date_of_birth=date(2014, 5, 1)),
        mv2=beneficiary_create(trust=trust, pseudonym="MV-2", date_of_birth=date(2015, 7, 9)),
    )


def create(
    case: Case, *, lines: list[LineSpec] | None = None, **overrides: Any
) -> RestitutionOrder:
    """The case's standard order (MV-1 10,000.00 joint D1+D2; MV-2 5,000.00 D1), or as told."""
    arguments: dict[str, Any] = {
        "trust": case.trust,
        "actor": None,
        "court": "District Court for the Fictional District",
        "case_number": "1:25-cr-00001",
        "judgment_date": JUDGMENT,
        "total": usd("15000.00"),
        "lines": lines
        if lines is not None
        else [
            LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1, case.d2]),
            LineSpec(beneficiary=case.mv2, amount=usd("5000.00"), defendants=[case.d1]),
        ],
    }
    arguments.update(overrides)
    return order_create(**arguments)


def amend(
    order: RestitutionOrder, lines: list[LineSpec], total: str | Money, **overrides: Any
) -> RestitutionOrder:
    arguments: dict[str, Any] = {
        "order": order,
        "actor": None,
        "reason": "Amended judgment, ECF No. 120",
        "judgment_date": date(2025, 5, 1),
        "total": total if isinstance(total, Money) else usd(total),
        "lines": lines,
    }
    arguments.update(overrides)
    return order_amend(**arguments)


def pay(case: Case, payer: Defendant, amount: str, key: str) -> Receipt:
    return receipt_record(
        trust=case.trust,
        actor=None,
        amount=usd(amount),
        received_on=date(2025, 6, 1),
        source=Receipt.Source.CLERK,
        bank_account=case.trust.accounts.get(role=Account.Role.BANK),
        payer=payer,
        idempotency_key=key,
    )


def rows() -> tuple[int, int, int, int]:
    return (
        RestitutionOrder.objects.count(),
        OrderLine.objects.count(),
        OrderLine.defendants.through.objects.count(),
        RestitutionOrder.defendants.through.objects.count(),
    )


@contextmanager
def refused(where: str, match: str = "") -> Iterator[pytest.ExceptionInfo[ValidationError]]:
    """The call inside is refused with an error on field ``where`` (or, for an error about no
    one field, with code ``where``), a message containing ``match``, and no order, line or
    defendant link is written."""
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


# --- order_create: good paths ------------------------------------------------------------------


def test_order_create_writes_the_order_and_its_lines(case: Case) -> None:
    order = create(case, document_reference="ECF No. 87")
    assert (order.version, order.status, order.currency) == (1, "current", "USD")
    assert order.total == usd("15000.00")
    assert order.supersedes is None
    assert order.document_reference == "ECF No. 87"
    lines = list(order_lines(order=order))
    assert [(line.position, line.beneficiary, line.amount) for line in lines] == [
        (1, case.mv1, usd("10000.00")),
        (2, case.mv2, usd("5000.00")),
    ]
    assert all(line.collected_minor == 0 and line.carried_from is None for line in lines)


def test_order_create_derives_liability_from_the_number_of_defendants(case: Case) -> None:
    order = create(case)
    joint, several = order_lines(order=order)
    assert joint.liability == OrderLine.Liability.JOINT
    assert set(joint.defendants.all()) == {case.d1, case.d2}
    assert several.liability == OrderLine.Liability.SEVERAL
    assert list(several.defendants.all()) == [case.d1]


def test_order_create_names_every_defendant_on_the_order(case: Case) -> None:
    order = create(case)
    assert set(order.defendants.all()) == {case.d1, case.d2}


def test_order_create_accepts_a_stated_liability_that_fits(case: Case) -> None:
    order = create(
        case,
        total=usd("100.00"),
        lines=[
            LineSpec(
                beneficiary=case.mv1,
                amount=usd("100.00"),
                defendants=[case.d1, case.d2],
                liability=OrderLine.Liability.JOINT,
            )
        ],
    )
    assert order.lines.get().liability == "joint"


def test_order_create_accepts_a_currency_without_decimals(case: Case) -> None:
    order = create(
        case,
        total=Money("150000", "JPY"),
        lines=[LineSpec(beneficiary=case.mv1, amount=Money("150000", "JPY"), defendants=[case.d1])],
    )
    assert order.lines.get().amount_minor == 150_000
    assert order.total == Money("150000", "JPY")


def test_order_create_accepts_a_judgment_dated_today(case: Case) -> None:
    order = create(case, judgment_date=timezone.localdate())
    assert order.judgment_date == timezone.localdate()


# --- order_create: refusals --------------------------------------------------------------------


@pytest.mark.parametrize("total", ["0.00", "-15000.00"])
def test_order_create_refuses_a_total_that_is_not_positive(case: Case, total: str) -> None:
    with refused("total"):
        create(case, total=usd(total))


@pytest.mark.parametrize("amount", ["0.00", "-100.00"])
def test_order_create_refuses_a_line_amount_that_is_not_positive(case: Case, amount: str) -> None:
    with refused("lines", match="line 2"):
        create(
            case,
            total=usd("10000.00") + usd(amount),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1]),
                LineSpec(beneficiary=case.mv2, amount=usd(amount), defendants=[case.d1]),
            ],
        )


def test_order_create_refuses_more_decimals_than_the_currency_has(case: Case) -> None:
    with refused("lines", match="line 1"):
        create(
            case,
            total=usd("1.23"),
            lines=[LineSpec(beneficiary=case.mv1, amount=usd("1.234"), defendants=[case.d1])],
        )


def test_order_create_refuses_an_over_precise_total(case: Case) -> None:
    with refused("total"):
        create(case, total=usd("15000.001"))


def test_order_create_refuses_yen_with_decimals(case: Case) -> None:
    with refused("total"):
        create(
            case,
            total=Money("100.5", "JPY"),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=Money("100.5", "JPY"), defendants=[case.d1])
            ],
        )


@pytest.mark.parametrize("code", ["XTS", "CHF"])
def test_order_create_refuses_a_currency_the_installation_does_not_accept(
    case: Case, code: str
) -> None:
    with refused("total", match=code):
        create(
            case,
            total=Money("100", code),
            lines=[LineSpec(beneficiary=case.mv1, amount=Money("100", code), defendants=[case.d1])],
        )


def test_order_create_refuses_a_line_in_another_currency_than_the_total(case: Case) -> None:
    with refused("lines", match="line 2"):
        create(
            case,
            total=usd("15000.00"),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1]),
                LineSpec(
                    beneficiary=case.mv2, amount=Money("5000.00", "PHP"), defendants=[case.d1]
                ),
            ],
        )


def test_order_create_refuses_an_amount_without_currency(case: Case) -> None:
    with refused("total"):
        create(case, total="15000.00")


def test_order_create_refuses_a_beneficiary_of_another_trust(case: Case) -> None:
    other = TrustFactory()
    stranger = beneficiary_create(trust=other, pseudonym="MV-1")
    with refused("lines", match="line 1"):
        create(
            case,
            total=usd("100.00"),
            lines=[LineSpec(beneficiary=stranger, amount=usd("100.00"), defendants=[case.d1])],
        )


def test_order_create_refuses_a_defendant_of_another_trust(case: Case) -> None:
    other = TrustFactory()
    stranger = defendant_create(trust=other, name="Invented Defendant One")
    with refused("lines", match="line 1"):
        create(
            case,
            total=usd("100.00"),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[case.d1, stranger])
            ],
        )


def test_order_create_refuses_a_line_without_defendants(case: Case) -> None:
    with refused("lines", match="line 1"):
        create(
            case,
            total=usd("100.00"),
            lines=[LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[])],
        )


def test_order_create_refuses_a_defendant_named_twice_on_a_line(case: Case) -> None:
    with refused("lines"):
        create(
            case,
            total=usd("100.00"),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[case.d1, case.d1])
            ],
        )


def test_order_create_refuses_several_liability_with_two_defendants(case: Case) -> None:
    with refused("lines", match="exactly one defendant"):
        create(
            case,
            total=usd("100.00"),
            lines=[
                LineSpec(
                    beneficiary=case.mv1,
                    amount=usd("100.00"),
                    defendants=[case.d1, case.d2],
                    liability=OrderLine.Liability.SEVERAL,
                )
            ],
        )


def test_order_create_refuses_joint_liability_with_one_defendant(case: Case) -> None:
    with refused("lines", match="two or more"):
        create(
            case,
            total=usd("100.00"),
            lines=[
                LineSpec(
                    beneficiary=case.mv1,
                    amount=usd("100.00"),
                    defendants=[case.d1],
                    liability=OrderLine.Liability.JOINT,
                )
            ],
        )


def test_order_create_refuses_an_unknown_liability(case: Case) -> None:
    with refused("lines"):
        create(
            case,
            total=usd("100.00"),
            lines=[
                LineSpec(
                    beneficiary=case.mv1,
                    amount=usd("100.00"),
                    defendants=[case.d1],
                    liability="partial",
                )
            ],
        )


def test_order_create_refuses_a_repeated_line(case: Case) -> None:
    """Same beneficiary and same defendants (in another order) twice: state the amount once."""
    with refused("lines", match="line 2 repeats line 1"):
        create(
            case,
            total=usd("200.00"),
            lines=[
                LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[case.d1, case.d2]),
                LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[case.d2, case.d1]),
            ],
        )


def test_order_create_accepts_one_beneficiary_owed_by_different_defendants(case: Case) -> None:
    order = create(
        case,
        total=usd("300.00"),
        lines=[
            LineSpec(beneficiary=case.mv1, amount=usd("100.00"), defendants=[case.d1]),
            LineSpec(beneficiary=case.mv1, amount=usd("200.00"), defendants=[case.d2]),
        ],
    )
    assert order.lines.count() == 2


def test_order_create_refuses_no_lines(case: Case) -> None:
    with refused("lines"):
        create(case, lines=[])


def test_order_create_refuses_a_total_that_does_not_match_the_lines(case: Case) -> None:
    with refused("total") as info:
        create(case, total=usd("14999.99"))
    message = " ".join(info.value.messages)
    assert "14,999.99 USD" in message and "15,000.00 USD" in message


def test_order_create_refuses_a_judgment_in_the_future(case: Case) -> None:
    with refused("judgment_date"):
        create(case, judgment_date=timezone.localdate() + timedelta(days=1))


@pytest.mark.parametrize("field", ["court", "case_number"])
def test_order_create_refuses_a_blank_header_field(case: Case, field: str) -> None:
    with refused(field):
        create(case, **{field: "  "})


def test_order_create_refuses_a_datetime_for_the_judgment_date(case: Case) -> None:
    with refused("judgment_date"):
        create(case, judgment_date=timezone.now())


def test_order_create_refuses_unknown_payment_terms(case: Case) -> None:
    with refused("payment_terms"):
        create(case, payment_terms="whenever")


# --- order_amend -------------------------------------------------------------------------------


def amended_lines(case: Case, mv1: str = "12000.00", mv2: str = "6000.00") -> list[LineSpec]:
    return [
        LineSpec(beneficiary=case.mv1, amount=usd(mv1), defendants=[case.d1, case.d2]),
        LineSpec(beneficiary=case.mv2, amount=usd(mv2), defendants=[case.d1]),
    ]


def test_order_amend_writes_the_next_version_and_supersedes_the_old(case: Case) -> None:
    order = create(case)
    amended = amend(order, amended_lines(case), "18000.00")
    assert (amended.version, amended.status, amended.supersedes) == (2, "current", order)
    assert amended.reason == "Amended judgment, ECF No. 120"
    assert (amended.court, amended.case_number) == (order.court, order.case_number)
    order.refresh_from_db()
    assert order.status == RestitutionOrder.Status.SUPERSEDED
    assert order.lines.count() == 2  # the old version keeps its lines


def test_order_amend_carries_what_matching_lines_collected(case: Case) -> None:
    order = create(case)
    pay(case, case.d1, "3000.00", "r1")  # 2,000.00 to MV-1's joint line, 1,000.00 to MV-2's
    old = {line.beneficiary_id: line for line in order.lines.all()}
    amended = amend(order, amended_lines(case), "18000.00")
    new = {line.beneficiary_id: line for line in amended.lines.all()}
    assert new[case.mv1.pk].collected == usd("2000.00")
    assert new[case.mv1.pk].outstanding == usd("10000.00")
    assert new[case.mv1.pk].carried_from == old[case.mv1.pk]
    assert new[case.mv2.pk].collected == usd("1000.00")
    assert new[case.mv2.pk].carried_from == old[case.mv2.pk]


def test_order_amend_does_not_carry_for_a_line_whose_defendants_changed(case: Case) -> None:
    order = create(case)
    pay(case, case.d1, "3000.00", "r1")
    amended = amend(
        order,
        [
            LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1]),
            LineSpec(beneficiary=case.mv2, amount=usd("5000.00"), defendants=[case.d1]),
        ],
        "15000.00",
    )
    changed = amended.lines.get(beneficiary=case.mv1)
    assert (changed.collected_minor, changed.carried_from) == (0, None)
    assert amended.lines.get(beneficiary=case.mv2).collected == usd("1000.00")


def test_order_amend_leaves_the_old_version_s_collected_amounts_alone(case: Case) -> None:
    order = create(case)
    pay(case, case.d1, "3000.00", "r1")
    amend(order, amended_lines(case), "18000.00")
    assert sorted(order.lines.values_list("collected_minor", flat=True)) == [100_000, 200_000]


def test_order_list_shows_both_versions_and_can_hide_the_superseded(case: Case) -> None:
    order = create(case)
    amended = amend(order, amended_lines(case), "18000.00")
    assert list(order_list(trust=case.trust)) == [order, amended]
    assert list(order_list(trust=case.trust, include_superseded=False)) == [amended]


def test_order_list_does_not_show_another_trust_s_orders(case: Case) -> None:
    create(case)
    assert list(order_list(trust=TrustFactory())) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_order_amend_refuses_without_a_reason(case: Case, reason: str) -> None:
    order = create(case)
    with refused("reason"):
        amend(order, amended_lines(case), "18000.00", reason=reason)
    order.refresh_from_db()
    assert order.status == "current"


def test_order_amend_refuses_a_superseded_version(case: Case) -> None:
    order = create(case)
    amend(order, amended_lines(case), "18000.00")
    with refused("superseded", match="amend the current version"):
        amend(order, amended_lines(case, mv1="13000.00"), "19000.00")


def test_order_amend_refuses_a_superseded_version_passed_as_a_stale_copy(case: Case) -> None:
    order = create(case)
    stale = RestitutionOrder.objects.get(pk=order.pk)
    amend(order, amended_lines(case), "18000.00")
    assert stale.status == "current"  # the caller's copy has not been told
    with refused("superseded"):
        amend(stale, amended_lines(case, mv1="13000.00"), "19000.00")


def test_order_amend_refuses_to_change_currency(case: Case) -> None:
    order = create(case)
    php = [
        LineSpec(beneficiary=case.mv1, amount=Money("1000.00", "PHP"), defendants=[case.d1]),
    ]
    with refused("total", match="cannot change currency"):
        amend(order, php, Money("1000.00", "PHP"))


def test_order_amend_refuses_a_date_before_the_judgment_it_amends(case: Case) -> None:
    order = create(case)
    with refused("judgment_date"):
        amend(order, amended_lines(case), "18000.00", judgment_date=JUDGMENT - timedelta(days=1))


def test_order_amend_refuses_a_judgment_in_the_future(case: Case) -> None:
    order = create(case)
    with refused("judgment_date"):
        amend(
            order,
            amended_lines(case),
            "18000.00",
            judgment_date=timezone.localdate() + timedelta(days=1),
        )


def test_order_amend_refuses_a_total_that_does_not_match_and_keeps_the_old_current(
    case: Case,
) -> None:
    order = create(case)
    with refused("total"):
        amend(order, amended_lines(case), "17999.99")
    order.refresh_from_db()
    assert order.status == "current"


def test_order_amend_refuses_a_line_of_another_trust_s_beneficiary(case: Case) -> None:
    order = create(case)
    stranger = beneficiary_create(trust=TrustFactory(), pseudonym="MV-9")
    with refused("lines"):
        amend(
            order,
            [LineSpec(beneficiary=stranger, amount=usd("100.00"), defendants=[case.d1])],
            "100.00",
        )


# --- outstanding selectors ---------------------------------------------------------------------


@pytest.fixture
def mixed(case: Case) -> dict[str, Any]:
    """D1 and D2 jointly owe MV-1 10,000.00; D1 alone owes MV-2 5,000.00; D3 alone owes MV-1
    2,000.00; D2 alone owes an agency 1,000.00; and, in PHP, D1 owes MV-2 50,000.00.
    D1 pays 3,000.00 (2,000.00 to the joint line, 1,000.00 to MV-2) and D3 pays 500.00."""
    d3 = defendant_create(trust=case.trust, name="Invented Defendant Three")
    agency = beneficiary_create(trust=case.trust, pseudonym="Agency-1", kind=VictimKind.GOVERNMENT)
    create(
        case,
        total=usd("18000.00"),
        lines=[
            LineSpec(beneficiary=case.mv1, amount=usd("10000.00"), defendants=[case.d1, case.d2]),
            LineSpec(beneficiary=case.mv2, amount=usd("5000.00"), defendants=[case.d1]),
            LineSpec(beneficiary=case.mv1, amount=usd("2000.00"), defendants=[d3]),
            LineSpec(beneficiary=agency, amount=usd("1000.00"), defendants=[case.d2]),
        ],
    )
    create(
        case,
        case_number="1:25-cr-00002",
        total=Money("50000.00", "PHP"),
        lines=[
            LineSpec(beneficiary=case.mv2, amount=Money("50000.00", "PHP"), defendants=[case.d1])
        ],
    )
    pay(case, case.d1, "3000.00", "d1-pays")
    pay(case, d3, "500.00", "d3-pays")
    return {"d3": d3, "agency": agency}


def test_outstanding_by_defendant_counts_a_joint_line_in_full_for_each(
    case: Case, mixed: dict[str, Any]
) -> None:
    owed = outstanding_by_defendant(trust=case.trust)
    d1, d2, d3 = owed[case.d1.pk]["USD"], owed[case.d2.pk]["USD"], owed[mixed["d3"].pk]["USD"]
    assert (d1.ordered, d1.collected, d1.outstanding) == (
        usd("15000.00"),
        usd("3000.00"),
        usd("12000.00"),
    )
    assert (d2.ordered, d2.collected, d2.outstanding) == (
        usd("11000.00"),
        usd("2000.00"),
        usd("9000.00"),
    )
    assert (d3.ordered, d3.collected, d3.outstanding) == (
        usd("2000.00"),
        usd("500.00"),
        usd("1500.00"),
    )


def test_outstanding_by_defendant_keeps_currencies_apart(case: Case, mixed: dict[str, Any]) -> None:
    owed = outstanding_by_defendant(trust=case.trust)
    assert set(owed[case.d1.pk]) == {"USD", "PHP"}
    assert owed[case.d1.pk]["PHP"].outstanding == Money("50000.00", "PHP")
    assert set(owed[case.d2.pk]) == {"USD"}


def test_outstanding_by_beneficiary_counts_a_joint_line_once(
    case: Case, mixed: dict[str, Any]
) -> None:
    owed = outstanding_by_beneficiary(trust=case.trust)
    mv1 = owed[case.mv1.pk]["USD"]
    assert (mv1.ordered, mv1.collected, mv1.outstanding) == (
        usd("12000.00"),  # 10,000.00 joint (once, not per defendant) + 2,000.00 from D3
        usd("2500.00"),
        usd("9500.00"),
    )
    assert owed[case.mv2.pk]["USD"].outstanding == usd("4000.00")
    assert owed[case.mv2.pk]["PHP"].outstanding == Money("50000.00", "PHP")
    assert owed[mixed["agency"].pk]["USD"].outstanding == usd("1000.00")


def test_defendant_outstanding_is_that_defendant_s_row(case: Case, mixed: dict[str, Any]) -> None:
    assert defendant_outstanding(defendant=case.d2) == {
        "USD": outstanding_by_defendant(trust=case.trust)[case.d2.pk]["USD"]
    }
    assert defendant_outstanding(defendant=case.d2)["USD"].outstanding == usd("9000.00")


def test_defendant_outstanding_is_empty_for_a_defendant_without_lines(case: Case) -> None:
    idle = defendant_create(trust=case.trust, name="Invented Defendant Idle")
    create(case)
    assert defendant_outstanding(defendant=idle) == {}


def test_outstanding_counts_only_the_current_version(case: Case) -> None:
    order = create(case)
    pay(case, case.d1, "3000.00", "r1")
    amend(order, amended_lines(case), "18000.00")
    by_defendant = outstanding_by_defendant(trust=case.trust)
    assert by_defendant[case.d1.pk]["USD"].ordered == usd("18000.00")
    assert by_defendant[case.d1.pk]["USD"].outstanding == usd("15000.00")
    assert by_defendant[case.d2.pk]["USD"].outstanding == usd("10000.00")
    by_beneficiary = outstanding_by_beneficiary(trust=case.trust)
    assert by_beneficiary[case.mv1.pk]["USD"].outstanding == usd("10000.00")


def test_outstanding_does_not_let_an_over_collected_line_offset_another(case: Case) -> None:
    """An amended judgment lowers MV-2's line below what it had collected: that line owes
    nothing more, and its excess does not reduce what D1 still owes MV-1."""
    order = create(case)
    pay(case, case.d1, "3000.00", "r1")  # 2,000.00 on MV-1's line, 1,000.00 on MV-2's
    amended = amend(order, amended_lines(case, mv1="10000.00", mv2="500.00"), "10500.00")
    assert amended.lines.get(beneficiary=case.mv2).outstanding_minor == 0
    owed = outstanding_by_defendant(trust=case.trust)
    assert owed[case.d1.pk]["USD"].outstanding == usd("8000.00")
    assert owed[case.d2.pk]["USD"].outstanding == usd("8000.00")
    assert outstanding_by_beneficiary(trust=case.trust)[case.mv2.pk]["USD"].outstanding_minor == 0


def test_outstanding_does_not_mix_trusts(case: Case, mixed: dict[str, Any]) -> None:
    assert outstanding_by_defendant(trust=TrustFactory()) == {}
    assert outstanding_by_beneficiary(trust=TrustFactory()) == {}


def test_refusals_keep_their_code_for_forms_and_the_api(case: Case) -> None:
    with pytest.raises(ValidationError) as mismatch:
        create(case, total=usd("14999.99"))
    assert mismatch.value.error_dict["total"][0].code == "total_mismatch"
    with pytest.raises(ValidationError) as decimals:
        create(
            case,
            total=usd("1.23"),
            lines=[LineSpec(beneficiary=case.mv1, amount=usd("1.234"), defendants=[case.d1])],
        )
    assert decimals.value.error_dict["lines"][0].code == "bad_amount"
