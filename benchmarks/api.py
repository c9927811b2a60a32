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

from trust.access import object_for, trust_for
from trust.models import Account, Trust
from trust.roles import TRUSTEE, Action
from trust.selectors import account_postings, running_balances
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


def paired(
    api: Callable[[], Any], direct: Callable[[], Any], runs: int, warmup: int = 5
) -> tuple[Timing, Timing, float]:
    """Both, alternately (so that the machine's drift falls on both alike): their timings and
    the median of the per-pair differences, the API layer's cost a call."""
    for _ in range(warmup):
        api(), direct()
    through, plain, gaps = [], [], []
    status = 0
    started = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        result = api()
        t1 = time.perf_counter()
        direct()
        t2 = time.perf_counter()
        through.append(t1 - t0)
        plain.append(t2 - t1)
        gaps.append((t1 - t0) - (t2 - t1))
        status = getattr(result, "status_code", 0)
    seconds = time.perf_counter() - started

    def timing(times: list[float], share: float) -> Timing:
        ordered = sorted(times)
        return Timing(
            runs=runs,
            seconds=seconds * share,
            median_ms=statistics.median(ordered) * 1000,
            p95_ms=ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000,
            status=status,
        )

    total = sum(through) + sum(plain)
    return (
        timing(through, sum(through) / total),
        timing(plain, sum(plain) / total),
        statistics.median(gaps) * 1000,
    )


def _trustee(trust: Trust, username: str) -> tuple[Any, Client]:
    user, _ = get_user_model().objects.get_or_create(username=username)
    if not user.appointments.filter(trust=trust).exists():
        appointment_create(trust=trust, user=user, role=TRUSTEE, actor=None)
    _, raw = token_create(actor=user, name="benchmark", scope="write", days=1)
    return user, Client(HTTP_AUTHORIZATION=f"Token {raw}", HTTP_HOST="127.0.0.1")


def history(trust: Trust, runs: int) -> tuple[Timing, Timing, float, int]:
    """GET /api/v1/accounts/<bank>/postings/ against what the view asks of the permission layer
    and the selectors, called directly: the account if the user may read it, a page of 51
    postings, their running balances."""
    bank = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    user, client = _trustee(trust, "bench-api-reader")
    url = f"/api/v1/accounts/{bank.pk}/postings/"

    def direct() -> Any:
        account = object_for(user, Account, bank.pk, Action.LEDGER_VIEW)
        page = list(account_postings(account=account)[:51])
        return running_balances(account=account, postings=page[:50])

    through, plain, overhead = paired(lambda: client.get(url), direct, runs)
    return through, plain, overhead, len(client.get(url).content)


def receipts(trust: Trust, runs: int, keyed: bool) -> tuple[Timing, Timing, float]:
    """POST /api/v1/receipts/ (unallocated: no payer), with or without an Idempotency-Key,
    against what the view does directly: the trust if the user may act in it, its bank account,
    ``receipt_record``."""
    user, client = _trustee(trust, "bench-api-writer")
    bank = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    day = date.today()

    def direct() -> Any:
        # What the view asks of the permission layer and the books, then the service.
        allowed = trust_for(user, trust.pk, Action.LEDGER_VIEW)
        return receipt_record(
            trust=allowed,
            actor=user,
            amount=Money("12.34", trust.base_currency),
            received_on=day,
            source="other",
            bank_account=allowed.accounts.filter(pk=bank.pk).first(),
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
        key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if keyed else {}
        return client.post("/api/v1/receipts/", body, content_type="application/json", **key)

    return paired(api, direct, runs)
