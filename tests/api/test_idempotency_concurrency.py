"""100 identical POSTs with one Idempotency-Key, from 40 threads released together, on PostgreSQL
with real commits: one effect, and every caller gets the same status and body. (40 threads, not
100: the server's 100 connections are shared with the rest of the suite; each thread sends its
share back to back, so the calls still overlap.) The same key with another body: 422."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.factories import TrustFactory, appoint, person
from tests.trust.test_concurrency import run_together
from trust.models import Beneficiary, IdempotencyRecord
from trust.services.tokens import token_create

CALLS, THREADS = 100, 40


def test_one_key_one_effect_under_concurrency(postgres_tx: None) -> None:
    trust = TrustFactory(caption="United States v. Concurrent Keys")
    trustee = appoint(person("idem-trustee"), trust)
    _, raw = token_create(actor=trustee, name="retrying script", scope="write")
    body = {"trust": trust.pk, "pseudonym": "Victim-7"}

    def post() -> tuple[int, bytes]:
        response = Client(HTTP_AUTHORIZATION=f"Token {raw}").post(
            "/api/v1/beneficiaries/",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="retry-me-1",
        )
        return response.status_code, response.content

    def worker(share: int) -> Any:
        return lambda: [post() for _ in range(share)]

    shares = [CALLS // THREADS + (1 if i < CALLS % THREADS else 0) for i in range(THREADS)]
    results = run_together([worker(n) for n in shares])
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    answers = [answer for batch in results for answer in batch]
    assert len(answers) == CALLS
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1  # identical bodies
    assert Beneficiary.objects.filter(trust=trust, pseudonym="Victim-7").count() == 1
    assert IdempotencyRecord.objects.filter(key="retry-me-1").count() == 1

    other = Client(HTTP_AUTHORIZATION=f"Token {raw}").post(
        "/api/v1/beneficiaries/",
        {**body, "pseudonym": "Victim-8"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="retry-me-1",
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert not Beneficiary.objects.filter(pseudonym="Victim-8").exists()
