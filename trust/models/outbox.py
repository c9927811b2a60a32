"""Background work's own rows: the outbox of messages for Celery (written in the transaction that
asks for the work, sent once it commits) and the jobs that gave up after their last try. Written
only by ``trust.background`` and ``trust.services.jobs`` (docs/operations.md, "Background work")."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from trust.models.ledger import Trust


class OutboxMessage(models.Model):
    """One task to send to the broker. The row commits or rolls back with the change that asked
    for the work; a sender claims it (``claim``, ``next_attempt_at`` as a lease) before
    publishing, so two senders never publish it at once. ``uid`` is the Celery task id: a message
    published twice (a sender that died between publishing and marking it sent) carries one id."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent to the broker"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    trust = models.ForeignKey(
        Trust, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(
        auto_now_add=True, help_text="Not sent before this: backoff after a broker error, or "
        "the lease of the sender that claimed it."
    )  # fmt: skip
    claim = models.UUIDField(null=True, blank=True, help_text="The sender that claimed it last.")
    attempts = models.PositiveIntegerField(default=0, help_text="Tries to publish it.")
    last_error = models.CharField(max_length=200, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "trust_outbox_message"
        indexes = [
            models.Index(fields=["state", "next_attempt_at", "id"], name="outbox_due"),
            models.Index(fields=["state", "sent_at"], name="outbox_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} {self.uid} ({self.state})"


class FailedJob(models.Model):
    """A task that stopped: after its last try on a temporary fault, or at once on any other
    error. It names the task and its arguments (ids), never the exception's text (it could carry
    a child's name): the exception's class and a short message written here. The same task with
    the same arguments failing again while one is open adds to ``occurrences``. Trustees retry it
    (sent again through the outbox) or dismiss it."""

    class State(models.TextChoices):
        FAILED = "failed", "Failed"
        RETRIED = "retried", "Sent again"
        DISMISSED = "dismissed", "Dismissed"

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    signature = models.CharField(max_length=64, help_text="SHA-256 of task name and arguments.")
    task_id = models.CharField(max_length=255, blank=True, default="")
    trust = models.ForeignKey(
        Trust, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.FAILED)
    error_class = models.CharField(max_length=200)
    summary = models.CharField(max_length=300)
    attempts = models.PositiveIntegerField(default=1, help_text="Tries of the last run.")
    occurrences = models.PositiveIntegerField(default=1)
    failed_at = models.DateTimeField(auto_now_add=True)
    last_failed_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    retry_task_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "trust_failed_job"
        ordering = ["-last_failed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["signature"],
                condition=models.Q(state="failed"),
                name="failed_job_open_once",
            )
        ]
        indexes = [models.Index(fields=["trust", "state"], name="failed_job_trust_state")]

    def __str__(self) -> str:
        return f"{self.task_name} ({self.state})"

    @property
    def open(self) -> bool:
        return self.state == self.State.FAILED
