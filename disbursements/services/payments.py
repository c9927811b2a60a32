"""Paying approved requests, and what becomes of a payment: acknowledged or returned.

The books (docs/disbursements.md has the worked example with every posting):

- ``payment_record`` (a trustee, from the bank's advice): the request's reservation becomes a
  payment entry that moves what was sent from the beneficiary's sub-ledger into payments in
  transit. Across currencies the sent amount goes through the trust currency's trading account
  and the payout amount through the payout currency's, so each currency balances on its own and
  the transit liability is in the currency the partner is to receive. The bank's fee is an entry
  of its own, charged to the sub-ledger or to the administration fund by the trust's policy.
- ``payment_acknowledge`` (a caseworker of the partner): what arrived clears the payment: the
  bank is credited with what left it and the transit and trading balances go back to zero. A
  shortfall (less arrived than was sent) is an entry of its own.
- ``payment_return`` (a trustee): a transfer that came back. What left the bank is cleared as
  above; what came back is credited to the beneficiary, and across currencies the difference
  between what was sent and what came back is booked as a realised exchange difference through
  the trading account, in an entry of its own.

No amount is ever computed with a rate: every booked figure is one the bank or the partner
stated. Every step locks the rows it changes (the sub-ledger first where it touches it, then the
request), so paying and cancelling one request, or acknowledging and returning one payment, run
one after the other and exactly one of them wins. A step repeated with the same facts returns
what the first did; with other facts it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from moneyed import Money

from disbursements.models import (
    DisbursementPolicy,
    DisbursementRequest,
    Payment,
    Status,
)
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.policy import policy_for
from disbursements.services.requests import (
    refuse_unpayable,
    request_event_record,
    reserved_minor,
)
from trust.access import is_trustee
from trust.db_faults import retried_on_conflict
from trust.errors import field_error
from trust.models import Account, EntryKind, Trust
from trust.money import format_money, from_minor
from trust.services.amounts import positive_minor
from trust.services.ledger import EntrySpec, Leg, entries_post
from trust.services.trusts import role_accounts

FeeBearer = DisbursementPolicy.FeeBearer


IN_TRANSIT, TRADING, ADMINISTRATION = (
    Account.Role.IN_TRANSIT,
    Account.Role.TRADING,
    Account.Role.ADMINISTRATION,
)


def _books(
    trust: Trust, currency: str, payout_currency: str, *, administration: bool = False
) -> dict[tuple[str, str], int]:
    """The transit (and across currencies, trading) accounts a payment in these currencies uses,
    and the administration fund if it bears the fee: one query once they exist."""
    wanted = [(IN_TRANSIT, currency)]
    if payout_currency != currency:
        wanted += [(IN_TRANSIT, payout_currency), (TRADING, currency), (TRADING, payout_currency)]
    if administration:
        wanted.append((ADMINISTRATION, currency))
    return role_accounts(trust=trust, wanted=wanted)


def _date(value: Any, field: str, *, not_before: date | None, what: str) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise field_error(field, "A date (not a time) is required.", code="required")
    if value > timezone.localdate():
        raise field_error(field, "The date is in the future.", code="future_date")
    if not_before is not None and value < not_before:
        raise field_error(field, f"The date is before {what} ({not_before}).", code="too_early")
    return value


def _label(request: DisbursementRequest) -> str:
    """How entries name a request: its number, the pseudonym and the category; no one's identity."""
    return (
        f"request #{request.pk} ({request.beneficiary.pseudonym},"
        f" {request.get_category_display().lower()})"
    )


# --- recording the payment --------------------------------------------------------------------


def _bank_account(trust: Trust, currency: str, chosen: Account | None) -> Account:
    if chosen is None:
        found = (
            Account.objects.filter(trust=trust, role=Account.Role.BANK, currency=currency)
            .order_by("pk")
            .first()
        )
        if found is None:
            raise field_error(
                "bank_account", f"The trust has no bank account in {currency}.", code="no_bank"
            )
        return found
    if chosen.trust_id != trust.pk or chosen.role != Account.Role.BANK:
        raise field_error(
            "bank_account", "That is not one of this trust's bank accounts.", code="not_bank"
        )
    if chosen.currency != currency:
        raise field_error(
            "bank_account",
            f"{chosen.code} holds {chosen.currency}, not {currency}.",
            code="currency",
        )
    return chosen


@dataclass(frozen=True)
class Transfer:
    """What the bank's advice says: ``sent`` left the trust's account in its currency (fees
    apart), for ``payout`` in the partner's currency (the same amount when the partner is paid
    in the trust's currency), with ``fee`` charged by the bank."""

    sent: Money
    payout: Money | None = None
    fee: Money | None = None
    value_date: date | None = None
    reference: str = ""
    bank_account: Account | None = None  # the trust's bank account in that currency by default


@retried_on_conflict
def payment_record(*, request: DisbursementRequest, actor: Any, transfer: Transfer) -> Payment:
    """A trustee records the payment of an approved request (see the module docstring for the
    entries). The amount in the request's own currency must be the amount approved. Refuses: a
    non-trustee; a request not approved; amounts in the wrong currency or with too many
    decimals; a value date in the future, before the approval or in the closed period; a blank
    or already used transfer reference; a partner whose vetting has lapsed or a payee recorded
    as implicated since the approval; a cost (sent, plus the fee when the beneficiary bears it)
    that the reservation and what is still available do not cover; a fee the administration
    fund cannot cover when it bears fees. Recording the same payment again returns it."""
    if not is_trustee(actor, request.trust_id):
        raise ValidationError("Only a trustee records payments.", code="not_trustee")
    reference = " ".join((transfer.reference or "").split())
    if not reference:
        raise field_error(
            "reference", "The bank's transfer reference is required.", code="required"
        )
    with transaction.atomic():
        sub_ledger = Account.objects.select_for_update().get(pk=request.sub_ledger_id)
        # The request row locked, its trust, beneficiary and partner read with it.
        locked = (
            DisbursementRequest.objects.select_for_update(of=("self",))
            .select_related("trust", "beneficiary", "partner")
            .get(pk=request.pk)
        )
        currency = sub_ledger.currency
        partner = locked.partner
        payout_currency = partner.payout_currency or currency
        sent = positive_minor(transfer.sent, "sent")
        if transfer.sent.currency.code != currency:
            raise field_error("sent", f"What left the bank is in {currency}.", code="currency")
        if payout_currency == currency:
            if transfer.payout is not None and transfer.payout != transfer.sent:
                raise field_error(
                    "payout",
                    f"{partner} is paid in {currency}: the transfer is for what was sent.",
                    code="payout_differs",
                )
            payout = sent
        else:
            if transfer.payout is None:
                raise field_error(
                    "payout",
                    f"{partner} is paid in {payout_currency}: say what the transfer was for"
                    f" in {payout_currency}.",
                    code="required",
                )
            payout = positive_minor(transfer.payout, "payout")
            if transfer.payout.currency.code != payout_currency:
                raise field_error(
                    "payout", f"{partner} is paid in {payout_currency}.", code="currency"
                )
        fee = 0
        if transfer.fee is not None and transfer.fee.amount != 0:
            fee = positive_minor(transfer.fee, "fee")
            if transfer.fee.currency.code != currency:
                raise field_error("fee", f"The bank's fee is in {currency}.", code="currency")

        existing = Payment.objects.filter(request=locked).first()
        if existing is not None:
            same = (
                existing.sent_minor,
                existing.payout_minor,
                existing.fee_minor,
                existing.value_date,
                existing.transfer_reference,
            ) == (sent, payout, fee, transfer.value_date, reference)
            if same:
                return existing  # a retry
            raise ValidationError(
                f"This request was already paid ({existing.transfer_reference}).",
                code="already_paid",
            )
        if locked.status != Status.APPROVED:
            raise ValidationError(f"This request is {locked.status}.", code="bad_status")
        # The amount in the request's own currency is what was approved.
        if locked.currency not in (currency, payout_currency):
            raise ValidationError(
                f"The request is in {locked.currency} but {partner} is now paid in"
                f" {payout_currency}: cancel it and request again.",
                code="payout_currency_changed",
            )
        own = sent if locked.currency == currency else payout
        if own != locked.amount_minor:
            raise field_error(
                "sent" if locked.currency == currency else "payout",
                f"The request is for {format_money(locked.amount)}; record a transfer of"
                " that amount.",
                code="amount_differs",
            )
        value_date = _date(
            transfer.value_date,
            "value_date",
            not_before=timezone.localdate(locked.decided_at) if locked.decided_at else None,
            what="the approval",
        )
        bank_account = _bank_account(locked.trust, currency, transfer.bank_account)
        refuse_unpayable(locked, partner)
        policy = policy_for(locked.trust)
        bearer = policy.fees_charged_to
        charge = sent + (fee if bearer == FeeBearer.BENEFICIARY else 0)
        free = sub_ledger.balance_minor - reserved_minor(sub_ledger.pk, excluding=locked.pk)
        if charge > free:
            raise ValidationError(
                f"This payment costs {format_money(from_minor(charge, currency))} but"
                f" {locked.beneficiary} has {format_money(from_minor(max(free, 0), currency))}"
                f" available with this request's reservation of"
                f" {format_money(from_minor(locked.reserve_minor or 0, currency))}.",
                code="insufficient_funds",
            )
        trust = locked.trust
        label = _label(locked)
        acc = _books(
            trust,
            currency,
            payout_currency,
            administration=bool(fee) and bearer == FeeBearer.ADMINISTRATION,
        )
        if payout_currency == currency:
            legs = [
                Leg(sub_ledger.pk, from_minor(sent, currency)),
                Leg(acc[(IN_TRANSIT, currency)], from_minor(-sent, currency)),
            ]
            memo = f"Payment of {label} to {partner}: {format_money(from_minor(sent, currency))}"
        else:
            legs = [
                Leg(sub_ledger.pk, from_minor(sent, currency)),
                Leg(acc[(TRADING, currency)], from_minor(-sent, currency)),
                Leg(
                    acc[(TRADING, payout_currency)],
                    from_minor(payout, payout_currency),
                ),
                Leg(
                    acc[(IN_TRANSIT, payout_currency)],
                    from_minor(-payout, payout_currency),
                ),
            ]
            memo = (
                f"Payment of {label} to {partner}: {format_money(from_minor(sent, currency))} sent"
                f" for {format_money(from_minor(payout, payout_currency))}"
            )
        specs = [
            EntrySpec(
                effective_date=value_date,
                legs=legs,
                idempotency_key=f"payment:{locked.uid}",
                memo=f"{memo} (transfer {reference})",
                kind=EntryKind.PAYMENT,
            )
        ]
        if fee:
            if bearer == FeeBearer.BENEFICIARY:
                payer = sub_ledger.pk
            else:
                payer = acc[(ADMINISTRATION, currency)]
                fund = Account.objects.get(pk=payer).balance_minor
                if fund < fee:
                    raise field_error(
                        "fee",
                        f"The trust's policy charges bank fees to its administration fund,"
                        f" which holds {format_money(from_minor(fund, currency))}: less than the fee"
                        f" of {format_money(from_minor(fee, currency))}.",
                        code="administration_fund_short",
                    )
            specs.append(
                EntrySpec(
                    effective_date=value_date,
                    legs=[
                        Leg(payer, from_minor(fee, currency)),
                        Leg(
                            acc[(IN_TRANSIT, currency)],
                            from_minor(-fee, currency),
                        ),
                    ],
                    idempotency_key=f"payment-fee:{locked.uid}",
                    memo=f"Bank fee on the payment of {label} (transfer {reference}),"
                    f" charged to {FeeBearer(bearer).label.lower()}",
                    kind=EntryKind.FEE,
                )
            )
        posted = entries_post(trust=trust, actor=actor, entries=specs)
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    request=locked,
                    trust=trust,
                    currency=currency,
                    bank_account=bank_account,
                    sent_minor=sent,
                    fee_minor=fee,
                    fee_bearer=bearer,
                    payout_currency=payout_currency,
                    payout_minor=payout,
                    value_date=value_date,
                    transfer_reference=reference,
                    recorded_by=actor,
                    payment_entry_id=posted[0].entry_id,
                    fee_entry_id=posted[1].entry_id if fee else None,
                )
        except IntegrityError as exc:  # the reference is another payment's: all of this rolls back
            raise field_error(
                "reference",
                "Another payment has this transfer reference.",
                code="duplicate_reference",
            ) from exc
        before = locked.status
        locked.status = Status.PAID
        locked.save(update_fields=["status"])
        rate = f", rate {payment.rate}" if payment.cross_currency else ""
        request_event_record(
            locked,
            "paid",
            actor,
            before,
            f"Transfer {reference}, value date {value_date}:"
            f" {format_money(payment.sent)} sent for {format_money(payment.payout)}{rate};"
            f" bank fee {format_money(payment.fee)}",
        )
        return payment


# --- clearing: acknowledgement and return ------------------------------------------------------


def _clearing_legs(
    payment: Payment, acc: dict[tuple[str, str], int], *, withheld: int = 0
) -> list[Leg]:
    """What left the bank: the bank is credited with sent + fee, and the trust-currency side of
    the transfer in transit (the trading account across currencies) is cleared. ``withheld`` (same
    currency only) is a shortfall that its own entry clears."""
    currency = payment.currency
    in_transit = acc[(IN_TRANSIT, currency)]
    out = payment.sent_minor + payment.fee_minor - withheld
    legs = [Leg(payment.bank_account_id, from_minor(-out, currency))]
    if payment.cross_currency:
        legs.append(
            Leg(
                acc[(TRADING, currency)],
                from_minor(payment.sent_minor, currency),
            )
        )
        if payment.fee_minor:
            legs.append(Leg(in_transit, from_minor(payment.fee_minor, currency)))
    else:
        legs.append(Leg(in_transit, from_minor(out, currency)))
    return legs


def _locked_payment(request: DisbursementRequest) -> tuple[DisbursementRequest, Payment]:
    """The request and its payment, both locked (the request first, as everywhere)."""
    locked = (
        DisbursementRequest.objects.select_for_update(of=("self",))
        .select_related("trust", "beneficiary")
        .get(pk=request.pk)
    )
    payment = Payment.objects.select_for_update().filter(request=locked).first()
    if payment is None:
        raise ValidationError(f"This request is {locked.status}, not paid.", code="not_paid")
    payment.request, payment.trust = locked, locked.trust
    return locked, payment


@retried_on_conflict
def payment_acknowledge(
    *,
    request: DisbursementRequest,
    actor: Any,
    arrived: Money,
    received_on: date | None = None,
    note: str = "",
) -> Payment:
    """A caseworker of the partner says what arrived, in the payout currency; that clears the
    payment. Less than the transfer was for is a shortfall, booked as an entry of its own and
    borne by the beneficiary; it needs a ``note`` (what the bank said). Refuses: anyone but the
    partner's caseworkers; a request not paid or already returned; nothing or more than was
    sent arriving; a date before the value date or in the future. Acknowledging again with the
    same amount returns the payment."""
    partner = caseworker_partner(actor)
    if partner is None or partner.pk != request.partner_id:
        raise ValidationError("Only the partner's caseworkers acknowledge.", code="not_yours")
    note = " ".join((note or "").split())
    received_on = received_on or timezone.localdate()
    with transaction.atomic():
        locked, payment = _locked_payment(request)
        if not isinstance(arrived, Money) or arrived.currency.code != payment.payout_currency:
            raise field_error(
                "arrived", f"Say what arrived in {payment.payout_currency}.", code="currency"
            )
        if arrived.amount == 0:
            raise field_error(
                "arrived",
                "If nothing arrived, tell the trustees: a returned transfer is recorded by them.",
                code="nothing_arrived",
            )
        minor = positive_minor(arrived, "arrived")
        if payment.arrived_minor is not None:
            if payment.arrived_minor == minor:
                return payment  # a retry
            raise ValidationError(
                f"This payment was acknowledged: {format_money(payment.arrived)} arrived.",
                code="already_acknowledged",
            )
        if locked.status != Status.PAID:
            raise ValidationError(f"This request is {locked.status}.", code="bad_status")
        if minor > payment.payout_minor:
            raise field_error(
                "arrived",
                f"The transfer was for {format_money(payment.payout)}; more cannot have arrived."
                " Check the amount.",
                code="more_than_sent",
            )
        shortfall = payment.payout_minor - minor
        if shortfall and not note:
            raise field_error(
                "note",
                f"{format_money(from_minor(shortfall, payment.payout_currency))} is missing: say what"
                " the bank's advice says about it.",
                code="note_required",
            )
        on = _date(received_on, "received_on", not_before=payment.value_date, what="the value date")
        trust, label = payment.trust, _label(locked)
        acc = _books(trust, payment.currency, payment.payout_currency)
        ccy = payment.payout_currency
        if payment.cross_currency:
            legs = [
                *_clearing_legs(payment, acc),
                Leg(acc[(IN_TRANSIT, ccy)], from_minor(minor, ccy)),
                Leg(acc[(TRADING, ccy)], from_minor(-minor, ccy)),
            ]
        else:  # the bank leg of a shortfall goes in its own entry below
            legs = _clearing_legs(payment, acc, withheld=shortfall)
        specs = [
            EntrySpec(
                effective_date=on,
                legs=legs,
                idempotency_key=f"payment-settled:{locked.uid}",
                memo=f"Payment of {label} arrived: {format_money(from_minor(minor, ccy))}"
                f" (transfer {payment.transfer_reference})",
                kind=EntryKind.SETTLEMENT,
            )
        ]
        if shortfall:
            if payment.cross_currency:
                short_legs = [
                    Leg(acc[(IN_TRANSIT, ccy)], from_minor(shortfall, ccy)),
                    Leg(acc[(TRADING, ccy)], from_minor(-shortfall, ccy)),
                ]
            else:
                short_legs = [
                    Leg(acc[(IN_TRANSIT, ccy)], from_minor(shortfall, ccy)),
                    Leg(payment.bank_account_id, from_minor(-shortfall, ccy)),
                ]
            specs.append(
                EntrySpec(
                    effective_date=on,
                    legs=short_legs,
                    idempotency_key=f"payment-shortfall:{locked.uid}",
                    memo=f"Shortfall on the payment of {label}:"
                    f" {format_money(from_minor(shortfall, ccy))} of"
                    f" {format_money(payment.payout)} did not arrive, borne by the beneficiary"
                    # The partner's note is free text about a child: it stays encrypted on the
                    # request's event, out of the journal that auditors and exports read.
                    " (see the request's acknowledgement)",
                    kind=EntryKind.SHORTFALL,
                )
            )
        posted = entries_post(trust=trust, actor=actor, entries=specs)
        payment.arrived_minor = minor
        payment.acknowledged_on = on
        payment.acknowledged_by = actor
        payment.settlement_entry_id = posted[0].entry_id
        payment.shortfall_entry_id = posted[1].entry_id if shortfall else None
        payment.save(
            update_fields=[
                "arrived_minor",
                "acknowledged_on",
                "acknowledged_by",
                "settlement_entry",
                "shortfall_entry",
            ]
        )
        locked.status = Status.ACKNOWLEDGED
        locked.save(update_fields=["status"])
        reason = f"{format_money(payment.arrived)} arrived on {on}"
        if shortfall:
            reason += f"; shortfall {format_money(payment.shortfall)}: {note}"
        request_event_record(locked, "acknowledged", actor, Status.PAID, reason)
        return payment


@retried_on_conflict
def payment_return(
    *,
    request: DisbursementRequest,
    actor: Any,
    returned: Money,
    returned_on: date | None = None,
    reason: str,
) -> Payment:
    """A trustee records a transfer that came back: ``returned`` is what the bank credited, in
    the trust's currency. The beneficiary is credited with it; across currencies the sub-ledger
    first gets back what was sent and the difference is a realised exchange loss (or gain) in an
    entry of its own. The fee is not refunded. Refuses: a non-trustee; a request not paid or
    already acknowledged; a blank reason; more back than was sent in the same currency; a date
    before the value date or in the future. Recording it again with the same amount returns the
    payment."""
    if not is_trustee(actor, request.trust_id):
        raise ValidationError("Only a trustee records a returned payment.", code="not_trustee")
    reason = " ".join((reason or "").split())
    if not reason:
        raise field_error("reason", "Say why the transfer came back.", code="reason_missing")
    returned_on = returned_on or timezone.localdate()
    with transaction.atomic():
        sub_ledger = Account.objects.select_for_update().get(pk=request.sub_ledger_id)
        locked, payment = _locked_payment(request)
        currency = payment.currency
        if not isinstance(returned, Money) or returned.currency.code != currency:
            raise field_error("returned", f"Say what came back in {currency}.", code="currency")
        minor = positive_minor(returned, "returned")
        if payment.returned_minor is not None:
            if payment.returned_minor == minor:
                return payment  # a retry
            raise ValidationError(
                f"This payment was already returned ({format_money(payment.returned)}).",
                code="already_returned",
            )
        if locked.status != Status.PAID:
            raise ValidationError(
                f"This request is {locked.status}; only a paid, unacknowledged transfer can"
                " come back.",
                code="bad_status",
            )
        if not payment.cross_currency and minor > payment.sent_minor:
            raise field_error(
                "returned",
                f"{format_money(payment.sent)} was sent; more cannot come back in the same"
                " currency.",
                code="more_than_sent",
            )
        on = _date(returned_on, "returned_on", not_before=payment.value_date, what="the value date")
        trust, label = payment.trust, _label(locked)
        acc = _books(trust, payment.currency, payment.payout_currency)
        ccy = payment.payout_currency
        bank = payment.bank_account_id
        cleared = EntrySpec(
            effective_date=on,
            legs=_clearing_legs(payment, acc),
            idempotency_key=f"payment-settled:{locked.uid}",
            memo=f"Payment of {label} left the bank (transfer {payment.transfer_reference})",
            kind=EntryKind.SETTLEMENT,
        )
        if payment.cross_currency:
            trading = acc[(TRADING, currency)]
            difference = payment.sent_minor - minor  # > 0: a loss to the beneficiary
            back_legs = [
                Leg(
                    acc[(IN_TRANSIT, ccy)],
                    from_minor(payment.payout_minor, ccy),
                ),
                Leg(acc[(TRADING, ccy)], from_minor(-payment.payout_minor, ccy)),
                Leg(bank, from_minor(minor, currency)),
                Leg(sub_ledger.pk, from_minor(-payment.sent_minor, currency)),
            ]
            if difference:
                back_legs.append(Leg(trading, from_minor(difference, currency)))
        else:
            difference = 0
            back_legs = [
                Leg(bank, from_minor(minor, currency)),
                Leg(sub_ledger.pk, from_minor(-minor, currency)),
            ]
        specs = [
            cleared,
            EntrySpec(
                effective_date=on,
                legs=back_legs,
                idempotency_key=f"payment-returned:{locked.uid}",
                memo=f"Payment of {label} returned: {format_money(from_minor(minor, currency))}"
                f" came back for {format_money(payment.payout)} sent"
                f" (transfer {payment.transfer_reference}); the reason is on the request",
                kind=EntryKind.RETURN,
            ),
        ]
        if difference:
            gain_or_loss = "loss" if difference > 0 else "gain"
            specs.append(
                EntrySpec(
                    effective_date=on,
                    legs=[
                        Leg(sub_ledger.pk, from_minor(difference, currency)),
                        Leg(trading, from_minor(-difference, currency)),
                    ],
                    idempotency_key=f"payment-fx:{locked.uid}",
                    memo=f"Realised exchange {gain_or_loss} on the returned payment of {label}:"
                    f" {format_money(payment.sent)} sent,"
                    f" {format_money(from_minor(minor, currency))} came back",
                    kind=EntryKind.FX,
                )
            )
        posted = entries_post(trust=trust, actor=actor, entries=specs)
        payment.returned_minor = minor
        payment.returned_on = on
        payment.returned_by = actor
        payment.settlement_entry_id = posted[0].entry_id
        payment.return_entry_id = posted[1].entry_id
        payment.fx_entry_id = posted[2].entry_id if difference else None
        payment.save(
            update_fields=[
                "returned_minor",
                "returned_on",
                "returned_by",
                "settlement_entry",
                "return_entry",
                "fx_entry",
            ]
        )
        locked.status = Status.RETURNED
        locked.save(update_fields=["status"])
        request_event_record(
            locked,
            "returned",
            actor,
            Status.PAID,
            f"{format_money(payment.returned)} came back on {on}: {reason}",
        )
        return payment
