"""Logs (docs/operations.md, "Logs"): one line per request and per task, JSON in production.

``LOG_FORMAT=json`` (the default on a server) writes each record as one JSON object; ``text``
(the default embedded and in development) as a readable line. Only the fields named in
``FIELDS`` are ever written besides the message: a record's other attributes (Django attaches
the request itself, whose repr holds the query string) are left out, and no line carries a query
string, a form's data or a child's data. An expected refusal (a 4xx) is the request's own line,
without a traceback.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import signals

# Set for the length of a request (its request id) or a task (its task and operation ids): every
# record logged meanwhile carries them.
log_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)

FIELDS = (
    "request_id",
    "method",
    "path",
    "view",
    "status",
    "duration_ms",
    "user_id",
    "operation_id",
    "task",
    "task_id",
    "state",
    "retries",
    "status_code",
)


class ContextFilter(logging.Filter):
    """Adds the current request's or task's ids to every record (on the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (log_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class ExpectedRefusalFilter(logging.Filter):
    """Django's own lines about a 4xx answer, which the request's line already says.

    ``django.request`` logs "Forbidden (Permission denied): /path" with the exception's traceback
    for every ``PermissionDenied``, and "Not Found: /path" for every 404: dropped (on that
    logger). ``django.security.*`` (a host not allowed, a suspicious request) keeps its one line
    without the traceback, and ``django.server`` (runserver's access line, with the query string)
    is dropped (on the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        expected = status is not None and status < 500
        if record.name == "django.server":
            return False
        if record.name == "django.request" and expected:
            return False
        if record.name.startswith("django.security.") and expected:
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the ``FIELDS``
    present, and ``exc`` (the traceback) for an unexpected error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


# --- tasks -----------------------------------------------------------------------------------

task_logger = logging.getLogger("trust.task")
# Per task id, while it runs in this process: when it started, its log context and the token
# that puts the context back afterwards.
_running: dict[str, tuple[float, dict[str, Any], contextvars.Token]] = {}


@signals.task_prerun.connect
def _task_started(task_id: str, task: Any, kwargs: dict | None = None, **_: Any) -> None:
    context = {"task": task.name, "task_id": task_id}
    operation_id = (kwargs or {}).get("operation_id")
    if operation_id:
        context["operation_id"] = str(operation_id)
    _running[task_id] = (time.monotonic(), context, log_context.set(context))


# Worded as Celery's own lines ("Task name[id] succeeded in 0.1s"), whose place this line takes.
WORDS = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retry"}


@signals.task_postrun.connect
def _task_finished(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    """One line per task run: its name, id, state (SUCCESS, FAILURE, RETRY, ...), duration and
    operation id; never its arguments or its result."""
    started, context, token = _running.pop(task_id, (time.monotonic(), {}, None))
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    operation_id = context.get("operation_id")
    task_logger.log(
        logging.WARNING if state == "FAILURE" else logging.INFO,
        "Task %s[%s] %s in %.3fs%s",
        task.name,
        task_id,
        WORDS.get(state or "", (state or "finished").lower()),
        duration_ms / 1000,
        f" (operation {operation_id})" if operation_id else "",
        extra={
            "task": task.name,
            "task_id": task_id,
            **context,
            "state": state,
            "duration_ms": duration_ms,
            "retries": task.request.retries or 0,
        },
    )
    if token is not None:
        try:
            log_context.reset(token)
        except ValueError:  # set in another context (a task run inline elsewhere): nothing to undo
            log_context.set(None)
