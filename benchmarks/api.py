"""Issue 20's API measurements: GET an account's history (one page of 50 postings) and POST a
receipt, through the API with a token (Django's test client, one process), beside the same
selector or service called directly; the difference is what the API layer costs a call.
Import after django.setup()."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from moneyed import Money

from trust.models import Account, Trust
from trust.roles import TRUSTEE
from trust.selectors import account_postings
from trust.services.appointments import appointment_create
from trust.services.receipts import receipt_record
from trust.services.tokens import token_create


@dataclass(frozen=True)
class Timing:
    runs: int
    seconds: float
    median_ms: float
    p95_ms: float
    status: int = 0


def timed(call: Callable[[], Any], runs: int, warmup: int = 5) -> Timing:
    for _ in range(warmup):
        call()
    times = []
    started = time.perf_counter()
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    times.sort()
    return Timing(
        runs=runs,
        seconds=seconds,
        median_ms=statistics.median(times) * 1000,
        p95_ms=times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000,
        status=getattr(result, "status_code", 0),
    )


def _trustee(trust: Trust, username: str) -> tuple[Any, Client]:
    user, _ = get_user_model().objects.get_or_create(username=username)
    if not user.appointments.filter(trust=trust).exists():
        appointment_create(trust=trust, user=user, role=TRUSTEE, actor=None)
    _, raw = token_create(actor=user, name="benchmark", scope="write", days=1)
    return user, Client(HTTP_AUTHORIZATION=f"Token {raw}", HTTP_HOST="127.0.0.1")


def history(trust: Trust, runs: int) -> tuple[Timing, Timing, int]:
    """GET /api/v1/accounts/<bank>/postings/ against the selector's page of 51 rows."""
    bank = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    _, client = _trustee(trust, "bench-api-reader")
    url = f"/api/v1/accounts/{bank.pk}/postings/"
    direct = timed(lambda: list(account_postings(account=bank)[:51]), runs)
    api = timed(lambda: client.get(url), runs)
    size = len(client.get(url).content)
    return api, direct, size


def receipts(trust: Trust, runs: int) -> tuple[Timing, Timing]:
    """POST /api/v1/receipts/ (unallocated: no payer) against ``receipt_record`` itself."""
    user, client = _trustee(trust, "bench-api-writer")
    bank = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    day = date.today()

    def direct() -> Any:
        return receipt_record(
            trust=trust,
            actor=user,
            amount=Money("12.34", trust.base_currency),
            received_on=day,
            source="other",
            bank_account=bank,
            idempotency_key=f"bench-direct-{uuid.uuid4()}",
            memo="benchmark",
        )

    body = {
        "trust": trust.pk,
        "amount": "12.34",
        "amount_currency": trust.base_currency,
        "received_on": day.isoformat(),
        "source": "other",
        "bank_account": bank.pk,
        "memo": "benchmark",
    }

    def api() -> Any:
        return client.post(
            "/api/v1/receipts/",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    return timed(api, runs), timed(direct, runs)
