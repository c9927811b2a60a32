"""A trust's disbursement policy (the dual-approval threshold, who bears the bank's fees) and
the care-plan budgets per beneficiary and category.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from moneyed import Money

from disbursements.models import DEFAULT_DUAL_APPROVAL, Budget, Category, DisbursementPolicy
from trust.access import is_trustee
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Beneficiary, Trust
from trust.money import to_minor
from trust.services.amounts import positive_minor


def policy_for(trust: Trust) -> DisbursementPolicy:
    policy = DisbursementPolicy.objects.filter(trust=trust).first()
    if policy is None:
        threshold = to_minor(Money(DEFAULT_DUAL_APPROVAL, trust.base_currency))
        policy, _ = DisbursementPolicy.objects.get_or_create(
            trust=trust, defaults={"dual_approval_minor": threshold}
        )
    return policy


def policy_set_dual_approval(*, trust: Trust, actor: Any, threshold: Money) -> DisbursementPolicy:
    if not is_trustee(actor, trust):
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
    if not is_trustee(actor, trust):
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
    if not is_trustee(actor, beneficiary.trust_id):
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
