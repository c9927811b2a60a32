"""Scale-out is real (issue 24): two web processes (``gunicorn config.wsgi``) and two workers
(``celery -A config worker``), started as separate processes on one database, one broker and one
cache, behave as one application. Nothing one process keeps in its memory is taken as the truth
by another:

- a sign-in on one server is a session on the other, its second factor given on the other, and a
  sign-out on either ends it on both (sessions in the database);
- an ``Idempotency-Key`` retried on the other server, or sent to both at once, has one effect and
  one answer (the key's row in the database);
- reports asked through either server are made once each, by whichever worker takes them;
- the API's rate limit counts the calls to both servers (Redis, ``TRUST_CACHE_URL``), and so does
  the sign-in lockout (django-axes' table).

The processes share the test's database, Redis (the broker, the cache under a key prefix of the
test's own) and folders (``TRUST_VAR_DIR``, media, the audit witness), and take the test's secrets
from their environment, as servers do.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from reports.models import Report
from tests.conftest import service_missing
from tests.disbursements.test_requests import make_world, user
from tests.processes import (
    CeleryWorker,
    WebServer,
    broker_unfinished,
    private_queue,
    process_env,
    secrets_env,
)
from trust.models import AuditEvent, FailedJob, OutboxMessage, Receipt
from trust.services.tokens import token_create

PASSWORD = "A long enough test passphrase 24"
RATE = 30  # calls a minute per token, in these processes: low enough to reach in the test
FAILURES = 5  # failed sign-ins that lock a username (the default TRUST_SIGNIN_FAILURES)
RECEIPTS = 8
REPORTS = 6


@pytest.fixture
def queue(broker: str) -> Iterator[tuple[redis.Redis, str]]:
    """A queue of the test's own on Redis (the broker and the cache of every process), and
    nothing of it, or of the cache's keys, left afterwards."""
    if not broker.startswith("redis://"):
        service_missing("redis", "CELERY_BROKER_URL=redis://127.0.0.1:6379/10 (a shared cache)")
    client = redis.Redis.from_url(broker)
    name = f"test-scale-{uuid.uuid4().hex[:12]}"
    with private_queue(client, name):
        yield client, name
    for key in client.scan_iter(match=f"{name}:*"):
        client.delete(key)
    client.close()


def csrf_of(page: requests.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, f"no form on {page.url} ({page.status_code})"
    return found[1]


def now_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


def sign_in(browser: requests.Session, server: WebServer, username: str, password: str) -> Any:
    form = browser.get(f"{server.url}/login/", timeout=30)
    return browser.post(
        f"{server.url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )


def api(server: WebServer, token: str, path: str, body: Any = None, key: str = "") -> Any:
    """A call with a token: GET, or POST with ``body`` (and an ``Idempotency-Key``)."""
    headers = {"Authorization": f"Token {token}"}
    if key:
        headers["Idempotency-Key"] = key
    method = "POST" if body is not None else "GET"
    return requests.request(method, f"{server.url}{path}", headers=headers, json=body, timeout=60)


@pytest.mark.postgres
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_web_processes_and_two_workers_behave_as_one(
    postgres_tx: None, queue: tuple[redis.Redis, str], settings: Any, tmp_path: Path
) -> None:
    client, name = queue
    var = tmp_path / "var"
    (var / "static").mkdir(parents=True)
    settings.MEDIA_ROOT = var / "media"
    w = make_world("scale")
    trust = w.trust
    w.trustee.set_password(PASSWORD)
    w.trustee.save(update_fields=["password"])
    device = TOTPDevice.objects.create(user=w.trustee, name="authenticator app", confirmed=True)
    stranger = user("lockme-scale")
    stranger.set_password(PASSWORD)
    stranger.save(update_fields=["password"])
    receipts_token = token_create(actor=w.trustee, name="receipts", scope="write")[1]
    reports_token = token_create(actor=w.trustee, name="reports", scope="write")[1]
    counted_token = token_create(actor=w.trustee, name="counted", scope="read")[1]
    receipts_before = Receipt.objects.filter(trust=trust).count()

    env = process_env(
        **secrets_env(),
        TRUST_VAR_DIR=str(var),
        TEST_CELERY_QUEUE=name,
        TRUST_CACHE_URL=settings.CELERY_BROKER_URL,
        TEST_CACHE_PREFIX=name,
        TRUST_API_RATE_TOKEN=f"{RATE}/min",
        TRUST_SIGNIN_FAILURES=str(FAILURES),
    )
    webs = [WebServer(label, tmp_path, env) for label in ("web-a", "web-b")]
    workers = [CeleryWorker(label, name, tmp_path, env) for label in ("worker-1", "worker-2")]
    try:
        for worker in workers:
            worker.start()
        for process in [*webs, *workers]:
            process.wait_ready()
        a, b = webs

        # --- a session made on A is the session on B ------------------------------------------
        browser = requests.Session()
        assert sign_in(browser, a, w.trustee.username, PASSWORD).status_code == 302
        asked = browser.get(f"{b.url}/trusts/{trust.pk}/", allow_redirects=False, timeout=30)
        assert asked.status_code == 302
        assert asked.headers["Location"].startswith("/account/two-factor/verify/")
        verify = browser.get(f"{b.url}/account/two-factor/verify/?next=/", timeout=30)
        given = browser.post(
            f"{b.url}/account/two-factor/verify/",
            data={"code": now_code(device), "next": "/", "csrfmiddlewaretoken": csrf_of(verify)},
            allow_redirects=False,
            timeout=30,
        )
        assert given.status_code == 302, given.text[:500]
        page = browser.get(f"{a.url}/trusts/{trust.pk}/", allow_redirects=False, timeout=30)
        assert page.status_code == 200
        assert browser.get(f"{b.url}/api/v1/trusts/{trust.pk}/", timeout=30).status_code == 200

        # --- one Idempotency-Key, one receipt: retried on the other server, or sent to both ----
        today = timezone.localdate().isoformat()

        def receipt(n: int) -> dict[str, Any]:
            return {
                "trust": trust.pk,
                "amount": f"{10 + n}.00",
                "amount_currency": "USD",
                "received_on": today,
                "source": "clerk",
                "bank_reference": f"SCALE-{n}",
            }

        for n in range(RECEIPTS):
            first, second = (a, b) if n % 2 == 0 else (b, a)
            key = f"receipt-{n}"
            made = api(first, receipts_token, "/api/v1/receipts/", receipt(n), key)
            again = api(second, receipts_token, "/api/v1/receipts/", receipt(n), key)
            assert made.status_code == again.status_code == 201, made.text[:500]
            assert again.json() == made.json()
            assert again.headers.get("Idempotent-Replayed") == "true"
            read = api(second, receipts_token, made.headers["Location"])
            assert read.status_code == 200 and read.json()["id"] == made.json()["id"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for n in range(RECEIPTS, RECEIPTS + 2):  # the same key to both servers at once
                key = f"receipt-{n}"
                both = list(
                    pool.map(
                        lambda server, n=n, key=key: api(
                            server, receipts_token, "/api/v1/receipts/", receipt(n), key
                        ),
                        webs,
                    )
                )
                assert [r.status_code for r in both] == [201, 201], both[0].text[:500]
                assert both[0].json() == both[1].json()
                replayed = sorted(r.headers.get("Idempotent-Replayed", "") for r in both)
                assert replayed == ["", "true"]
        assert Receipt.objects.filter(trust=trust).count() == receipts_before + RECEIPTS + 2

        # --- one key, one report, made once by whichever worker takes it ---------------------
        asked_for: set[str] = set()
        for n in range(REPORTS):
            first, second = (b, a) if n % 2 == 0 else (a, b)
            body = {"trust": trust.pk, "kind": ("order_status", "audit_certificate")[n % 2]}
            key = f"report-{n}"
            made = api(first, reports_token, "/api/v1/reports/", body, key)
            again = api(second, reports_token, "/api/v1/reports/", body, key)
            assert made.status_code == again.status_code == 202, made.text[:500]
            assert again.json()["id"] == made.json()["id"]
            asked_for.add(made.json()["id"])
        assert Report.objects.filter(trust=trust).count() == REPORTS == len(asked_for)

        def waiting() -> dict[str, int]:
            return {
                "reports not done": Report.objects.exclude(status=Report.Status.DONE).count(),
                "messages unfinished": broker_unfinished(client, name),
                "outbox pending": OutboxMessage.objects.filter(
                    state=OutboxMessage.State.PENDING
                ).count(),
                "failed jobs": FailedJob.objects.count(),
            }

        deadline = time.monotonic() + 60
        while any(waiting().values()) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not any(waiting().values()), waiting()
        done = {str(r.uid): r for r in Report.objects.filter(trust=trust)}
        assert set(done) == asked_for
        for report in done.values():
            assert report.file.storage.exists(report.file.name)
        made_by = Counter(
            AuditEvent.objects.filter(action="report.generated").values_list("object_id", flat=True)
        )
        assert set(made_by) == asked_for and set(made_by.values()) == {1}

        # --- the rate limit counts the calls to both servers ---------------------------------
        for n in range(RATE):
            answer = api(webs[n % 2], counted_token, "/api/v1/trusts/")
            assert answer.status_code == 200, (n, answer.text[:300])
        for server in webs:
            assert api(server, counted_token, "/api/v1/trusts/").status_code == 429

        # --- signed out on A is signed out on B ----------------------------------------------
        page = browser.get(f"{b.url}/trusts/{trust.pk}/", timeout=30)
        out = browser.post(
            f"{a.url}/logout/",
            data={"csrfmiddlewaretoken": csrf_of(page)},
            allow_redirects=False,
            timeout=30,
        )
        assert out.status_code == 302
        gone = browser.get(f"{b.url}/trusts/{trust.pk}/", allow_redirects=False, timeout=30)
        assert gone.status_code == 302 and gone.headers["Location"].startswith("/login/")

        # --- failed sign-ins on both servers add up to one lockout (last: it locks the address)
        intruder = requests.Session()
        for n in range(FAILURES):
            refused = sign_in(intruder, webs[n % 2], stranger.username, "not the password")
            assert refused.status_code in {200, 429}
        tries = AccessAttempt.objects.filter(username=stranger.username)
        assert tries.aggregate(total=Sum("failures_since_start"))["total"] == FAILURES
        for server in webs:
            locked = sign_in(requests.Session(), server, stranger.username, PASSWORD)
            assert locked.status_code == 429, (server.name, locked.status_code)
    finally:
        for process in [*webs, *workers]:
            process.stop()

    for process in [*webs, *workers]:
        errors = [line for line in process.output().splitlines() if " ERROR " in line]
        assert not errors, (process.name, errors[:5])
    assert all(worker.logs for worker in workers)
    call_command("check_ledger")
    call_command("verify_audit")
