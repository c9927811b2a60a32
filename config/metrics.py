"""Prometheus metrics counted in the processes (docs/operations.md, "Metrics"): requests by the
web processes (``config.operations.RequestLogMiddleware``), tasks by the workers (Celery's
signals, connected when ``config.celery`` loads).

With ``PROMETHEUS_MULTIPROC_DIR`` set (in the environment, before this module is imported) every
process writes its counts to its own file in that folder and ``/metrics`` adds up the files of
every process on the host: gunicorn's workers and the Celery workers that share the folder. Without
it the counts are the answering process's own, right only for a single process (the embedded
demo). The figures of the books (postings, the audit backlog, the last checks) are read from the
database at each scrape (``trust.health.books_reading``), never kept here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from celery import signals
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "trust_http_requests",
    "HTTP requests answered, by view (URL name), method and status.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "trust_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name) and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASKS = Counter(
    "trust_tasks",
    "Celery task runs finished, by task and state (success, failure, retry, ...).",
    ["task", "state"],
)
TASK_SECONDS = Histogram(
    "trust_task_duration_seconds",
    "Time a Celery task ran, by task.",
    ["task"],
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600),
)
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def request_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"  # a label per made-up method: no
    REQUESTS.labels(view=view, method=method, status=str(status)).inc()
    REQUEST_SECONDS.labels(view=view, method=method).observe(seconds)


_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started_at(task_id: str, **_: Any) -> None:
    _task_started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_counted(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _task_started.pop(task_id, None)
    TASKS.labels(task=task.name, state=(state or "unknown").lower()).inc()
    if started is not None:
        TASK_SECONDS.labels(task=task.name).observe(time.monotonic() - started)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(collectors: Iterable[Collector]) -> bytes:
    """The text format of every process's counts (see the module's docstring) followed by what
    ``collectors`` read now."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # this process's counts, and its own process figures
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
