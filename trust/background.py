"""Queueing background work: by task name, through an outbox, once the transaction commits.

Tasks import services; services never import a tasks module (tasks would import them back: an
import circle). A service that needs work done later names the task and calls ``task_enqueue``
inside its transaction. That writes an ``OutboxMessage`` row in the same transaction: a
rolled-back change leaves no row and queues nothing, a committed one always leaves the row. Once
the transaction commits the row is sent at once; if the broker is down then, the row waits and
``outbox_drain`` (Celery beat, every ``OUTBOX_DRAIN_SECONDS``) sends it when the broker is back.
Nothing is lost, and a worker never sees a row that might still roll back.

A sender claims rows before publishing (a compare-and-set on ``claim``, with ``next_attempt_at`` as
a lease), so two senders never publish one row at once. Delivery stays at least once (a sender
killed between publishing and marking the row sent publishes it again after the lease; a worker
killed mid-task gets the message again): every task is idempotent by an operation id or a unique
key, and the row's ``uid`` is the Celery task id, so both copies carry the same id.

Every task of the apps is a ``JobTask``: late acknowledgement, retries on temporary faults
(``TRANSIENT``) with exponential backoff, at most ``TASK_MAX_RETRIES`` of them; a task that still
fails, or fails on anything else, becomes a ``FailedJob`` that trustees see and can retry.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from smtplib import SMTPException
from typing import Any

from celery import Task, current_app
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from trust.models import FailedJob, OutboxMessage, Trust

logger = logging.getLogger(__name__)

# Faults that pass: the database, the broker, the mail server or the network was away.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    SMTPException,
)
# How long a sender may take between claiming a row and marking it sent before another sender
# takes it over (a sender killed in between).
LEASE = timedelta(seconds=60)
# Backoff of a row the broker refused: 1 s, 2 s, 4 s ... at most this.
BACKOFF_MAX = timedelta(minutes=2)
DRAIN_BATCH = 500


def _task(name: str) -> Task:
    tasks = current_app.tasks
    if name not in tasks:
        # Tasks modules are found lazily (Celery's autodiscovery); load them once here.
        current_app.loader.import_default_modules()
    return tasks[name]  # an unknown name is a programming error: it fails in the caller


def _trust_id(trust: Trust | int | None) -> int | None:
    return trust.pk if isinstance(trust, Trust) else trust


# --- enqueueing -------------------------------------------------------------------------------


def task_enqueue(
    name: str, *args: Any, trust: Trust | int | None = None, **kwargs: Any
) -> OutboxMessage:
    """Queue task ``name`` with these arguments (JSON: ids, not objects) in the current
    transaction's outbox; it is sent when the transaction commits (at once outside one), or by
    the drain if the broker is down then. ``trust`` is the trust the work is for (it is not
    passed to the task): a failed job shows on that trust's page. Honours
    ``CELERY_TASK_ALWAYS_EAGER`` like ``delay``. An unknown task name fails here."""
    return task_enqueue_many(name, [(args, kwargs)], trust=trust)[0]


def task_enqueue_many(
    name: str,
    calls: Iterable[tuple[Sequence[Any], dict[str, Any]]],
    *,
    trust: Trust | int | None = None,
) -> list[OutboxMessage]:
    """``task_enqueue`` for many calls of one task (``(args, kwargs)`` each): one insert, and
    one send once the transaction commits."""
    _task(name)
    trust_id = _trust_id(trust)
    messages = OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(task_name=name, args=list(args), kwargs=dict(kwargs), trust_id=trust_id)
            for args, kwargs in calls
        ]
    )
    ids = [m.pk for m in messages]
    if ids:
        # robust: a sender that fails here (the database went away) leaves the rows to the drain.
        transaction.on_commit(lambda: outbox_send(ids), robust=True)
    return messages


# --- sending ----------------------------------------------------------------------------------


def _claim(candidates: Q, *, limit: int, now: datetime) -> list[OutboxMessage]:
    """Claim up to ``limit`` due rows matching ``candidates``, oldest first: the rows this
    sender may publish until the lease ends. The update re-checks that each row is still due
    (compare-and-set): two senders never claim one row. On PostgreSQL the candidates are read
    ``FOR UPDATE SKIP LOCKED``, so concurrent drains take different rows instead of waiting."""
    due = Q(state=OutboxMessage.State.PENDING, next_attempt_at__lte=now) & candidates
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(due)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboxMessage.objects.filter(due, pk__in=ids).update(
            claim=token, next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
    return list(OutboxMessage.objects.filter(claim=token).order_by("pk"))


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** max(attempts - 1, 0)), BACKOFF_MAX)


# Set while the outbox runs a task inline (eager mode): its retries run inline too, and its
# failure is recorded (a failed job) instead of raised into the code that committed.
_inline = contextvars.ContextVar("outbox_inline", default=False)


def _publish(message: OutboxMessage) -> None:
    """Hand one message to the broker (retrying a stale connection once), or run it inline in
    eager mode. Raises only if the broker refused it."""
    task = _task(message.task_name)
    if task.app.conf.task_always_eager:
        token = _inline.set(True)
        try:
            task.apply_async(message.args, message.kwargs, task_id=str(message.uid))
        except Exception:  # the task's own failure, not the broker's: it ran
            logger.exception("task %s failed inline", message.task_name)
        finally:
            _inline.reset(token)
        return
    task.apply_async(
        message.args,
        message.kwargs,
        task_id=str(message.uid),
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
    )


def _send(claimed: list[OutboxMessage]) -> int:
    """Publish claimed rows in order; at the first broker error, put that row and the rest back
    with a backoff (the broker is down: no use trying the others now). Returns how many were
    sent."""
    sent: list[int] = []
    try:
        for message in claimed:
            try:
                _publish(message)
            except Exception as error:
                logger.warning(
                    "could not send %s %s to the broker (%s): the outbox keeps it",
                    message.task_name,
                    message.uid,
                    type(error).__name__,
                )
                now = timezone.now()
                for waiting in claimed[len(sent) :]:
                    OutboxMessage.objects.filter(pk=waiting.pk, claim=waiting.claim).update(
                        next_attempt_at=now + _backoff(waiting.attempts),
                        last_error=f"{type(error).__module__}.{type(error).__qualname__}"[:200],
                    )
                break
            sent.append(message.pk)
    finally:
        if sent:
            OutboxMessage.objects.filter(pk__in=sent).update(
                state=OutboxMessage.State.SENT, sent_at=timezone.now(), last_error=""
            )
    return len(sent)


def outbox_send(message_ids: Sequence[int]) -> int:
    """Send these outbox rows now (``task_enqueue``'s commit hook). A row another sender has
    claimed, or that was sent already, is left alone. Returns how many were sent."""
    ids, sent = list(message_ids), 0
    for start in range(0, len(ids), DRAIN_BATCH):
        chunk = ids[start : start + DRAIN_BATCH]
        claimed = _claim(Q(pk__in=chunk), limit=len(chunk), now=timezone.now())
        done = _send(claimed)
        sent += done
        if done < len(claimed):
            break  # the broker refused one: the drain sends the rest
    return sent


def outbox_drain(*, limit: int = DRAIN_BATCH) -> int:
    """Send the rows that are due (the broker was down at commit, or a sender died), oldest
    first, in batches of ``limit``, until none is due or the broker refuses one. Returns how
    many were sent. Celery beat runs it every ``OUTBOX_DRAIN_SECONDS``."""
    total = 0
    while True:
        claimed = _claim(Q(), limit=limit, now=timezone.now())
        if not claimed:
            return total
        sent = _send(claimed)
        total += sent
        if sent < len(claimed):
            return total  # the broker refused one: try again at the next run


def outbox_pending() -> int:
    """How many messages wait to be sent (for operators: a number that keeps growing means the
    broker is down or beat is not running)."""
    return OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING).count()


def outbox_purge(*, keep_days: int | None = None) -> int:
    """Delete the rows sent more than ``keep_days`` (``OUTBOX_KEEP_DAYS``) ago; returns how
    many. Rows not yet sent are never deleted."""
    days = settings.OUTBOX_KEEP_DAYS if keep_days is None else keep_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(
        state=OutboxMessage.State.SENT, sent_at__lt=cutoff
    ).delete()
    return deleted


# --- tasks that give up -----------------------------------------------------------------------


def _signature(task_name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    text = json.dumps([task_name, list(args), kwargs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def failed_job_summary(error: BaseException) -> str:
    """A short message for the failed-jobs page, chosen by the kind of error: never the
    exception's own text, which may quote data about a child."""
    if isinstance(error, TRANSIENT):
        return (
            "A temporary fault (database, broker, mail server or network) lasted through every try."
        )
    if isinstance(error, SoftTimeLimitExceeded | TimeLimitExceeded):
        return "It ran past its time limit."
    if isinstance(error, ObjectDoesNotExist):
        return "Something it works on was not found."
    if isinstance(error, ValidationError):
        return "A rule of the application refused it."
    return "It stopped on an unexpected error; the worker's log has the details."


def failed_job_record(
    *,
    task_name: str,
    task_id: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    error: BaseException,
    attempts: int,
    trust: Trust | int | None = None,
) -> FailedJob:
    """Record that a task gave up. Its trust is the one its outbox row names (or ``trust``, or
    a ``trust_id`` argument of the task). One open failed job per task and arguments: failing
    again adds an occurrence."""
    trust_id = _trust_id(trust)
    if trust_id is None:
        trust_id = (
            OutboxMessage.objects.filter(uid=_as_uuid(task_id))
            .values_list("trust_id", flat=True)
            .first()
        )
    if trust_id is None and isinstance(kwargs.get("trust_id"), int):
        trust_id = Trust.objects.filter(pk=kwargs["trust_id"]).values_list("pk", flat=True).first()
    args, kwargs = list(args or []), dict(kwargs or {})
    signature = _signature(task_name, args, kwargs)
    error_class = f"{type(error).__module__}.{type(error).__qualname__}"[:200]
    summary = failed_job_summary(error)
    now = timezone.now()
    again = {
        "occurrences": F("occurrences") + 1,
        "last_failed_at": now,
        "error_class": error_class,
        "summary": summary,
        "attempts": attempts,
        "task_id": task_id[:255],
    }
    open_job = FailedJob.objects.filter(signature=signature, state=FailedJob.State.FAILED)
    with transaction.atomic():
        if not open_job.update(**again):
            try:
                with transaction.atomic():
                    return FailedJob.objects.create(
                        task_name=task_name[:200],
                        args=args,
                        kwargs=kwargs,
                        signature=signature,
                        task_id=task_id[:255],
                        trust_id=trust_id,
                        error_class=error_class,
                        summary=summary,
                        attempts=attempts,
                    )
            except IntegrityError:  # another worker recorded it a moment ago
                open_job.update(**again)
    return open_job.get()


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class JobTask(Task):
    """The base of every task of the apps: acknowledged late (a worker lost mid-task gives the
    message back), retried on ``TRANSIENT`` faults with exponential backoff (capped at ten
    minutes, with jitter) at most ``TASK_MAX_RETRIES`` times; a task that still fails, or fails
    on anything else, is recorded as a ``FailedJob``."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT
    retry_backoff = True
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = settings.TASK_MAX_RETRIES

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        try:
            failed_job_record(
                task_name=self.name,
                task_id=task_id,
                args=args,
                kwargs=kwargs,
                error=exc,
                attempts=(self.request.retries or 0) + 1,
            )
        except Exception:  # the database is away too: the worker's log keeps the failure
            logger.exception("could not record the failed job %s %s", self.name, task_id)

    def apply(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        # Inline for the outbox (eager mode), retries run inline and the last failure is
        # recorded, as a worker would, instead of being raised out of the first try.
        if _inline.get() and options.get("throw") is None:
            options["throw"] = False
        return super().apply(args, kwargs, *rest, **options)
