"""The audit trail: events in hash chains (one per trust, one for events of no trust), their global
order as Merkle-tree leaves, and signed tree heads (checkpoints). docs/audit.md explains the design.

Events, leaves and checkpoints refuse UPDATE and DELETE in the database (trust/db.py). An event's
``data`` is its canonical serialisation, the bytes that are hashed; the other columns repeat parts
of it for filtering and are checked against it by ``verify_audit --deep``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
    in which trust, with the change and the reason. Its place in its chain and its hash are in
    its ``AuditSeal``."""

    chain = models.ForeignKey(
        AuditChain, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    at = models.DateTimeField()
    trust_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True, default="")
    object_id = models.CharField(max_length=200, blank=True, default="")
    data = models.BinaryField()

    class Meta:
        db_table = "trust_audit_event"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["trust_id", "id"], name="audit_event_trust"),
            models.Index(fields=["action", "id"], name="audit_event_action"),
        ]

    def __str__(self) -> str:
        return f"audit event #{self.pk} {self.action}"


class AuditSeal(models.Model):
    """An event's place in its chain: ``seq`` (from 1) and ``hash`` = SHA-256(the previous
    event's hash in the chain || the event's data), the first previous hash being 32 zero bytes.
    Written when the event's transaction commits (PostgreSQL: a deferred trigger, so a writer
    locks its chain's head only for its commit) or at once (SQLite: one writer at a time), and
    never changed. ``sealed`` is the order seals were made in; checkpoints follow it."""

    event = models.OneToOneField(
        AuditEvent,
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="seal",
        db_constraint=False,
    )
    chain = models.ForeignKey(
        AuditChain, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    seq = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)
    sealed = models.BigIntegerField()

    class Meta:
        db_table = "trust_audit_seal"
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_seal_chain_seq"),
        ]
        indexes = [models.Index(fields=["sealed"], name="audit_seal_order")]

    def __str__(self) -> str:
        return f"seal of event #{self.event_id}: {self.chain_id}/{self.seq}"


class AuditLeaf(models.Model):
    """An event's place in the global log: leaf ``position`` of the Merkle tree (from 0). Given by the
    checkpoint in commit order (events of one chain in chain order)."""

    position = models.BigIntegerField(primary_key=True)
    event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, related_name="leaf", db_constraint=False
    )

    class Meta:
        db_table = "trust_audit_leaf"
        ordering = ["position"]

    def __str__(self) -> str:
        return f"leaf {self.position} = event #{self.event_id}"


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
