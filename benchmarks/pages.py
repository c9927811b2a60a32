"""Issue 19's page measurements: the pages people use every day, served through Django's test
client to a signed-in user, on the large trust (topped up to 10,000 beneficiaries; 2,000 with
``--quick``) and, for comparison, on the small trust: median and 95th percentile time, HTML size,
and the number of SQL queries, which must not grow with the rows the trust holds.
Import after django.setup()."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benchmarks.cases import beneficiaries_bulk_create
from trust.models import Account, Trust
from trust.roles import TRUSTEE
from trust.services.appointments import appointment_create


def _bank(trust: Trust) -> dict[str, int]:
    bank = trust.accounts.get(role=Account.Role.BANK, currency=trust.base_currency)
    return {"trust_id": trust.pk, "account_id": bank.pk}


# (key, label, URL name, how to build its arguments from the trust)
PAGES: list[tuple[str, str, str, Any]] = [
    ("page_trust_dashboard", "trustee's dashboard", "trust-detail", lambda t: {"trust_id": t.pk}),
    ("page_children", "beneficiary list", "children", lambda t: {}),
    ("page_account_history", "bank account's history", "account-detail", _bank),
    ("page_journal", "journal", "journal", lambda t: {"trust_id": t.pk}),
    ("page_audit_trail", "audit trail", "audit-log", lambda t: {}),
    ("page_reports", "reports list", "report-list", lambda t: {}),
]


@dataclass(frozen=True)
class PageTiming:
    runs: int
    seconds: float
    median_ms: float
    p95_ms: float
    size_bytes: int
    queries: int
    status: int


def reader(trust: Trust, username: str) -> Client:
    """A client signed in as a trustee of ``trust`` alone (staff, so every page opens)."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
    if not user.appointments.filter(trust=trust).exists():
        appointment_create(trust=trust, user=user, role=TRUSTEE, actor=None)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    # A trustee signs in with a second factor (trust/twofactor.py): the session carries a
    # verified device, as after the code was given, so the pages cost what they cost for them.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="benchmark", defaults={"confirmed": True}
    )
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def top_up(trust: Trust, beneficiaries: int, tag: str) -> int:
    """Add beneficiaries (with sub-ledgers) until ``trust`` has ``beneficiaries``."""
    have = trust.beneficiaries.count()
    if have < beneficiaries:
        beneficiaries_bulk_create(trust, beneficiaries - have, prefix=f"PG{tag}")
    return trust.beneficiaries.count()


def measure(client: Client, url: str, runs: int, warmup: int = 3) -> PageTiming:
    """``runs`` GETs of ``url`` after ``warmup``; the last one counts its SQL queries."""
    for _ in range(warmup):
        client.get(url)
    times = []
    started = time.perf_counter()
    response = None
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return PageTiming(
        runs=runs,
        seconds=seconds,
        median_ms=statistics.median(times) * 1000,
        p95_ms=p95 * 1000,
        size_bytes=len(response.content),
        queries=len(queries.captured_queries),
        status=response.status_code,
    )


def pages(big: Trust, small: Trust, runs: int) -> list[tuple[str, str, PageTiming, PageTiming]]:
    """Each page on the large trust and on the small one: (key, label, large, small)."""
    large_client = reader(big, "bench-pages-large")
    small_client = reader(small, "bench-pages-small")
    out = []
    for key, label, name, kwargs in PAGES:
        large = measure(large_client, reverse(name, kwargs=kwargs(big)), runs)
        small_run = measure(small_client, reverse(name, kwargs=kwargs(small)), max(5, runs // 4))
        out.append((key, label, large, small_run))
    return out
