"""Settings of the worker and web processes that the fault tests start (tests/test_worker_kills.py,
tests/test_scale_out.py): the application's own, plus what only a test needs.

- Redis redelivers the message of a worker killed outright (not only its pool process) after the
  transport's ``visibility_timeout``, found by a sweep every ``unacked_restore_interval`` x
  ``unacked_restore_throttle`` seconds: an hour and 100 s by default, seconds here. The sweep's
  mutex expires in seconds too: a worker killed while holding it would stop every sweep for five
  minutes otherwise.
- The test's own queue (``TEST_CELERY_QUEUE``) and cache key prefix (``TEST_CACHE_PREFIX``), so
  that nothing mixes with other tests' or the demo's.
- E-mail into a folder (``TEST_MAILBOX_DIR``), one file per message, so that the test can count
  what every process sent.
- A log line when a task starts (and Celery's own when it ends), so that the kill test knows what
  each kill interrupted.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import task_prerun

from config.settings import *  # noqa: F403

if CELERY_BROKER_URL.startswith("redis://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("TEST_VISIBILITY_TIMEOUT", "8")),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 5,
    }
# The test's private queue: what these processes queue goes there, and their workers read it.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TEST_CELERY_QUEUE", "celery")
# The cache (``TRUST_CACHE_URL``) shared with the broker's Redis database: the test's keys apart.
if os.environ.get("TEST_CACHE_PREFIX"):
    CACHES["default"]["KEY_PREFIX"] = os.environ["TEST_CACHE_PREFIX"]  # noqa: F405
TEST_MAILBOX_DIR = os.environ.get("TEST_MAILBOX_DIR", "")
if TEST_MAILBOX_DIR:
    EMAIL_BACKEND = "tests.fault_mailbox.FolderEmailBackend"

# Celery's own "succeeded" lines and ours for a task started: the kill test reads from them which
# task each kill interrupted.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {
        **LOGGING.get("loggers", {}),  # noqa: F405
        "celery.app.trace": {"level": "INFO"},
        "celery.worker.strategy": {"level": "INFO"},
    },
}


@task_prerun.connect
def _task_started(task_id: str, task: Any, **_: Any) -> None:
    """A line when the pool process starts a task: the kill test waits for one before killing,
    so that the kill lands in the middle of the task."""
    logging.getLogger("tests.fault").info("Task %s[%s] started", task.name, task_id)
