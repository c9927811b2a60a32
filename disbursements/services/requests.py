"""Disbursement requests up to their decision: drafting, submitting, approving (reserving the
funds), rejecting and cancelling; what is reserved and available on a sub-ledger; and the record
every transition writes.

The lifecycle: a caseworker drafts a request for a beneficiary of their own partner and submits
it; a trustee approves it (reserving the funds) or rejects it, with a reason; a request that is
not yet paid can be cancelled, which releases its reservation. Every transition is a
``RequestEvent`` (who, when, from, to, why) written in the same transaction.

Locking (DOMAIN rule 3, no overdraft under concurrent approvals): approving and cancelling lock
the beneficiary's sub-ledger row first, then the request. The ledger's posting function locks the
same account rows, so an approval, a cancellation and a posting to the same sub-ledger run one at
a time, and ``available = balance - reserved`` is computed under that lock: of many approvals
racing for one sub-ledger exactly those that fit succeed.

Retrying a step is harmless: a draft with the same key and the same request returns the first
(the same key for another request is refused, ``key_reused``), submitting a submitted request or
approving twice as the same trustee changes nothing, cancelling a cancelled request returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from moneyed import Money

from disbursements.models import (
    RESERVING,
    Approval,
    Budget,
    CarePartner,
    Category,
    DisbursementRequest,
    RequestEvent,
    Status,
)
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.notifications import request_event_notify_later
from disbursements.services.partners import vetting_current
from disbursements.services.policy import policy_for
from trust import crypto
from trust.access import is_trustee
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Account, Beneficiary, ImplicatedPerson, Trust
from trust.money import format_money, from_minor
from trust.services.amounts import positive_minor
from trust.services.people import IMPLICATED_PURPOSE


def request_event_record(
    request: DisbursementRequest, action: str, actor: Any, status_from: str, reason: str = ""
) -> None:
    """Record a transition of ``request``: its RequestEvent, the audit event, the notifications."""
    event = RequestEvent.objects.create(
        request=request,
        action=action,
        actor=actor,
        status_from=status_from,
        status_to=request.status,
        reason=reason,
    )
    audit_record(
        action=f"request.{action}",
        actor=actor,
        trust_id=request.trust_id,
        object_type="disbursement_request",
        object_id=request.pk,
        changes={
            "status": {"before": status_from, "after": request.status},
            "beneficiary": request.beneficiary_id,
            "partner": request.partner_id,
            "category": request.category,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "reserve_minor": request.reserve_minor,
            "event": event.pk,
            # The reason is free text about a child: it stays encrypted on the event (under the
            # child's data key), out of the trail that auditors export.
            "reason_given": bool(reason),
        },
    )
    request_event_notify_later(event)


@dataclass(frozen=True)
class Payee:
    """Who is paid, when not the care partner itself: a provider, or a family member (with the
    court's authorisation). The name is stored encrypted, with a blind index to compare it with
    the people recorded as implicated."""

    kind: str
    name: str
    court_authorisation: str = ""


def _purpose_text(category: str, purpose: str, justification: str) -> str:
    """The purpose as a draft stores it: stripped, with the justification of "other" after it."""
    text = (purpose or "").strip()
    if category == Category.OTHER and (justification or "").strip():
        text = f"{text}\n\nJustification: {justification.strip()}".strip()
    return text


def _payee_terms(payee: Payee | None) -> tuple[str, str, str]:
    """(kind, name, court authorisation) as a draft stores them; the partner has no name."""
    if payee is None or payee.kind == DisbursementRequest.PayeeKind.PARTNER:
        return (DisbursementRequest.PayeeKind.PARTNER, "", "")
    return (payee.kind, (payee.name or "").strip(), (payee.court_authorisation or "").strip()[:200])


def _draft_differences(
    done: DisbursementRequest,
    *,
    beneficiary: Beneficiary,
    category: str,
    amount: Money,
    purpose: str,
    payee: tuple[str, str, str],
) -> list[str]:
    """What a call differs in from the draft ``done`` made under its key: the beneficiary, the
    category, the currency, the amount, the purpose or the payee. The purpose and the payee's
    name are stored encrypted; they are compared decrypted (the purpose under the child's key)."""
    if done.beneficiary_id != beneficiary.pk:
        return ["beneficiary"]  # the rest is about another child: not read
    differs: list[str] = []
    if done.category != category:
        differs.append("category")
    currency = getattr(getattr(amount, "currency", None), "code", None)
    if currency != done.currency:
        differs.append("currency")
    elif amount != done.amount:
        differs.append("amount")
    if done.purpose != purpose:
        differs.append("purpose")
    stored_name = (
        crypto.decrypt_text(done.payee_token, context=f"disbursement-payee:{done.uid}")
        if done.payee_token
        else ""
    )
    if (done.payee_kind, stored_name, done.court_authorisation) != payee:
        differs.append("payee")
    return differs


class DraftKeyReused(ValidationError):
    """A caseworker's key used again for another request (code ``key_reused``, on the
    ``idempotency_key`` field): ``request_id`` is the draft the key made, ``differs`` what this
    call asks for differently (``["amount"]``)."""

    def __init__(self, done: DisbursementRequest, differs: list[str]) -> None:
        super().__init__(
            {
                "idempotency_key": ValidationError(
                    f"key {done.idempotency_key!r} was already used for request #{done.pk},"
                    f" which differs in {', '.join(differs)}: use a new key for a new request",
                    code="key_reused",
                )
            }
        )
        self.request_id = done.pk
        self.differs = differs


def _retried_draft(
    done: DisbursementRequest, *, beneficiary: Beneficiary, **asked: Any
) -> DisbursementRequest:
    """``done``, the draft made under the key, if this call asks for the same; else refused
    (``DraftKeyReused``, code ``key_reused``), as every service refuses a key reused for
    something else."""
    if done.beneficiary_id == beneficiary.pk and beneficiary.erased:
        raise field_error(
            "beneficiary",
            "This child's identifying data was erased; no request can be made for them.",
            code="erased",
        )
    differs = _draft_differences(done, beneficiary=beneficiary, **asked)
    if differs:
        raise DraftKeyReused(done, differs)
    return done


def request_draft(
    *,
    actor: Any,
    beneficiary: Beneficiary,
    category: str,
    amount: Money,
    purpose: str,
    idempotency_key: str,
    justification: str = "",
    payee: Payee | None = None,
) -> DisbursementRequest:
    """A caseworker's draft, for a beneficiary in their own partner's care, in the trust's
    currency or the partner's payout currency. Refuses another partner's beneficiary, an unknown
    category, "other" without a justification, a bad amount, a blank purpose, a family member
    without a court authorisation, a trust closed for good (``trust_closed``) and a child whose
    identifying data was erased (``erased``).

    The key is the caseworker's: the same key again with the same beneficiary, category, amount
    and currency, purpose (and justification) and payee returns the first draft, and writes
    nothing; with anything else it is refused (``key_reused``, naming the request and what
    differs), never answered with the first draft as if it were the one asked for. Two calls at
    once with one key make one draft (the unique key decides; the loser answers as a retry)."""
    partner = caseworker_partner(actor)
    if partner is None:
        raise ValidationError("Only a caseworker drafts requests.", code="not_caseworker")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 150:
        raise field_error("idempotency_key", "A key of 1 to 150 characters.", code="key_missing")
    asked: dict[str, Any] = {
        "beneficiary": beneficiary,
        "category": category,
        "amount": amount,
        "purpose": _purpose_text(category, purpose, justification),
        "payee": _payee_terms(payee),
    }
    done = DisbursementRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
    if done is not None:
        return _retried_draft(done, **asked)
    if beneficiary.care_partner_id != partner.pk:
        raise field_error(
            "beneficiary", "This beneficiary is not in your partner's care.", code="not_yours"
        )
    if beneficiary.erased:
        raise field_error(
            "beneficiary",
            "This child's identifying data was erased; no request can be made for them.",
            code="erased",
        )
    if beneficiary.trust.status != Trust.Status.ACTIVE:
        raise field_error(
            "beneficiary",
            "The trust is closed for good: it pays nothing more.",
            code="trust_closed",
        )
    if category not in Category.values:
        raise field_error("category", f"unknown category {category!r}", code="bad_category")
    if category == Category.OTHER and not (justification or "").strip():
        raise field_error(
            "justification", "'Other' needs a justification.", code="justification_missing"
        )
    purpose = asked["purpose"]
    if not purpose:
        raise field_error("purpose", "Say what the money is for.", code="required")
    minor = positive_minor(amount, "amount")
    trust = beneficiary.trust
    allowed = {trust.base_currency, partner.payout_currency} - {""}
    if amount.currency.code not in allowed:
        raise field_error(
            "amount",
            f"request in {' or '.join(sorted(allowed))}",
            code="currency_mismatch",
        )
    sub_ledger = Account.objects.get(
        trust=trust,
        beneficiary=beneficiary,
        role=Account.Role.SUB_LEDGER,
        currency=trust.base_currency,
    )
    payee_fields: dict[str, str] = {}
    if payee is not None and payee.kind != DisbursementRequest.PayeeKind.PARTNER:
        if payee.kind not in DisbursementRequest.PayeeKind.values:
            raise field_error("payee", "Unknown kind of payee.", code="bad_payee")
        if not crypto.normalise_for_index(payee.name or ""):
            raise field_error("payee", "Name the payee.", code="required")
        authorisation = (payee.court_authorisation or "").strip()
        if payee.kind == DisbursementRequest.PayeeKind.FAMILY and not authorisation:
            raise field_error(
                "payee",
                "Paying a family member needs the court's authorisation (document reference).",
                code="authorisation_missing",
            )
        payee_fields = {"payee_kind": payee.kind, "court_authorisation": authorisation[:200]}
    try:
        with transaction.atomic():
            request = DisbursementRequest.objects.create(
                trust=trust,
                beneficiary=beneficiary,
                partner=partner,
                sub_ledger=sub_ledger,
                category=category,
                purpose=purpose,
                amount_minor=minor,
                currency=amount.currency.code,
                requested_by=actor,
                idempotency_key=key,
                **payee_fields,
            )
            if payee_fields:
                request.payee_token = crypto.encrypt_text(
                    payee.name.strip(),  # type: ignore[union-attr]
                    context=f"disbursement-payee:{request.uid}",
                )
                request.payee_index = crypto.blind_index(
                    payee.name,  # type: ignore[union-attr]
                    purpose=IMPLICATED_PURPOSE,
                )
                request.save(update_fields=["payee_token", "payee_index"])
            request_event_record(request, "drafted", actor, "")
            return request
    except IntegrityError:
        # A concurrent call with the same key won the race: answer as a retry would.
        done = DisbursementRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
        if done is None:
            raise
        return _retried_draft(done, **asked)


def _locked(request: DisbursementRequest) -> DisbursementRequest:
    return DisbursementRequest.objects.select_for_update().get(pk=request.pk)


def request_submit(*, request: DisbursementRequest, actor: Any) -> DisbursementRequest:
    """Send a draft to the trustees. Only a caseworker of the request's partner submits."""
    partner = caseworker_partner(actor)
    if partner is None or partner.pk != request.partner_id:
        raise ValidationError("Only the partner's caseworkers submit.", code="not_yours")
    with transaction.atomic():
        locked = _locked(request)
        if locked.status == Status.SUBMITTED:
            return locked
        if locked.status != Status.DRAFT:
            raise ValidationError(f"This request is {locked.status}.", code="bad_status")
        locked.status, locked.submitted_at = Status.SUBMITTED, timezone.now()
        locked.save(update_fields=["status", "submitted_at"])
        request_event_record(locked, "submitted", actor, Status.DRAFT)
        return locked


def reserved_minor(sub_ledger_id: int, *, excluding: int | None = None) -> int:
    """What approved but unpaid requests hold on the sub-ledger."""
    queryset = DisbursementRequest.objects.filter(sub_ledger_id=sub_ledger_id, status__in=RESERVING)
    if excluding is not None:
        queryset = queryset.exclude(pk=excluding)
    return int(queryset.aggregate(total=Sum("reserve_minor"))["total"] or 0)


def available(sub_ledger: Account) -> Money:
    """Balance less what approved requests reserve (DOMAIN rule 3)."""
    fresh = Account.objects.only("balance_minor", "currency").get(pk=sub_ledger.pk)
    return from_minor(fresh.balance_minor - reserved_minor(sub_ledger.pk), fresh.currency)


def _budget_excess(request: DisbursementRequest, reserve: int, on: date) -> str | None:
    """A message if the request takes its category over the beneficiary's budget for the period
    containing ``on``; ``None`` when within it or when no budget is set."""
    budget = Budget.objects.filter(
        beneficiary_id=request.beneficiary_id,
        category=request.category,
        period_start__lte=on,
        period_end__gte=on,
    ).first()
    if budget is None:
        return None
    committed = (
        DisbursementRequest.objects.filter(
            beneficiary_id=request.beneficiary_id,
            category=request.category,
            status__in=[Status.APPROVED, Status.PAID, Status.ACKNOWLEDGED],
            decided_at__date__gte=budget.period_start,
            decided_at__date__lte=budget.period_end,
        )
        .exclude(pk=request.pk)
        .aggregate(total=Sum("reserve_minor"))["total"]
        or 0
    )
    if committed + reserve <= budget.amount_minor:
        return None
    return (
        f"this takes {request.get_category_display().lower()} to"
        f" {format_money(from_minor(committed + reserve, budget.currency))}, over the budget of"
        f" {format_money(budget.amount)} for {budget.period_start} to {budget.period_end}"
    )


def refuse_unpayable(request: DisbursementRequest, partner: CarePartner) -> None:
    """DOMAIN rule 7, checked when approving and again when paying: the partner's vetting is
    current and the payee is not recorded as implicated in the case."""
    if not vetting_current(partner):
        raise ValidationError(
            f"{partner}'s vetting is not current: renew it before approving or paying.",
            code="vetting_lapsed",
        )
    if (
        request.payee_index
        and ImplicatedPerson.objects.filter(
            trust_id=request.trust_id, name_index=request.payee_index
        ).exists()
    ):
        raise ValidationError(
            "The payee is recorded as implicated in the case: never pay them.",
            code="payee_implicated",
        )


def request_approve(
    *,
    request: DisbursementRequest,
    actor: Any,
    reserve: Money | None = None,
    override_reason: str = "",
) -> DisbursementRequest:
    """A trustee's approval. At or below the trust's threshold one approval reserves the funds;
    above it the second approval, by another trustee, does. ``reserve`` is what to hold on the
    sub-ledger when the request is in another currency (the trustee's figure, covering the rate
    and fees); in the sub-ledger's currency it is the amount. Refuses: a non-trustee; the
    requester; the same trustee twice; a request not submitted; a partner whose vetting has
    lapsed; a payee recorded as implicated; more than is available; more than the care-plan
    budget without ``override_reason``."""
    if not is_trustee(actor, request.trust_id):
        raise ValidationError("Only a trustee approves.", code="not_trustee")
    if actor.pk == request.requested_by_id:
        raise ValidationError("You requested this; another trustee approves it.", code="own")
    override_reason = (override_reason or "").strip()
    with transaction.atomic():
        sub_ledger = Account.objects.select_for_update().get(pk=request.sub_ledger_id)
        locked = _locked(request)
        if locked.status == Status.APPROVED and locked.approvals.filter(trustee=actor).exists():
            return locked  # a retry
        if locked.status != Status.SUBMITTED:
            raise ValidationError(f"This request is {locked.status}.", code="bad_status")
        first = locked.approvals.first()
        if first is not None and first.trustee_id == actor.pk:
            return locked  # a retry of the first approval
        if locked.currency == sub_ledger.currency:
            if reserve is not None and reserve != locked.amount:
                raise field_error(
                    "reserve", "The reservation is the amount requested.", code="reserve_differs"
                )
            reserve_minor_ = locked.amount_minor
        elif first is not None and locked.reserve_minor is not None:
            reserve_minor_ = locked.reserve_minor
            if reserve is not None and positive_minor(reserve, "reserve") != reserve_minor_:
                raise field_error(
                    "reserve",
                    f"the first trustee reserved {format_money(locked.reserve)}",
                    code="reserve_differs",
                )
        else:
            if reserve is None:
                raise field_error(
                    "reserve",
                    f"the request is in {locked.currency}: say how much {sub_ledger.currency}"
                    " to reserve for it",
                    code="reserve_missing",
                )
            reserve_minor_ = positive_minor(reserve, "reserve")
            if reserve.currency.code != sub_ledger.currency:
                raise field_error(
                    "reserve", f"reserve in {sub_ledger.currency}", code="currency_mismatch"
                )
        refuse_unpayable(locked, CarePartner.objects.get(pk=locked.partner_id))
        free = sub_ledger.balance_minor - reserved_minor(sub_ledger.pk, excluding=locked.pk)
        if reserve_minor_ > free:
            raise ValidationError(
                f"Only {format_money(from_minor(max(free, 0), sub_ledger.currency))} is available"
                f" for {locked.beneficiary}; this needs"
                f" {format_money(from_minor(reserve_minor_, sub_ledger.currency))}.",
                code="insufficient_funds",
            )
        excess = _budget_excess(locked, reserve_minor_, timezone.localdate())
        if excess and not override_reason:
            raise field_error(
                "override_reason",
                f"{excess[0].upper()}{excess[1:]}: give a reason to override it.",
                code="over_budget",
            )
        Approval.objects.create(request=locked, trustee=actor)
        threshold = policy_for(locked.trust).dual_approval_minor
        needs_two = reserve_minor_ > threshold
        before = locked.status
        locked.reserve_minor = reserve_minor_
        if excess:
            locked.budget_override_reason = override_reason
        if needs_two and first is None:
            locked.save(update_fields=["reserve_minor", "budget_override_token"])
            request_event_record(locked, "first_approval", actor, before, override_reason)
            return locked
        locked.status, locked.decided_at = Status.APPROVED, timezone.now()
        locked.save(
            update_fields=["status", "decided_at", "reserve_minor", "budget_override_token"]
        )
        request_event_record(locked, "approved", actor, before, override_reason)
        return locked


def request_reject(*, request: DisbursementRequest, actor: Any, reason: str) -> DisbursementRequest:
    """A trustee's rejection, with a reason. Rejecting a rejected request returns it."""
    if not is_trustee(actor, request.trust_id):
        raise ValidationError("Only a trustee rejects.", code="not_trustee")
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "Say why the request is rejected.", code="reason_missing")
    with transaction.atomic():
        locked = _locked(request)
        if locked.status == Status.REJECTED:
            return locked
        if locked.status != Status.SUBMITTED:
            raise ValidationError(f"This request is {locked.status}.", code="bad_status")
        locked.status, locked.decided_at = Status.REJECTED, timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        request_event_record(locked, "rejected", actor, Status.SUBMITTED, reason)
        return locked


def request_cancel(*, request: DisbursementRequest, actor: Any, reason: str) -> DisbursementRequest:
    """Withdraw a request before it is paid (its requester or a trustee), releasing what it
    reserved. Cancelling a cancelled request returns it; a paid one cannot be cancelled."""
    mine = actor.pk == request.requested_by_id
    if not (mine or is_trustee(actor, request.trust_id)):
        raise ValidationError("Only the requester or a trustee cancels.", code="not_allowed")
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "Say why the request is cancelled.", code="reason_missing")
    with transaction.atomic():
        Account.objects.select_for_update().get(pk=request.sub_ledger_id)
        locked = _locked(request)
        if locked.status == Status.CANCELLED:
            return locked
        if locked.status not in (Status.DRAFT, Status.SUBMITTED, Status.APPROVED):
            raise ValidationError(
                f"This request is {locked.status}; it can no longer be cancelled.",
                code="bad_status",
            )
        before = locked.status
        locked.status = Status.CANCELLED
        locked.save(update_fields=["status"])
        request_event_record(locked, "cancelled", actor, before, reason)
        return locked
