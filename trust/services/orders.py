"""Recording restitution orders and amended judgments.

An order is written whole: its lines, their defendants and the total the judgment states, checked
against each other before anything is saved. An amended judgment is a new version; the old one is
marked superseded and keeps its lines, and each new line that matches an old one (same beneficiary,
same defendants) carries over what was collected on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from moneyed import Money

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error, first_code
from trust.models import (
    Beneficiary,
    Defendant,
    OrderLine,
    RestitutionOrder,
    Trust,
)
from trust.money import format_money, from_minor
from trust.roles import Action
from trust.services.amounts import positive_minor


@dataclass(frozen=True)
class LineSpec:
    """One line of a judgment: who is owed, how much, by which defendant(s). With one defendant
    the liability is several; with more it is joint and several."""

    beneficiary: Beneficiary
    amount: Money
    defendants: Sequence[Defendant]
    liability: str | None = None


@dataclass(frozen=True)
class _Line:
    position: int
    beneficiary: Beneficiary
    amount_minor: int
    currency: str
    liability: str
    defendant_ids: frozenset[int]


def _actor(actor: Any | None) -> Any | None:
    return actor if getattr(actor, "pk", None) else None


def _money(value: Any, field: str, currency: str | None = None) -> int:
    minor = positive_minor(value, field)
    code = value.currency.code
    if currency is not None and code != currency:
        raise field_error(
            field, f"the order is in {currency}; this amount is in {code}", code="currency_mismatch"
        )
    return minor


def _check_lines(trust: Trust, currency: str, lines: Sequence[LineSpec]) -> list[_Line]:
    if not lines:
        raise field_error("lines", "An order needs at least one line.", code="no_lines")
    checked: list[_Line] = []
    seen: dict[tuple[int, frozenset[int]], int] = {}
    for position, spec in enumerate(lines, start=1):
        where = f"line {position}"
        if not isinstance(spec.beneficiary, Beneficiary) or spec.beneficiary.trust_id != trust.pk:
            raise field_error(
                "lines",
                f"{where}: the beneficiary is not one of this trust's",
                code="foreign_beneficiary",
            )
        try:
            minor = _money(spec.amount, "lines", currency)
        except ValidationError as exc:
            raise field_error(
                "lines", f"{where}: {' '.join(exc.messages)}", code=first_code(exc)
            ) from exc
        defendants = list(spec.defendants or [])
        if not defendants:
            raise field_error(
                "lines", f"{where}: name the defendant(s) who owe it", code="no_defendant"
            )
        ids = frozenset(d.pk for d in defendants)
        if len(ids) != len(defendants):
            raise field_error(
                "lines", f"{where}: a defendant is named twice", code="defendant_repeated"
            )
        if any(d.trust_id != trust.pk for d in defendants):
            raise field_error(
                "lines",
                f"{where}: a defendant is not one of this trust's",
                code="foreign_defendant",
            )
        liability = spec.liability or (
            OrderLine.Liability.SEVERAL if len(ids) == 1 else OrderLine.Liability.JOINT
        )
        if liability not in OrderLine.Liability.values:
            raise field_error(
                "lines", f"{where}: unknown liability {liability!r}", code="bad_liability"
            )
        if liability == OrderLine.Liability.SEVERAL and len(ids) != 1:
            raise field_error(
                "lines",
                f"{where}: several liability means exactly one defendant",
                code="liability_mismatch",
            )
        if liability == OrderLine.Liability.JOINT and len(ids) < 2:
            raise field_error(
                "lines",
                f"{where}: joint and several liability needs two or more defendants",
                code="liability_mismatch",
            )
        signature = (spec.beneficiary.pk, ids)
        if signature in seen:
            raise field_error(
                "lines",
                f"{where} repeats line {seen[signature]}: same beneficiary, same"
                " defendants; state the amount once",
                code="line_repeated",
            )
        seen[signature] = position
        checked.append(_Line(position, spec.beneficiary, minor, currency, liability, ids))
    return checked


def _check_header(
    *,
    court: str,
    case_number: str,
    judgment_date: Any,
    payment_terms: str,
) -> None:
    errors = {
        name: "This field is required."
        for name, value in (("court", court), ("case_number", case_number))
        if not (value or "").strip()
    }
    if errors:
        raise ValidationError(errors, code="required")
    if isinstance(judgment_date, datetime) or not isinstance(judgment_date, date):
        raise field_error("judgment_date", "A date is required.", code="required")
    if judgment_date > timezone.localdate():
        raise field_error(
            "judgment_date", "The judgment date is in the future.", code="date_future"
        )
    if payment_terms not in RestitutionOrder.PaymentTerms.values:
        raise field_error(
            "payment_terms", f"unknown payment terms {payment_terms!r}", code="bad_terms"
        )


def _write(
    *,
    trust: Trust,
    actor: Any | None,
    header: dict[str, Any],
    total_minor: int,
    currency: str,
    lines: list[_Line],
    supersedes: RestitutionOrder | None,
) -> RestitutionOrder:
    stated = sum(line.amount_minor for line in lines)
    if stated != total_minor:
        raise field_error(
            "total",
            f"the order total {format_money(from_minor(total_minor, currency))}"
            f" does not match its lines ({format_money(from_minor(stated, currency))})",
            code="total_mismatch",
        )
    carried: dict[tuple[int, frozenset[int]], OrderLine] = {}
    if supersedes is not None:
        old_lines = list(
            OrderLine.objects.select_for_update()
            .filter(order=supersedes)
            .order_by("pk")
            .prefetch_related("defendants")
        )
        for old in old_lines:
            carried[(old.beneficiary_id, frozenset(d.pk for d in old.defendants.all()))] = old
    order = RestitutionOrder.objects.create(
        trust=trust,
        version=1 if supersedes is None else supersedes.version + 1,
        supersedes=supersedes,
        currency=currency,
        total_minor=total_minor,
        created_by=_actor(actor),
        **header,
    )
    made: list[OrderLine] = []
    for line in lines:
        previous = carried.get((line.beneficiary.pk, line.defendant_ids))
        made.append(
            OrderLine(
                order=order,
                position=line.position,
                beneficiary=line.beneficiary,
                amount_minor=line.amount_minor,
                currency=line.currency,
                liability=line.liability,
                carried_from=previous,
                collected_minor=previous.collected_minor if previous else 0,
            )
        )
    OrderLine.objects.bulk_create(made)
    made = list(OrderLine.objects.filter(order=order).order_by("position"))
    through = OrderLine.defendants.through
    through.objects.bulk_create(
        through(orderline_id=row.pk, defendant_id=defendant_id)
        for row, line in zip(made, lines, strict=True)
        for defendant_id in sorted(line.defendant_ids)
    )
    order.defendants.set(sorted({d for line in lines for d in line.defendant_ids}))
    audit_record(
        action="order.amended" if supersedes is not None else "order.recorded",
        actor=actor,
        trust_id=trust.pk,
        object_type="order",
        object_id=order.pk,
        changes={
            "version": order.version,
            "supersedes": getattr(supersedes, "pk", None),
            **header,
            "total": {"minor": total_minor, "currency": currency},
            "lines": [
                {
                    "position": line.position,
                    "beneficiary": line.beneficiary.pk,
                    "defendants": sorted(line.defendant_ids),
                    "amount_minor": line.amount_minor,
                    "liability": line.liability,
                    "carried_from": getattr(row.carried_from, "pk", None),
                }
                for row, line in zip(made, lines, strict=True)
            ],
        },
        reason=header.get("reason", ""),
    )
    return order


def order_create(
    *,
    trust: Trust,
    actor: Any | None,
    court: str,
    case_number: str,
    judgment_date: date,
    total: Money,
    lines: Sequence[LineSpec],
    payment_terms: str = RestitutionOrder.PaymentTerms.LUMP_SUM,
    schedule_note: str = "",
    first_payment_due: date | None = None,
    document_reference: str = "",
) -> RestitutionOrder:
    """Record a restitution order with its lines, all or nothing.

    Refuses (``ValidationError``, nothing written): a missing court, case number or judgment date,
    a judgment in the future, no lines, a zero or negative amount, more decimals than the currency
    has, an unknown currency or lines in another currency than the total, a beneficiary or
    defendant of another trust, a line with no defendant or with a liability that does not fit its
    defendants, the same beneficiary and defendants twice, and a total that differs from the sum
    of the lines."""
    require(
        actor,
        Action.ORDER_MANAGE,
        trust,
        "Only a trustee of the trust records orders.",
        "not_trustee",
        system=True,
    )
    _check_header(
        court=court,
        case_number=case_number,
        judgment_date=judgment_date,
        payment_terms=payment_terms,
    )
    total_minor = _money(total, "total")
    currency = total.currency.code
    checked = _check_lines(trust, currency, lines)
    header = {
        "court": court.strip(),
        "case_number": case_number.strip(),
        "judgment_date": judgment_date,
        "document_reference": (document_reference or "").strip(),
        "payment_terms": payment_terms,
        "schedule_note": (schedule_note or "").strip(),
        "first_payment_due": first_payment_due,
    }
    with transaction.atomic():
        return _write(
            trust=trust,
            actor=actor,
            header=header,
            total_minor=total_minor,
            currency=currency,
            lines=checked,
            supersedes=None,
        )


def order_amend(
    *,
    order: RestitutionOrder,
    actor: Any | None,
    reason: str,
    judgment_date: date,
    total: Money,
    lines: Sequence[LineSpec],
    document_reference: str = "",
    payment_terms: str | None = None,
    schedule_note: str | None = None,
    first_payment_due: date | None = None,
) -> RestitutionOrder:
    """Record an amended judgment as the next version of ``order``, which becomes superseded.

    Same checks as ``order_create``, plus: a reason is required, the amended judgment cannot be
    dated before the one it amends, and only the current version can be amended. Lines that match
    a line of the old version (same beneficiary, same defendants) keep what was collected on it."""
    require(
        actor,
        Action.ORDER_MANAGE,
        order,
        "Only a trustee of the trust amends orders.",
        "not_trustee",
        system=True,
    )
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "Say why the order is amended.", code="required")
    terms = payment_terms or order.payment_terms
    _check_header(
        court=order.court,
        case_number=order.case_number,
        judgment_date=judgment_date,
        payment_terms=terms,
    )
    if judgment_date < order.judgment_date:
        raise field_error(
            "judgment_date",
            f"the amended judgment is dated before v{order.version}'s",
            code="date_backwards",
        )
    total_minor = _money(total, "total")
    currency = total.currency.code
    if currency != order.currency:
        raise field_error(
            "total",
            f"the order is in {order.currency}; an amendment cannot change currency",
            code="currency_mismatch",
        )
    checked = _check_lines(order.trust, currency, lines)
    with transaction.atomic():
        current = RestitutionOrder.objects.select_for_update().get(pk=order.pk)
        if current.status != RestitutionOrder.Status.CURRENT:
            raise ValidationError(
                f"version {current.version} was already superseded; amend the current version",
                code="superseded",
            )
        header = {
            "court": current.court,
            "case_number": current.case_number,
            "judgment_date": judgment_date,
            "document_reference": (document_reference or "").strip(),
            "payment_terms": terms,
            "schedule_note": (
                current.schedule_note if schedule_note is None else schedule_note.strip()
            ),
            "first_payment_due": first_payment_due or current.first_payment_due,
            "reason": reason,
        }
        amended = _write(
            trust=current.trust,
            actor=actor,
            header=header,
            total_minor=total_minor,
            currency=currency,
            lines=checked,
            supersedes=current,
        )
        RestitutionOrder.objects.filter(pk=current.pk).update(
            status=RestitutionOrder.Status.SUPERSEDED
        )
    order.status = RestitutionOrder.Status.SUPERSEDED
    return amended
