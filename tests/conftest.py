"""Shared fixtures: trusts built through the services, and the real services some tests need.

Service rule (DEVELOPERS.md): a test that needs PostgreSQL, Redis or a worker skips with a message
on a laptop without it, and fails instead when ``CI=true`` says the service must be there (the CI's
PostgreSQL pass sets ``TRUST_REQUIRE_SERVICES=postgres,redis``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import testcases

from trust.db import ledger_guard_suspended

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REQUIRED = {s.strip() for s in os.environ.get("TRUST_REQUIRE_SERVICES", "").split(",") if s.strip()}
# What CI installs itself in every pass (.ci/run), so its absence there is always a failure.
ALWAYS_REQUIRED_IN_CI = {"browser"}

# SQLite flushes test tables with DELETE FROM, which the immutability triggers refuse: lift the
# guard for the teardown flush only (see trust/db.py).
_original_teardown = testcases.TransactionTestCase._fixture_teardown


def _teardown_with_guard_lifted(self: testcases.TransactionTestCase) -> None:
    with ledger_guard_suspended():
        _original_teardown(self)


testcases.TransactionTestCase._fixture_teardown = _teardown_with_guard_lifted


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    # SQLite tests use a file (one per xdist worker) so that a real worker process can read it,
    # named by the run too: two test runs in one checkout must not share a database.
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:12]
        path = Path(settings.VAR_DIR) / "test" / f"test-{run}-{worker}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        db.setdefault("TEST", {})["NAME"] = str(path)


def service_missing(name: str, how: str) -> None:
    """Fail under CI when the service is required there, otherwise skip saying how to run it."""
    message = f"needs {name}: {how}"
    if CI and (name in REQUIRED or "all" in REQUIRED or name in ALWAYS_REQUIRED_IN_CI):
        pytest.fail(f"{message} (CI requires {name})")
    pytest.skip(message)


@pytest.fixture
def postgres(db: None) -> None:
    """For tests about PostgreSQL's own guards: locks, deferred triggers, isolation."""
    if connection.vendor != "postgresql":
        service_missing(
            "postgres",
            "run `make test-postgres` (DATABASE_URL=postgres://postgres@127.0.0.1:5432/trustledger)",
        )


@pytest.fixture
def postgres_tx(transactional_db: None) -> None:
    """PostgreSQL with real commits (for concurrency and commit-time triggers)."""
    if connection.vendor != "postgresql":
        service_missing(
            "postgres",
            "run `make test-postgres` (DATABASE_URL=postgres://postgres@127.0.0.1:5432/trustledger)",
        )


@pytest.fixture
def sqlite(db: None) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-specific: runs in the default `make test` pass")


def broker_url() -> str:
    return settings.CELERY_BROKER_URL


@pytest.fixture
def broker() -> str:
    """The configured broker, checked to be reachable (Redis) before a test relies on it."""
    url = broker_url()
    if url.startswith("redis://"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            service_missing("redis", f"start Redis or unset CELERY_BROKER_URL ({exc})")
    elif "redis" in REQUIRED and CI:
        pytest.fail("CI requires Redis but CELERY_BROKER_URL is not a redis:// URL")
    return url


def _database_url_for_test_db() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class Worker:
    """A real ``celery worker`` process consuming one private queue of the configured broker."""

    def __init__(self, queue: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.queue = queue
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def celery_worker(transactional_db: None, broker: str, tmp_path: Path) -> Iterator[Worker]:
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_test_db(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Files the worker stores (reports) land where this test process reads them.
        "TRUST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        # And the heads it signs go to this test's witness (``_audit_witness_per_test``).
        "TRUST_AUDIT_WITNESS_DIR": witness_location(),
    }
    env.pop("TEST_DATABASE_NAME", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue,
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = Worker(queue, process, log)
    deadline = time.monotonic() + 60
    while "ready." not in worker.output():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the Celery worker did not start:\n{worker.output()[-3000:]}")
        time.sleep(0.1)
    try:
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` returns something truthy; return it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def _tasks_inline_unless_a_real_worker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks queued by services (``trust.background.task_enqueue``, after commit) run inline in tests,
    so that no message is left on the developer's own queue for the demo worker to pick up.
    Tests marked ``worker`` send to a real worker process on a private queue instead."""
    from celery._state import _set_task_join_will_block

    # Celery marks "inside a task" with one process-wide flag that each inline run sets and puts
    # back: threads that queue tasks at once (the concurrency tests) can leave it set, and then
    # every later ``result.get()`` in this process is refused. Start each test with it clear.
    _set_task_join_will_block(False)
    if request.node.get_closest_marker("worker"):
        yield
        return
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before
        _set_task_join_will_block(False)


@pytest.fixture(autouse=True)
def _audit_witness_per_test(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's signed heads go to a witness folder of its own (trust/audit/witness.py): the
    witness outlives the database on purpose, so a shared one would refuse the next test's log.
    A real worker started by the test is given the same folder (``celery_worker``)."""
    storages = {**settings.STORAGES}
    storages["audit_witness"] = {
        **storages["audit_witness"],
        "OPTIONS": {
            **storages["audit_witness"].get("OPTIONS", {}),
            "location": str(tmp_path_factory.mktemp("audit-witness")),
        },
    }
    settings.STORAGES = storages


def witness_location() -> str:
    return settings.STORAGES["audit_witness"]["OPTIONS"]["location"]


@pytest.fixture(autouse=True)
def _second_factor_only_where_tested(request: pytest.FixtureRequest, settings: Any) -> None:
    """Tests about something else sign trustees in with a password alone (as the embedded demo
    may); tests marked ``second_factor`` get the real rule (trust/twofactor.py)."""
    settings.DEMO_SKIP_SECOND_FACTOR = not request.node.get_closest_marker("second_factor")
