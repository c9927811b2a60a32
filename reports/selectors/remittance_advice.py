"""The figures of a remittance advice (``reports/documents/remittance_advice.py``): one payment as
recorded from the bank's advice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from disbursements.models import Payment
from reports.periods import Period
from trust.models import Trust


@dataclass
class RemittanceFigures:
    trust: Trust
    payment: Payment
    period: Period

    @property
    def subject(self) -> dict[str, Any]:
        return {"payment": self.payment.pk, "partner": self.payment.request.partner_id}

    def figures(self) -> dict[str, Any]:
        p = self.payment
        return {
            "request": p.request_id,
            "category": p.request.category,
            "beneficiary": p.request.beneficiary.pseudonym,
            "transfer_reference": p.transfer_reference,
            "value_date": p.value_date.isoformat(),
            "sent": [p.sent_minor, p.currency],
            "fee": [p.fee_minor, p.currency],
            "payout": [p.payout_minor, p.payout_currency],
            "rate": str(p.rate) if p.cross_currency else None,
        }


def remittance_figures(*, payment: Payment) -> RemittanceFigures:
    """The facts of one payment as recorded from the bank's advice (immutable once recorded)."""
    payment = Payment.objects.select_related(
        "request__beneficiary", "request__partner", "trust", "bank_account"
    ).get(pk=payment.pk)
    return RemittanceFigures(
        trust=payment.trust,
        payment=payment,
        period=Period(payment.value_date, payment.value_date),
    )
