"""Database faults (docs/operations.md, "Database faults and connections"): which errors mean
"the database is away or busy, try again", and the bounded retry of the writing services.

- A serialisation failure (SQLSTATE 40001) or a deadlock (40P01) rolled the whole transaction
  back: running the service again is safe. ``retried_on_conflict`` does so, at most
  ``RETRY_ATTEMPTS`` times with a jittered backoff, and only around the outermost transaction
  (inside a caller's transaction the caller's own transaction is lost: the error goes up to it).
- A connection that dropped (server restart, ``pg_terminate_backend``, network) is *not* retried
  here: if it dropped during COMMIT nobody knows whether the work was written. The page or the API
  answers 503 with ``Retry-After`` (``config.middleware``, ``trust.api.problems``), and the
  client's retry carries the same idempotency key (a form's, a file's rows', the API's
  ``Idempotency-Key``), so it finds the work done or does it once.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

RETRY_ATTEMPTS = 3  # tries in all, the first included
RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
RETRY_BASE_SECONDS = 0.05  # before the 2nd try 25-75 ms, before the 3rd 50-150 ms
RETRY_AFTER_SECONDS = 5  # what a 503 tells the client to wait

_retrying = threading.local()


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (Django's wraps the driver's as ``__cause__``)."""
    for candidate in (exc, exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if code:
            return str(code)
    return None


def conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a serialisation failure or a deadlock: the transaction was rolled back
    and running it again may succeed."""
    return isinstance(exc, OperationalError) and sqlstate(exc) in RETRY_SQLSTATES


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away or too busy to answer now (refused or dropped
    connection, a restart, too many clients, a conflict retried to the end): a 503, not a 500."""
    return isinstance(exc, OperationalError | InterfaceError)


def fault_summary(exc: BaseException) -> str:
    """One line for the log: the error's class, SQLSTATE and first line (never a traceback, and
    never the statement or its values)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    code = sqlstate(exc)
    return f"{type(exc).__name__}{f' [{code}]' if code else ''}: {first}"


def unavailable_answered(request: HttpRequest, exc: BaseException) -> None:
    """Note that ``request`` is answered 503 because of ``exc``: logged once per request, on one
    line (logger ``trust.db_faults``, the line an operator alerts on). Its user becomes anonymous,
    so that the middleware still to run on the way out (which reads the user) does not try the
    database again, and again log and wait for it."""
    if not getattr(request, "_database_unavailable", False):
        request._database_unavailable = True  # type: ignore[attr-defined]
        log.warning(
            "database unavailable: %s %s: %s", request.method, request.path, fault_summary(exc)
        )
    request.user = AnonymousUser()  # type: ignore[assignment]


def unavailable_code(exc: BaseException) -> str:
    """The problem code of a 503: ``database_busy`` for a conflict retried to the end,
    ``database_unavailable`` for the rest."""
    return "database_busy" if conflict(exc) else "database_unavailable"


def retry_delay(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1``: doubling, with jitter so that two
    transactions that deadlocked do not meet again at the same moment."""
    return RETRY_BASE_SECONDS * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311


def retried_on_conflict(service: Callable[P, R]) -> Callable[P, R]:
    """Run ``service`` again (up to ``RETRY_ATTEMPTS`` tries in all) when its transaction ended in
    a serialisation failure or a deadlock. Only at the outermost level: called inside a
    transaction (``atomic``) or inside another retried service it runs once, and the outermost
    caller decides. A service so wrapped must own its transaction (all or nothing) and be
    idempotent by its keys, as the posting services are."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block or getattr(_retrying, "active", False):
            return service(*args, **kwargs)
        _retrying.active = True
        try:
            for attempt in range(1, RETRY_ATTEMPTS + 1):
                try:
                    return service(*args, **kwargs)
                except OperationalError as exc:
                    if not conflict(exc) or attempt == RETRY_ATTEMPTS:
                        raise
                    delay = retry_delay(attempt)
                    log.warning(
                        "%s: %s; try %d of %d in %.0f ms",
                        service.__qualname__,
                        fault_summary(exc),
                        attempt + 1,
                        RETRY_ATTEMPTS,
                        delay * 1000,
                    )
                    time.sleep(delay)
            raise AssertionError("unreachable")
        finally:
            _retrying.active = False

    return run
