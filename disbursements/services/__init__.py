"""Care partners, caseworkers, budgets, and disbursement requests up to their decision
(payments are in ``disbursements.services.payments``).

The lifecycle: a caseworker drafts a request for a beneficiary of their own partner and submits
it; a trustee approves it (reserving the funds) or rejects it, with a reason; a request that is
not yet paid can be cancelled, which releases its reservation. Every transition is a
``RequestEvent`` (who, when, from, to, why) written in the same transaction.

Locking (DOMAIN rule 3, no overdraft under concurrent approvals): approving and cancelling lock
the beneficiary's sub-ledger row first, then the request. The ledger's posting function locks the
same account rows, so an approval, a cancellation and a posting to the same sub-ledger run one at
a time, and ``available = balance - reserved`` is computed under that lock: of many approvals
racing for one sub-ledger exactly those that fit succeed.

Retrying a step is harmless: a draft with the same key returns the first, submitting a submitted
request or approving twice as the same trustee changes nothing, cancelling a cancelled request
returns it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import filetype
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from moneyed import Money

from disbursements.models import (
    RESERVING,
    Approval,
    Budget,
    CarePartner,
    Caseworker,
    Category,
    DisbursementPolicy,
    DisbursementRequest,
    Notification,
    RequestDocument,
    RequestEvent,
    Status,
)
from trust import crypto
from trust.audit.events import audit_record
from trust.background import task_enqueue
from trust.countries import COUNTRY_CODES
from trust.errors import field_error
from trust.models import Account, Beneficiary, ImplicatedPerson, Trust
from trust.money import format_money, from_minor, to_minor
from trust.roles import TRUSTEE, is_trustee
from trust.services.amounts import positive_minor
from trust.services.people import IMPLICATED_PURPOSE

logger = logging.getLogger(__name__)

# Above this (in the trust's base currency) two trustees approve, until the trust sets its own.
DEFAULT_DUAL_APPROVAL = "5000.00"


def _event(
    request: DisbursementRequest, action: str, actor: Any, status_from: str, reason: str = ""
) -> None:
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
        },
        reason=reason,
    )
    _notify_later(event)


# --- care partners and caseworkers ------------------------------------------------------------


def care_partner_create(
    *,
    actor: Any,
    name: str,
    country: str,
    registration_number: str = "",
    payout_currency: str = "",
) -> CarePartner:
    """A care partner, not yet vetted, recorded by a trustee. Refuses a blank or taken name and
    an unknown country or currency."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee records care partners.", code="not_trustee")
    name = " ".join((name or "").split())
    if not name:
        raise field_error("name", "A name is required.", code="required")
    country = (country or "").strip().upper()
    if country not in COUNTRY_CODES:
        raise field_error("country", f"{country!r} is not a country code", code="bad_country")
    payout_currency = (payout_currency or "").strip().upper()
    if payout_currency and payout_currency not in settings.CURRENCIES:
        raise field_error(
            "payout_currency", f"{payout_currency} is not an accepted currency", code="bad_currency"
        )
    try:
        with transaction.atomic():
            partner = CarePartner.objects.create(
                name=name,
                country=country,
                registration_number=(registration_number or "").strip()[:100],
                payout_currency=payout_currency,
            )
            _audit_partner(
                partner,
                "care_partner.created",
                actor,
                {
                    "name": name,
                    "country": country,
                    "registration_number": partner.registration_number,
                    "payout_currency": payout_currency,
                },
            )
            return partner
    except IntegrityError as exc:
        raise field_error("name", "A care partner of that name exists.", code="taken") from exc


def care_partner_vet(
    *,
    partner: CarePartner,
    actor: Any,
    status: str,
    vetted_on: date | None = None,
    expires_on: date | None = None,
) -> CarePartner:
    """Record a vetting decision. An approval needs the date it was done and the date it expires
    (after it); a suspension keeps the dates."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee records vetting.", code="not_trustee")
    if status not in CarePartner.Vetting.values:
        raise field_error("status", f"unknown vetting status {status!r}", code="bad_status")
    if status == CarePartner.Vetting.APPROVED:
        if vetted_on is None or expires_on is None:
            raise field_error(
                "expires_on", "Approved vetting needs its date and expiry.", code="required"
            )
        if expires_on <= vetted_on:
            raise field_error(
                "expires_on", "The vetting must expire after it was done.", code="bad_dates"
            )
        partner.vetted_on, partner.vetting_expires_on = vetted_on, expires_on
    before = CarePartner.objects.filter(pk=partner.pk).values(
        "vetting_status", "vetted_on", "vetting_expires_on"
    )[0]
    partner.vetting_status = status
    with transaction.atomic():
        partner.save(update_fields=["vetting_status", "vetted_on", "vetting_expires_on"])
        _audit_partner(
            partner,
            "care_partner.vetted",
            actor,
            {
                name: {"before": before[name], "after": getattr(partner, name)}
                for name in ("vetting_status", "vetted_on", "vetting_expires_on")
            },
        )
    return partner


def _audit_partner(partner: CarePartner, action: str, actor: Any, changes: dict) -> None:
    """Partners serve every trust: their events go on the global chain."""
    audit_record(
        action=action,
        actor=actor,
        object_type="care_partner",
        object_id=partner.pk,
        changes=changes,
    )


def vetting_current(partner: CarePartner, on: date | None = None) -> bool:
    on = on or timezone.localdate()
    return (
        partner.vetting_status == CarePartner.Vetting.APPROVED
        and partner.vetting_expires_on is not None
        and partner.vetting_expires_on >= on
    )


def care_partner_set_payout(
    *, partner: CarePartner, actor: Any, currency: str, details: dict[str, str]
) -> CarePartner:
    """Store the account the partner is paid into: its currency in clear, its bank details
    encrypted (never logged, never shown without a recorded reveal)."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee sets payout details.", code="not_trustee")
    currency = (currency or "").strip().upper()
    if currency not in settings.CURRENCIES:
        raise field_error("currency", "Not an accepted currency.", code="bad_currency")
    clean = {k: str(v).strip() for k, v in (details or {}).items() if str(v).strip()}
    if not clean.get("account_number") or not clean.get("bank"):
        raise field_error(
            "details", "The bank and the account number are required.", code="required"
        )
    partner.payout_currency = currency
    partner.payout_token = crypto.encrypt_text(
        json.dumps(clean, sort_keys=True), context=f"care-partner-payout:{partner.uid}"
    )
    with transaction.atomic():
        partner.save(update_fields=["payout_currency", "payout_token"])
        # The details stay encrypted, out of the log: only that they changed, and the currency.
        _audit_partner(partner, "care_partner.payout_set", actor, {"payout_currency": currency})
    return partner


def caseworker_add(*, partner: CarePartner, user: Any, actor: Any) -> Caseworker:
    """Make ``user`` a caseworker of ``partner``. A user works for one partner; a trustee cannot
    be a caseworker (segregation of duties). Only a trustee places caseworkers."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee places caseworkers.", code="not_trustee")
    if is_trustee(user):
        raise field_error("user", "A trustee cannot be a caseworker.", code="is_trustee")
    existing = Caseworker.objects.filter(user=user).first()
    if existing is not None:
        if existing.partner_id != partner.pk:
            raise field_error(
                "user", "This user is a caseworker of another partner.", code="other_partner"
            )
        return existing
    with transaction.atomic():
        caseworker = Caseworker.objects.create(user=user, partner=partner)
        _audit_partner(
            partner,
            "care_partner.caseworker_added",
            actor,
            {"user": {"id": user.pk, "username": user.get_username()}},
        )
    return caseworker


def _partner_of(user: Any) -> CarePartner | None:
    """The partner an active caseworker works for (``None`` for anyone else)."""
    if not getattr(user, "is_active", False):
        return None
    caseworker = Caseworker.objects.filter(user_id=getattr(user, "pk", None)).first()
    return caseworker.partner if caseworker else None


# --- policy and budgets ---------------------------------------------------------------------


def policy_for(trust: Trust) -> DisbursementPolicy:
    policy = DisbursementPolicy.objects.filter(trust=trust).first()
    if policy is None:
        threshold = to_minor(Money(DEFAULT_DUAL_APPROVAL, trust.base_currency))
        policy, _ = DisbursementPolicy.objects.get_or_create(
            trust=trust, defaults={"dual_approval_minor": threshold}
        )
    return policy


def policy_set_dual_approval(*, trust: Trust, actor: Any, threshold: Money) -> DisbursementPolicy:
    if not is_trustee(actor):
        raise ValidationError("Only a trustee sets the policy.", code="not_trustee")
    minor = positive_minor(threshold, "threshold")
    if threshold.currency.code != trust.base_currency:
        raise field_error(
            "threshold", f"the threshold is in {trust.base_currency}", code="currency_mismatch"
        )
    with transaction.atomic():
        policy = policy_for(trust)
        before = policy.dual_approval_minor
        policy.dual_approval_minor, policy.updated_by = minor, actor
        policy.save(update_fields=["dual_approval_minor", "updated_by", "updated_at"])
        _audit_policy(policy, actor, "dual_approval_minor", before, minor)
    return policy


def _audit_policy(
    policy: DisbursementPolicy, actor: Any, name: str, before: Any, after: Any
) -> None:
    audit_record(
        action="policy.changed",
        actor=actor,
        trust_id=policy.trust_id,
        object_type="disbursement_policy",
        object_id=policy.pk,
        changes={name: {"before": before, "after": after}},
    )


def policy_set_fee_bearer(*, trust: Trust, actor: Any, bearer: str) -> DisbursementPolicy:
    """Who bears the bank's fees on payments from now on: the beneficiary's sub-ledger or the
    trust's administration fund. Payments already recorded keep theirs."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee sets the policy.", code="not_trustee")
    if bearer not in DisbursementPolicy.FeeBearer.values:
        raise field_error("bearer", f"{bearer!r} is not who can bear fees", code="bad_bearer")
    with transaction.atomic():
        policy = policy_for(trust)
        before = policy.fees_charged_to
        policy.fees_charged_to, policy.updated_by = bearer, actor
        policy.save(update_fields=["fees_charged_to", "updated_by", "updated_at"])
        _audit_policy(policy, actor, "fees_charged_to", before, bearer)
    return policy


def budget_set(
    *,
    beneficiary: Beneficiary,
    actor: Any,
    category: str,
    period_start: date,
    period_end: date,
    amount: Money,
) -> Budget:
    """Set (or replace) the care-plan budget of one category for a period starting that day."""
    if not is_trustee(actor):
        raise ValidationError("Only a trustee sets budgets.", code="not_trustee")
    if category not in Category.values:
        raise field_error("category", f"unknown category {category!r}", code="bad_category")
    if period_end < period_start:
        raise field_error("period_end", "The period ends before it starts.", code="bad_dates")
    minor = positive_minor(amount, "amount")
    currency = beneficiary.trust.base_currency
    if amount.currency.code != currency:
        raise field_error("amount", f"budgets are in {currency}", code="currency_mismatch")
    overlapping = (
        Budget.objects.filter(
            beneficiary=beneficiary,
            category=category,
            period_start__lte=period_end,
            period_end__gte=period_start,
        )
        .exclude(period_start=period_start)
        .exists()
    )
    if overlapping:
        raise field_error(
            "period_start", "Another budget of this category overlaps.", code="overlap"
        )
    with transaction.atomic():
        budget, created = Budget.objects.update_or_create(
            beneficiary=beneficiary,
            category=category,
            period_start=period_start,
            defaults={
                "period_end": period_end,
                "amount_minor": minor,
                "currency": currency,
                "created_by": actor,
            },
        )
        audit_record(
            action="budget.set",
            actor=actor,
            trust_id=beneficiary.trust_id,
            object_type="budget",
            object_id=budget.pk,
            changes={
                "beneficiary": beneficiary.pk,
                "category": category,
                "period_start": period_start,
                "period_end": period_end,
                "amount_minor": minor,
                "currency": currency,
                "replaced": not created,
            },
        )
    return budget


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payee:
    """Who is paid, when not the care partner itself: a provider, or a family member (with the
    court's authorisation). The name is stored encrypted, with a blind index to compare it with
    the people recorded as implicated."""

    kind: str
    name: str
    court_authorisation: str = ""


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
    without a court authorisation. The same key again returns the first draft."""
    partner = _partner_of(actor)
    if partner is None:
        raise ValidationError("Only a caseworker drafts requests.", code="not_caseworker")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 150:
        raise field_error("idempotency_key", "A key of 1 to 150 characters.", code="key_missing")
    done = DisbursementRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
    if done is not None:
        return done
    if beneficiary.care_partner_id != partner.pk:
        raise field_error(
            "beneficiary", "This beneficiary is not in your partner's care.", code="not_yours"
        )
    if category not in Category.values:
        raise field_error("category", f"unknown category {category!r}", code="bad_category")
    purpose = (purpose or "").strip()
    if category == Category.OTHER:
        if not (justification or "").strip():
            raise field_error(
                "justification", "'Other' needs a justification.", code="justification_missing"
            )
        purpose = f"{purpose}\n\nJustification: {justification.strip()}".strip()
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
            _event(request, "drafted", actor, "")
            return request
    except IntegrityError:
        done = DisbursementRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
        if done is None:
            raise
        return done


def _locked(request: DisbursementRequest) -> DisbursementRequest:
    return DisbursementRequest.objects.select_for_update().get(pk=request.pk)


def request_submit(*, request: DisbursementRequest, actor: Any) -> DisbursementRequest:
    """Send a draft to the trustees. Only a caseworker of the request's partner submits."""
    partner = _partner_of(actor)
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
        _event(locked, "submitted", actor, Status.DRAFT)
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
    if not is_trustee(actor):
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
            locked.save(update_fields=["reserve_minor", "budget_override_reason"])
            _event(locked, "first_approval", actor, before, override_reason)
            return locked
        locked.status, locked.decided_at = Status.APPROVED, timezone.now()
        locked.save(
            update_fields=["status", "decided_at", "reserve_minor", "budget_override_reason"]
        )
        _event(locked, "approved", actor, before, override_reason)
        return locked


def request_reject(*, request: DisbursementRequest, actor: Any, reason: str) -> DisbursementRequest:
    """A trustee's rejection, with a reason. Rejecting a rejected request returns it."""
    if not is_trustee(actor):
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
        _event(locked, "rejected", actor, Status.SUBMITTED, reason)
        return locked


def request_cancel(*, request: DisbursementRequest, actor: Any, reason: str) -> DisbursementRequest:
    """Withdraw a request before it is paid (its requester or a trustee), releasing what it
    reserved. Cancelling a cancelled request returns it; a paid one cannot be cancelled."""
    mine = actor.pk == request.requested_by_id
    if not (mine or is_trustee(actor)):
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
        _event(locked, "cancelled", actor, before, reason)
        return locked


# --- supporting documents ---------------------------------------------------------------------

# What is accepted, recognised from the first bytes, never from the name a browser sends.
DOCUMENT_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def request_document_add(
    *, request: DisbursementRequest, actor: Any, kind: str, content: bytes, title: str = ""
) -> RequestDocument:
    """Attach a quote, an invoice or a proof of use to a request: a caseworker of its partner or
    a trustee. Only PDF, JPEG and PNG (by content) up to ``UPLOAD_MAX_BYTES``; proof of use only
    once the request is paid. The same file twice on one request returns the first."""
    partner = _partner_of(actor)
    if not (is_trustee(actor) or (partner is not None and partner.pk == request.partner_id)):
        raise ValidationError("You cannot add documents to this request.", code="not_allowed")
    if kind not in RequestDocument.Kind.values:
        raise field_error("kind", f"unknown kind of document {kind!r}", code="bad_kind")
    if kind == RequestDocument.Kind.PROOF and request.status not in (
        Status.PAID,
        Status.ACKNOWLEDGED,
    ):
        raise field_error("kind", "Proof of use comes after the payment.", code="not_paid")
    if not content:
        raise field_error("file", "The file is empty.", code="empty")
    if len(content) > settings.UPLOAD_MAX_BYTES:
        raise field_error(
            "file",
            f"The file is larger than {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MiB.",
            code="too_large",
        )
    guess = filetype.guess(content[:8192])
    mime = guess.mime if guess is not None else ""
    if mime not in DOCUMENT_TYPES:
        raise field_error("file", "Only PDF, JPEG and PNG files are accepted.", code="bad_type")
    digest = hashlib.sha256(content).hexdigest()
    done = RequestDocument.objects.filter(request=request, sha256=digest).first()
    if done is not None:
        return done
    document = RequestDocument(
        request=request,
        kind=kind,
        content_type=mime,
        size=len(content),
        sha256=digest,
        title=" ".join((title or "").split())[:120],
        uploaded_by=actor,
    )
    # A random name: nothing about the child, the partner or the sender in the storage path.
    document.file.save(
        f"{uuid.uuid4().hex}.{DOCUMENT_TYPES[mime]}", ContentFile(content), save=False
    )
    try:
        with transaction.atomic():
            document.save()
            _event(request, f"document_{kind}", actor, request.status, document.title)
    except IntegrityError:
        document.file.delete(save=False)
        done = RequestDocument.objects.filter(request=request, sha256=digest).first()
        if done is None:
            raise
        return done
    except Exception:
        document.file.delete(save=False)
        raise
    return document


# --- notifications ----------------------------------------------------------------------------

# Which events tell whom: trustees when a request awaits them, the requester when it is decided,
# paid, or its payment came back.
TO_TRUSTEES = {"submitted", "first_approval"}
TO_REQUESTER = {"approved", "rejected", "cancelled", "paid", "returned"}


def _notify_later(event: RequestEvent) -> None:
    """Queue the event's notifications once the transaction commits (a rolled-back transition
    tells no one). A broker that is down loses the message, not the transition: it is logged."""
    if event.action not in TO_TRUSTEES | TO_REQUESTER:
        return

    task_enqueue("disbursements.tasks.notify_request_event", event.pk)


def request_event_notify(*, event_id: int) -> int:
    """Email the people an event concerns; returns how many were sent now. Each (event,
    recipient) is sent once: running this again sends nothing new. Messages name the request by
    number and the beneficiary by pseudonym, never anyone's identity."""
    event = RequestEvent.objects.select_related("request__beneficiary", "request__trust").get(
        pk=event_id
    )
    request = event.request
    if event.action in TO_TRUSTEES:
        already = set(request.approvals.values_list("trustee_id", flat=True))
        recipients = [
            u
            for u in get_user_model()
            .objects.filter(groups__name=TRUSTEE, is_active=True)
            .exclude(email="")
            .exclude(pk=request.requested_by_id)
            .distinct()
            .order_by("pk")
            if u.pk not in already
        ]
        subject = f"Disbursement request #{request.pk} awaits your decision"
    elif event.action in TO_REQUESTER:
        recipients = [u for u in [request.requested_by] if u.is_active and u.email]
        subject = f"Disbursement request #{request.pk} was {event.action}"
    else:
        return 0
    body = (
        f"Request #{request.pk} for {request.beneficiary.pseudonym}"
        f" ({request.get_category_display()}, {format_money(request.amount)})"
        f" in {request.trust.caption}: {event.action.replace('_', ' ')}"
        + (f".\nReason: {event.reason}" if event.reason else ".")
    )
    sent = 0
    for recipient in recipients:
        with transaction.atomic():
            _, created = Notification.objects.get_or_create(event=event, recipient=recipient)
            if not created:
                continue
            # Sent inside the transaction: if sending fails the row goes too, and a retry sends.
            send_mail(subject, body, None, [recipient.email])
            sent += 1
    return sent
