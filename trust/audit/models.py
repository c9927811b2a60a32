"""The audit trail: events in hash chains (one per trust, one for events of no trust), their global
order (the Merkle tree's leaves), and signed tree heads (checkpoints). docs/audit.md explains it.

Events and checkpoints refuse UPDATE and DELETE in the database (trust/db.py), except the one
update that seals an event. An event's ``data`` is its canonical serialisation, the bytes that are
hashed; the other columns repeat parts of it for filtering and are checked against it by
``verify_audit --deep``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AuditChain(models.Model):
    """The head of one hash chain: how many events it has and the hash of the last. The one audit
    row that changes (under a row lock, by the writer of the next event); verification checks it
    against the events."""

    GLOBAL = "global"

    key = models.CharField(max_length=40, unique=True, help_text='"trust:<id>" or "global".')
    length = models.BigIntegerField(default=0)
    head = models.BinaryField(max_length=32, default=bytes(32))

    class Meta:
        db_table = "trust_audit_chain"

    def __str__(self) -> str:
        return f"audit chain {self.key} ({self.length} events)"


class AuditEvent(models.Model):
    """One state change: ``data`` (canonical JSON, ASCII) says who did what to which object, when,
    in which trust, with the change and the reason. Written in the change's own transaction,
    unsealed.

    The sealer (``trust.audit.sealing.audit_seal_pending``: one at a time, every minute and
    before each checkpoint) then gives each committed event, in the order it finds them:
    ``chain`` (the trust's, or the global one), ``seq``, its place in it (from 1), ``hash`` = SHA-256(the previous event's hash in
    the chain || data) (the first previous hash being 32 zero bytes), and ``sealed``, its place
    in the global log (from 1, without gaps): the Merkle tree's leaves are the events in
    ``sealed`` order. Writers lock nothing of the trail, so no writer waits for another.
    """

    # The chain is the trust's ("trust:<id>") or the global one; set by the sealer.
    chain = models.ForeignKey(
        AuditChain,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    at = models.DateTimeField()
    trust_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True, default="")
    object_id = models.CharField(max_length=200, blank=True, default="")
    data = models.BinaryField()
    seq = models.BigIntegerField(null=True, blank=True)
    hash = models.BinaryField(max_length=32, null=True, blank=True)
    sealed = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "trust_audit_event"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sealed"], condition=Q(sealed__isnull=False), name="audit_event_sealed"
            ),
        ]
        indexes = [
            models.Index(fields=["trust_id", "id"], name="audit_event_trust"),
            models.Index(fields=["action", "id"], name="audit_event_action"),
            # The sealer's work list: small, as everything older is sealed.
            models.Index(
                fields=["id"], condition=Q(hash__isnull=True), name="audit_event_unsealed"
            ),
            # "Who saw this child": one child's views and reveals, newest first.
            models.Index(
                fields=["object_id", "-at"],
                condition=Q(
                    action__in=["beneficiary.viewed", "beneficiary.identity_revealed"],
                    object_type="beneficiary",
                ),
                name="audit_event_child_views",
            ),
        ]

    def __str__(self) -> str:
        return f"audit event #{self.pk} {self.action}"


class AuditCheckpoint(models.Model):
    """A signed tree head: the first ``size`` leaves have Merkle root ``root``. ``statement`` is
    the exact bytes signed with Ed25519 (canonical JSON of log, size, root and time); ``frontier``
    holds the roots of the tree's complete subtrees, so the next checkpoint hashes only the new
    leaves."""

    size = models.BigIntegerField()
    root = models.BinaryField(max_length=32)
    signed_at = models.DateTimeField()
    statement = models.BinaryField()
    signature = models.BinaryField(max_length=64)
    public_key = models.BinaryField(max_length=32)
    frontier = models.JSONField(default=list)

    class Meta:
        db_table = "trust_audit_checkpoint"
        ordering = ["size", "id"]
        # The latest checkpoint (signing each minute, the audit page) is one index read, not a
        # scan of a year's 525,600 rows.
        indexes = [models.Index(fields=["size", "id"], name="audit_checkpoint_size")]

    def __str__(self) -> str:
        return f"checkpoint at {self.size} events"


class AuditVerification(models.Model):
    """One run of the audit verification (nightly, or started by an auditor), with its progress
    while it runs and its result. Working state, not part of the tamper-evident log: the log
    records who started a run and what it found (``audit.verified``)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    operation_id = models.CharField(max_length=64, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    ok = models.BooleanField(null=True)
    summary = models.JSONField(default=dict)
    problems = models.JSONField(default=list)

    class Meta:
        db_table = "trust_audit_verification"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"audit verification {self.operation_id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
