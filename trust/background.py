"""Queueing background work: by task name, once the transaction commits.

Tasks import services; services never import a tasks module (tasks would import them back: an
import circle). A service that needs work done later names the task and calls ``task_enqueue``
inside its transaction: the message is sent only if that transaction commits, so a worker never
sees a row that might still roll back, and a rolled-back change queues nothing. A broker that is
down at that moment loses the message, not the change (it is logged): each kind of work is safe to
send again (operation ids and unique keys), and the commands that re-send it say so.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def _task(name: str) -> Task:
    tasks = current_app.tasks
    if name not in tasks:
        # Tasks modules are found lazily (Celery's autodiscovery); load them once here.
        current_app.loader.import_default_modules()
    return tasks[name]  # an unknown name is a programming error: it fails in the caller


def task_enqueue(name: str, *args: Any, **kwargs: Any) -> None:
    """Send task ``name`` with these arguments when the current transaction commits (at once
    outside one). Honours ``CELERY_TASK_ALWAYS_EAGER`` like ``delay``."""
    task = _task(name)

    def send() -> None:
        try:
            task.apply_async(args, kwargs)
        except Exception:  # the broker is unreachable; the change stands
            logger.exception("could not queue %s%r", name, args)

    transaction.on_commit(send)
