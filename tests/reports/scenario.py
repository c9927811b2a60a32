"""A trust with a period that holds every kind of movement a court account shows: receipts
allocated pro rata under an amended order, interest, a bounced receipt reversed, a payment in PHP
with a bank fee and a shortfall, a payment returned with an exchange loss, a fee charged to the
administration fund and an approved request still waiting for payment. All names are invented.

Payments cannot be dated before their approval (today), so the period ends today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from moneyed import Money

from disbursements.models import Payment
from disbursements.services import (
    policy_set_fee_bearer,
    request_approve,
    request_draft,
    request_submit,
)
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from reports.periods import Period
from tests.disbursements.test_payments import php
from tests.disbursements.test_requests import World, make_world, usd
from trust.bank.models import BankStatement, Reconciliation
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.services.statements import bank_account_set, statement_import
from trust.demo_bank import bank_lines, bank_movements_of, camt053, iban_for
from trust.models import Account, Beneficiary, Receipt, RestitutionOrder, Trust
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import beneficiary_identity_set, defendant_create
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.trusts import administration_fund

LEGAL_NAME = "Invented Childname Secretsurname"
PURPOSE = "Fees at the Invented Secret Academy for Childname"


@dataclass
class Case:
    world: World
    trust: Trust
    period: Period
    mv1: Beneficiary
    mv2: Beneficiary
    order: RestitutionOrder
    paid: Payment
    returned: Payment
    reserved: Any
    bounced: Receipt

    @property
    def trustee(self) -> Any:
        return self.world.trustee


def _request(w: World, beneficiary: Beneficiary, amount: Money, key: str, category: str) -> Any:
    request = request_draft(
        actor=w.caseworker,
        beneficiary=beneficiary,
        category=category,
        amount=amount,
        purpose=PURPOSE,
        idempotency_key=key,
    )
    return request_submit(request=request, actor=w.caseworker)


def build_case() -> Case:
    w = make_world()
    trust, trustee = w.trust, w.trustee
    today = timezone.localdate()
    period = Period(today - timedelta(days=60), today)
    start = period.start
    bank = trust.accounts.get(role=Account.Role.BANK, currency="USD")
    d1 = defendant_create(trust=trust, name="Invented Defendant One")
    d2 = defendant_create(trust=trust, name="Invented Defendant Two")
    beneficiary_identity_set(beneficiary=w.mv1, actor=trustee, legal_name=LEGAL_NAME)
    order = order_create(
        trust=trust,
        actor=trustee,
        court=trust.court,
        case_number=trust.case_number,
        judgment_date=start - timedelta(days=90),
        total=usd("15000.00"),
        lines=[
            LineSpec(beneficiary=w.mv1, amount=usd("10000.00"), defendants=[d1, d2]),
            LineSpec(beneficiary=w.mv2, amount=usd("5000.00"), defendants=[d1]),
        ],
    )

    def receive(amount: str, on: date, key: str, **extra: Any) -> Receipt:
        return receipt_record(
            trust=trust,
            actor=trustee,
            amount=usd(amount),
            received_on=on,
            source=extra.pop("source", Receipt.Source.CLERK),
            bank_account=bank,
            idempotency_key=key,
            **extra,
        )

    receive("1500.00", start - timedelta(days=10), "before", payer=d1)  # the opening balance
    order = order_amend(
        order=order,
        actor=trustee,
        reason="Amended judgment: MV-2's losses re-assessed",
        judgment_date=start + timedelta(days=2),
        total=usd("16000.00"),
        lines=[
            LineSpec(beneficiary=w.mv1, amount=usd("10000.00"), defendants=[d1, d2]),
            LineSpec(beneficiary=w.mv2, amount=usd("6000.00"), defendants=[d1]),
        ],
    )
    receive("3000.00", start + timedelta(days=5), "in-period", payer=d1, bank_reference="CLK-77")
    receive("12.34", start + timedelta(days=20), "interest", source=Receipt.Source.INTEREST)
    bounced = receive("1000.00", start + timedelta(days=25), "bounced", payer=d2)
    receipt_reverse(
        receipt=bounced,
        actor=trustee,
        reason="Cheque returned unpaid by the bank",
        effective_date=start + timedelta(days=30),
    )
    administration_fund(
        trust=trust,
        actor=trustee,
        amount=usd("12.34"),
        reason="Court order of 1 March allows bank charges from interest",
        idempotency_key="admin-1",
    )
    policy_set_fee_bearer(trust=trust, actor=trustee, bearer="administration")

    # Paid in PHP with a fee from the administration fund; arrived short.
    first = _request(w, w.mv1, php("50000.00"), "r1", "education")
    first = request_approve(request=first, actor=trustee, reserve=usd("1020.00"))
    paid = payment_record(
        request=first,
        actor=trustee,
        transfer=Transfer(
            sent=usd("1000.00"),
            payout=php("50000.00"),
            fee=usd("12.00"),
            value_date=today,
            reference="TRF-1",
        ),
    )
    paid = payment_acknowledge(
        request=first,
        actor=w.caseworker,
        arrived=php("49500.00"),
        received_on=today,
        note="Intermediary bank took PHP 500",
    )
    # Paid and returned by the bank: less came back than was sent.
    second = _request(w, w.mv1, php("25000.00"), "r2", "medical")
    second = request_approve(request=second, actor=trustee, reserve=usd("510.00"))
    payment_record(
        request=second,
        actor=trustee,
        transfer=Transfer(
            sent=usd("500.00"), payout=php("25000.00"), value_date=today, reference="TRF-2"
        ),
    )
    returned = payment_return(
        request=second,
        actor=trustee,
        returned=usd("480.00"),
        returned_on=today,
        reason="Beneficiary bank account closed",
    )
    third = _request(w, w.mv1, php("10000.00"), "r3", "shelter")
    third = request_approve(request=third, actor=trustee, reserve=usd("205.00"))
    return Case(
        world=w,
        trust=trust,
        period=period,
        mv1=w.mv1,
        mv2=w.mv2,
        order=order,
        paid=Payment.objects.get(pk=paid.pk),
        returned=Payment.objects.get(pk=returned.pk),
        reserved=third,
        bounced=bounced,
    )


def reconcile(case: Case, note: str = "") -> Reconciliation:
    """The bank's statement of the case's USD bank account up to today (every movement of the
    ledger booked as the demo bank books it), imported, matched and signed off by the trustee."""
    account = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    iban = iban_for(case.trust.case_number)
    bank = bank_account_set(
        actor=case.trustee, account=account, number=iban, bank_name="Invented Bank"
    )
    end = timezone.localdate()
    # What the bank books after today (a weekend's entries) is in transit at the statement's end.
    lines = [line for line in bank_lines(bank_movements_of(account)) if line.booking_date <= end]
    start = lines[0].booking_date.replace(day=1)
    data = camt053(
        iban=iban,
        currency="USD",
        owner=case.trust.caption,
        statement_id="INVENTED-1",
        sequence=1,
        start=start,
        end=end,
        opening_minor=0,
        lines=lines,
    )
    statement_import(actor=case.trustee, bank=bank, data=data, format="camt.053")
    statement = BankStatement.objects.get(bank_account=bank, statement_id="INVENTED-1")
    return reconciliation_sign_off(actor=case.trustee, bank=bank, statement=statement, note=note)
