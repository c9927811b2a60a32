"""What operators read (docs/operations.md): /healthz, /readyz and ``manage.py healthcheck``,
/metrics, and the one log line per request and per task."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from config.logs import JsonFormatter
from tests.conftest import REPO, Worker
from tests.factories import TrustFactory, person
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.runs import audit_verification_run
from trust.services.checks import ledger_check_run

TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture
def quick(settings: Any) -> Any:
    """Short waits: no test here needs a worker to take a second to (not) answer."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.METRICS_TOKEN = TOKEN
    return settings


def nightly_checks_done() -> None:
    """The nightly ledger check and audit verification passed, and a checkpoint covers
    their events."""
    ledger_check_run()
    audit_verification_run(operation_id="nightly-for-tests")
    audit_checkpoint()


def refuse_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Point the database settings at nothing: PostgreSQL at a port no one listens on,
    SQLite at a file in a folder that does not exist. Connecting is refused for real."""
    if connection.vendor == "postgresql":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        monkeypatch.setitem(connection.settings_dict, "PORT", str(port))
    else:
        monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "gone" / "db.sqlite3"))


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- health ------------------------------------------------------------------------------------


def test_healthz_answers_without_the_database() -> None:
    # No django_db mark: any query would fail the test.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_answers_anyone_with_the_states_only(quick: Any) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_gives_every_check_to_the_token_holder(quick: Any) -> None:
    nightly_checks_done()
    body = Client().get("/readyz", **bearer()).json()
    checks = body["checks"]
    assert set(checks) == {
        "database",
        "broker",
        "worker",
        "audit_checkpoint",
        "ledger_check",
        "audit_verification",
    }
    assert checks["ledger_check"]["state"] == "ok" and checks["ledger_check"]["violations"] == 0
    assert checks["audit_verification"]["operation_id"] == "nightly-for-tests"
    # No worker runs here: a warning, and the site is still ready.
    assert checks["worker"] == {
        "state": "warn",
        "detail": "no worker answered",
        "ms": checks["worker"]["ms"],
    }
    assert body["status"] == "warn"


@pytest.mark.django_db
def test_readyz_warns_when_no_nightly_check_has_run(quick: Any) -> None:
    response = Client().get("/readyz", **bearer())
    checks = response.json()["checks"]
    assert response.status_code == 200
    assert checks["ledger_check"]["state"] == "warn"
    assert checks["audit_verification"]["detail"] == "no audit verification has finished yet"


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_refuses(
    quick: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    refuse_database(monkeypatch, tmp_path)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {"status": "fail", "checks": {"database": "fail", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_refuses(quick: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quick.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/12"
    response = Client().get("/readyz", **bearer())
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["state"] == "fail" and checks["database"]["state"] == "ok"
    assert checks["worker"] == {"state": "skipped", "detail": "the broker is unreachable"}


@pytest.mark.django_db
def test_healthcheck_skips_what_needs_the_database_when_it_refuses(
    quick: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    refuse_database(monkeypatch, tmp_path)
    with pytest.raises(SystemExit) as exit_:
        call_command("healthcheck")
    assert exit_.value.code == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks["database"]["state"] == "fail"
    assert checks["ledger_check"] == {"state": "skipped", "detail": "the database is unreachable"}
    assert TOKEN not in json.dumps(checks)


@pytest.mark.django_db
def test_healthcheck_exits_2_with_warnings_only(quick: Any, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        call_command("healthcheck")
    assert exit_.value.code == 2
    assert json.loads(capsys.readouterr().out)["status"] == "warn"


@pytest.mark.worker
def test_healthcheck_exits_0_with_a_worker_answering(
    celery_worker: Worker, quick: Any, capsys: Any
) -> None:
    quick.HEALTH_TIMEOUT = 2
    nightly_checks_done()
    call_command("healthcheck")  # no SystemExit: 0
    report = json.loads(capsys.readouterr().out)
    assert report["checks"]["worker"]["state"] == "ok"
    assert report["status"] == "ok"
    assert Client().get("/readyz", **bearer()).json()["status"] == "ok"


# --- metrics -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_not_there_without_a_token_set(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", **bearer()).status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_missing_or_wrong_token(quick: Any) -> None:
    missing = Client().get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    wrong = Client().get("/metrics", **bearer("metrics-token-for-tests-0123456789abcdeX"))
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong["WWW-Authenticate"]


@pytest.mark.django_db
def test_metrics_count_requests_tasks_and_read_the_books(quick: Any) -> None:
    from trust.tasks import audit_seal_task

    TrustFactory()  # an audit event waiting to be sealed
    Client().get("/healthz")
    text = Client().get("/metrics", **bearer()).content.decode()
    assert 'trust_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert "trust_http_request_duration_seconds_bucket" in text
    assert "trust_database_up 1.0" in text
    assert "trust_ledger_postings_last_id" in text and "trust_ledger_entries_last_id" in text
    unsealed = [
        line for line in text.splitlines() if line.startswith("trust_audit_unsealed_events")
    ]
    assert unsealed and float(unsealed[0].split()[1]) > 0
    audit_seal_task.delay()
    text = Client().get("/metrics", **bearer()).content.decode()
    assert 'trust_tasks_total{state="success",task="trust.tasks.audit_seal_task"}' in text
    assert "trust_audit_unsealed_events 0.0" in text
    assert "trust_audit_checkpoint_age_seconds" not in text  # none signed yet: no figure


@pytest.mark.django_db
def test_metrics_report_the_depth_of_a_redis_queue(quick: Any, broker: str) -> None:
    if not broker.startswith("redis"):
        pytest.skip("queue depth is read from Redis only (CELERY_BROKER_URL=redis://...)")
    import redis
    from celery import current_app

    queue = f"test-depth-{os.getpid()}"
    default_queue = current_app.conf.task_default_queue
    client = redis.Redis.from_url(broker)
    client.lpush(queue, "a", "b")
    client.lpush(f"{queue}\x06\x166", "c")  # kombu's list for priority 6
    current_app.conf.task_default_queue = queue
    try:
        text = Client().get("/metrics", **bearer()).content.decode()
    finally:
        current_app.conf.task_default_queue = default_queue
        client.delete(queue, f"{queue}\x06\x166")
    assert f'trust_queue_messages{{queue="{queue}"}} 3.0' in text


@pytest.mark.django_db
def test_metrics_add_up_every_process_in_the_multiprocess_folder(
    quick: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes count a request each into PROMETHEUS_MULTIPROC_DIR; the scrape of a third
    (this one) sees both: no process's own counter is taken as the total."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    count = (
        "from config.metrics import request_observe; "
        "request_observe(view='home', method='GET', status=200, seconds=0.01)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], cwd=REPO, env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    text = Client().get("/metrics", **bearer()).content.decode()
    assert 'trust_http_requests_total{method="GET",status="200",view="home"} 2.0' in text
    assert "trust_ledger_postings_last_id" in text  # the books are read all the same


# --- logs --------------------------------------------------------------------------------------


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "trust.request"]


@pytest.mark.django_db
def test_a_request_logs_one_json_line_without_its_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trust = TrustFactory()
    user = person("reader")
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.INFO):
        response = client.get(f"/trusts/{trust.pk}/?name=Maria+Santos", HTTP_X_REQUEST_ID="lb-1234")
    assert response["X-Request-ID"] == "lb-1234"
    [record] = request_lines(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "lb-1234"
    assert line["method"] == "GET"
    assert line["path"] == "/trusts/<int:trust_id>/"
    assert line["view"] == "trust-detail"
    assert line["status"] == response.status_code
    assert line["user_id"] == user.pk
    assert isinstance(line["duration_ms"], float)
    text = json.dumps(line)
    assert "Maria" not in text and "?" not in text and str(trust.pk) not in line["path"]


def test_a_request_id_that_is_not_an_id_is_replaced() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>" and len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_refusal_logs_one_line_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    client = Client()
    client.force_login(person("no-role"))
    with caplog.at_level(logging.INFO):
        forbidden = client.get("/audit/")
        missing = client.get("/trusts/999999/")
    assert (forbidden.status_code, missing.status_code) == (403, 404)
    assert [r.status for r in request_lines(caplog)] == [403, 404]
    assert not [r for r in caplog.records if r.exc_info]
    assert not [r for r in caplog.records if r.name == "django.request"]


@pytest.mark.django_db
def test_a_task_logs_one_line_with_its_operation_id(caplog: pytest.LogCaptureFixture) -> None:
    from trust.tasks import check_ledger_task

    with caplog.at_level(logging.INFO):
        check_ledger_task.delay(operation_id="op-from-a-page")
    [record] = [r for r in caplog.records if r.name == "trust.task"]
    line = json.loads(JsonFormatter().format(record))
    assert line["task"] == "trust.tasks.check_ledger_task"
    assert line["state"] == "SUCCESS"
    assert line["operation_id"] == "op-from-a-page"
    assert line["task_id"] and line["duration_ms"] >= 0
    assert "result" not in line and "args" not in line
