"""The figures of a restitution order status (``reports/documents/order_status.py``): ordered,
collected and outstanding per defendant and per beneficiary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from reports.periods import Period, long_date
from reports.selectors.entries import natural_key
from trust.models import RestitutionOrder, Trust
from trust.selectors import outstanding_by_beneficiary, outstanding_by_defendant


@dataclass
class OrderStatusFigures:
    trust: Trust
    period: Period
    orders: list[tuple[str, str]]  # (judgment, description)
    defendants: list[tuple[int, str, str, int, int, int]]  # id, name, ccy, ordered, collected, out
    beneficiaries: list[tuple[int, str, str, int, int, int]]  # id, pseudonym, ccy, ...

    @property
    def subject(self) -> dict[str, Any]:
        return {}

    def figures(self) -> dict[str, Any]:
        return {
            "defendants": [[d[0], d[2], d[3], d[4], d[5]] for d in self.defendants],
            "beneficiaries": [[b[0], b[2], b[3], b[4], b[5]] for b in self.beneficiaries],
        }


def order_status_figures(*, trust: Trust, as_at: date) -> OrderStatusFigures:
    """Ordered, collected and outstanding under the current orders, per defendant and per
    beneficiary, as recorded now (``as_at`` is the day it is printed for)."""
    orders = []
    for order in RestitutionOrder.objects.filter(trust=trust).order_by("judgment_date", "pk"):
        state = "current" if order.status == RestitutionOrder.Status.CURRENT else "superseded"
        orders.append((long_date(order.judgment_date), f"{order} ({state})"))
    names = dict(trust.defendants.values_list("pk", "name"))
    pseudonyms = dict(trust.beneficiaries.values_list("pk", "pseudonym"))
    defendants = [
        (pk, names.get(pk, f"#{pk}"), ccy, o.ordered_minor, o.collected_minor, o.outstanding_minor)
        for pk, per in outstanding_by_defendant(trust=trust).items()
        for ccy, o in sorted(per.items())
    ]
    beneficiaries = [
        (
            pk,
            pseudonyms.get(pk, f"#{pk}"),
            ccy,
            o.ordered_minor,
            o.collected_minor,
            o.outstanding_minor,
        )
        for pk, per in outstanding_by_beneficiary(trust=trust).items()
        for ccy, o in sorted(per.items())
    ]
    return OrderStatusFigures(
        trust=trust,
        period=Period(as_at, as_at),
        orders=orders,
        defendants=sorted(defendants, key=lambda d: (natural_key(d[1]), d[2])),
        beneficiaries=sorted(beneficiaries, key=lambda b: (natural_key(b[1]), b[2])),
    )
