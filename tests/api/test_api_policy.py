"""A trust's disbursement policy and budgets through the API (trustees set, auditors read)."""

from __future__ import annotations

import pytest
from django.test import Client

from disbursements.models import Budget
from disbursements.services import policy_for
from tests.disbursements.test_requests import make_world
from tests.factories import TrustFactory, person
from trust.roles import AUDITOR
from trust.services.people import beneficiary_create
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db


def client(user) -> Client:
    return Client(
        HTTP_AUTHORIZATION=f"Token {token_create(actor=user, name='t', scope='write')[1]}"
    )


def test_threshold_fees_and_budgets(settings, tmp_path) -> None:
    w = make_world()
    trustee, auditor = client(w.trustee), client(person("api-policy-auditor", AUDITOR, w.trust))
    base = f"/api/v1/trusts/{w.trust.pk}/policy/"
    set_ = trustee.post(
        f"{base}threshold/",
        {"threshold": "750.00", "threshold_currency": "USD"},
        content_type="application/json",
    )
    assert set_.status_code == 200, set_.content
    assert set_.json()["dual_approval_threshold"] == "750.00"
    assert policy_for(w.trust).dual_approval_minor == 75000
    bad = trustee.post(
        f"{base}threshold/",
        {"threshold": "750.001", "threshold_currency": "USD"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and policy_for(w.trust).dual_approval_minor == 75000
    refused = auditor.post(
        f"{base}fees/", {"fees_charged_to": "trust"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert auditor.get(base).json()["dual_approval_threshold"] == "750.00"
    made = trustee.post(
        f"{base}budgets/",
        {
            "beneficiary": w.mv1.pk,
            "category": "education",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "amount": "1200.00",
            "amount_currency": "USD",
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    assert Budget.objects.get(beneficiary=w.mv1).amount_minor == 120000
    listed = auditor.get(f"{base}budgets/").json()
    assert [(b["category"], b["amount"]) for b in listed] == [("education", "1200.00")]
    other = trustee.post(
        f"{base}budgets/",
        {
            "beneficiary": beneficiary_create(trust=TrustFactory(), pseudonym="Elsewhere-1").pk,
            "category": "education",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "amount": "1.00",
            "amount_currency": "USD",
        },
        content_type="application/json",
    )
    assert other.status_code == 400 and Budget.objects.count() == 1
