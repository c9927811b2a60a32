"""Real processes for the fault tests: Celery workers that can be killed and started again,
and gunicorn web servers.

Each process runs the application as deployed (``celery -A config worker``, ``gunicorn
config.wsgi``) on the test's database and broker, with ``tests.fault_settings`` on top of the
settings (a short Redis visibility timeout, e-mail into a folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from tests.conftest import REPO, _database_url_for_test_db, witness_location


@contextlib.contextmanager
def private_queue(client: Any, name: str) -> Iterator[str]:
    """Send this process's tasks to queue ``name`` (the processes a test starts read it through
    ``TEST_CELERY_QUEUE``), not to the default queue the demo's worker reads; afterwards leave
    nothing of it in the broker."""
    from config.celery import app

    before = app.conf.task_default_queue
    app.conf.task_default_queue = name
    try:
        yield name
    finally:
        app.conf.task_default_queue = before
        broker_forget(client, name)


def broker_unfinished(client: Any, queue: str) -> int:
    """Messages of ``queue`` waiting, or delivered and not yet acknowledged (kombu keeps those in
    the ``unacked`` hash until they are acknowledged or put back)."""
    delivered = sum(1 for raw in client.hvals("unacked") if json.loads(raw)[2] == queue)
    return int(client.llen(queue)) + delivered  # unacked: [message, exchange, routing key]


def broker_forget(client: Any, queue: str) -> None:
    """Delete what kombu keeps in Redis for ``queue``: its messages, delivered or not, and its
    bindings."""
    for tag, raw in client.hgetall("unacked").items():
        if json.loads(raw)[2] == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    keys = [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    client.delete(*keys, *client.scan_iter(match=f"{queue}\x06\x16*"))


def secrets_env() -> dict[str, str]:
    """This test process's four secrets, for processes that keep their files elsewhere
    (``TRUST_VAR_DIR``): as a server takes them from its environment, so that every process
    reads what another encrypted, signed or stored in a session."""
    return {
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "TRUST_FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "TRUST_BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "TRUST_AUDIT_SIGNING_KEY": settings.AUDIT_SIGNING_KEY,
    }


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a process on this test's database, broker, media and witness."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_test_db(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "tests.fault_settings",
        "TRUST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TRUST_AUDIT_WITNESS_DIR": witness_location(),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


TASK_LINE = re.compile(
    r"Task (?P<name>[\w.]+)\[(?P<id>[\w-]+)\] (?P<what>started|succeeded|retry|raised)"
    r"|(?P<lost>Task handler raised error: WorkerLostError)"
)


class WorkerLog:
    """One incarnation's log, read as it grows: whether the worker is ready, the tasks started
    and not finished (a line when a task starts: tests/fault_settings.py; Celery's when it ends),
    and the tasks its lost pool processes were running (``WorkerLostError`` does not name the
    task: it is the one started and not finished, one pool process running one task at a
    time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready = False
        self.running: dict[str, str] = {}
        self.lost = Counter[str]()
        self._read = 0
        self._partial = ""

    def poll(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._read)
                data = handle.read()
        except FileNotFoundError:
            return
        self._read += len(data)
        text = self._partial + data.decode(errors="replace")
        text, _, self._partial = text.rpartition("\n")
        self.ready = self.ready or " ready." in text
        for found in TASK_LINE.finditer(text):
            if found["lost"]:
                self.lost.update(self.running.values())
                self.running.clear()
            elif found["what"] == "started":
                self.running[found["id"]] = found["name"]
            else:
                self.running.pop(found["id"], None)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (not those that died and wait to be reaped)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    alive = []
    for child in text.split():
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in {"Z", "X"}:
            alive.append(int(child))
    return alive


class CeleryWorker:
    """``celery -A config worker`` with one pool process, in a session of its own so that killing
    it kills its pool too. Each start is an incarnation with its own log."""

    def __init__(self, name: str, queue: str, folder: Path, env: dict[str, str]) -> None:
        self.name, self.queue, self.folder, self.env = name, queue, folder, env
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[WorkerLog] = []
        self._killed = 0  # the pool process killed last

    def start(self) -> None:
        log = self.folder / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(WorkerLog(log))
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork",
                 "-c", "1", "-Q", self.queue, "-n", f"{self.name}-{len(self.logs)}@%h",
                 "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return "".join(log.path.read_text(errors="replace") for log in self.logs)

    def _current(self) -> WorkerLog | None:
        if not self.logs:
            return None
        self.logs[-1].poll()
        return self.logs[-1]

    def ready(self) -> bool:
        log = self._current()
        return log is not None and log.ready

    def running(self) -> list[str]:
        """The tasks this incarnation has started and not finished."""
        log = self._current()
        return list(log.running.values()) if log else []

    def tasks_killed(self) -> Counter[str]:
        """The tasks that a kill interrupted: those running when a pool process was lost, and
        those an incarnation killed whole had started and not finished."""
        killed = Counter[str]()
        for log in self.logs:
            log.poll()
            killed.update(log.lost)
            killed.update(log.running.values())
        return killed

    def errors(self) -> list[str]:
        """Lines logged as errors, except those that say a process was killed."""
        kills = ("exited with 'signal 9 (SIGKILL)'", "raised error: WorkerLostError")
        return [
            line
            for line in self.output().splitlines()
            if "ERROR" in line and not any(kill in line for kill in kills)
        ]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pool_pids(self) -> list[int]:
        return _children(self.process.pid) if self.alive() and self.process else []

    def killable(self) -> bool:
        """Ready, with a pool process (not one already killed) in the middle of a task."""
        pids = self.pool_pids()
        return self.ready() and bool(pids) and self._killed not in pids and bool(self.running())

    def kill_pool_process(self) -> bool:
        """SIGKILL the pool process (the one running a task). The worker notices within seconds
        (Celery checks its pool every 5 s at the latest), forks a new one and, as
        ``reject_on_worker_lost`` asks, puts the message back. False if there was none."""
        for pid in self.pool_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self._killed = pid
            return True
        return False

    def kill(self) -> None:
        """SIGKILL the whole worker: no one is left to put its message back; Redis does, once the
        visibility timeout has passed."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """A warm shutdown: the running task finishes and its message is acknowledged."""
        if not self.alive() or self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebServer:
    """``gunicorn config.wsgi`` on a port of its own."""

    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name, self.port = name, free_port()
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}",
                 "-w", "1", "--threads", "2", "--timeout", "60", "--access-logfile", "-"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"web {self.name} did not start:\n{self.output()[-3000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
