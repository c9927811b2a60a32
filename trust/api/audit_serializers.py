"""What the audit API shows: events decoded from their hashed bytes as the auditor's page reads
them (``trust.audit.selectors.AuditRow``), the signed checkpoint, verification runs. Render only."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trust.audit.models import AuditVerification
from trust.audit.selectors import AuditRow


class SummaryLineSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()


class AuditObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()


class AuditEventSerializer(serializers.Serializer):
    """One event as the log lists it: who did what to which object, when, and what changed in at
    most a dozen readable lines. A large record (a receipt shared among thousands) is summarised
    by its size; its own address gives it whole."""

    id = serializers.IntegerField()
    chain = serializers.CharField(help_text='"trust:<id>" or "global".')
    seq = serializers.IntegerField(
        allow_null=True, help_text="Its place in the chain, once sealed."
    )
    sealed = serializers.BooleanField()
    trust = serializers.SerializerMethodField()
    at = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    via = serializers.SerializerMethodField()
    action = serializers.SerializerMethodField()
    object = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()
    changes_complete = serializers.SerializerMethodField()
    size = serializers.IntegerField(help_text="Bytes of the hashed record.")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_trust(self, row: AuditRow) -> int | None:
        return row.data.get("trust")

    @extend_schema_field(serializers.CharField())
    def get_at(self, row: AuditRow) -> str:
        return str(row.data.get("at", ""))

    @extend_schema_field(
        serializers.CharField(allow_null=True, help_text="The username; null: the system.")
    )
    def get_actor(self, row: AuditRow) -> str | None:
        actor = row.data.get("actor")
        return actor.get("username") if isinstance(actor, dict) else None

    @extend_schema_field(
        serializers.CharField(allow_null=True, help_text='"token:<key>" for a call with a token.')
    )
    def get_via(self, row: AuditRow) -> str | None:
        actor = row.data.get("actor")
        return actor.get("via") if isinstance(actor, dict) else None

    @extend_schema_field(serializers.CharField())
    def get_action(self, row: AuditRow) -> str:
        return str(row.data.get("action", ""))

    @extend_schema_field(AuditObjectSerializer)
    def get_object(self, row: AuditRow) -> dict[str, str]:
        found = row.data.get("object")
        found = found if isinstance(found, dict) else {}
        return {"type": str(found.get("type", "")), "id": str(found.get("id", ""))}

    @extend_schema_field(serializers.CharField(allow_blank=True))
    def get_reason(self, row: AuditRow) -> str:
        return str(row.data.get("reason") or "")

    @extend_schema_field(SummaryLineSerializer(many=True))
    def get_changes(self, row: AuditRow) -> list[dict[str, str]]:
        return [{"label": label, "value": value} for label, value in row.summary.lines]

    @extend_schema_field(
        serializers.BooleanField(help_text="False: the summary left something out.")
    )
    def get_changes_complete(self, row: AuditRow) -> bool:
        return not row.summary.more


class AuditEventWholeSerializer(AuditEventSerializer):
    """One event whole: the summary, and every field as recorded (the hashed bytes, decoded)."""

    log_position = serializers.IntegerField(
        allow_null=True, help_text="Its place in the whole log (the Merkle leaf, from 1)."
    )
    hash = serializers.CharField(allow_null=True, help_text="SHA-256, hex, once sealed.")
    record = serializers.DictField(
        source="data", help_text="The record as hashed: action, actor, at, changes, ..."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        row, event = instance
        out = super().to_representation(row)
        out["log_position"] = event.sealed
        out["hash"] = bytes(event.hash).hex() if event.hash is not None else None
        return out


class CheckpointSerializer(serializers.Serializer):
    """The latest signed tree head, and the keys that sign the log."""

    id = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Events in the log it covers.")
    root = serializers.CharField(help_text="Merkle root, hex.")
    signed_at = serializers.DateTimeField()
    statement = serializers.CharField(help_text="The exact bytes signed (canonical JSON).")
    signature = serializers.CharField(help_text="Ed25519, base64.")
    public_key = serializers.CharField(help_text="The key that signed it, hex.")
    log = serializers.CharField(help_text="The log's id.")
    trusted_keys = serializers.ListField(
        child=serializers.CharField(), help_text="The current key first, then earlier ones (hex)."
    )
    fingerprints = serializers.ListField(child=serializers.CharField())


class VerificationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="operation_id", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    percent = serializers.IntegerField(read_only=True)
    problems = serializers.SerializerMethodField()

    class Meta:
        model = AuditVerification
        fields = [
            "id",
            "status",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "percent",
            "done",
            "total",
            "ok",
            "summary",
            "problems",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.CharField(), help_text="The first ten.")
    )
    def get_problems(self, run: AuditVerification) -> list[str]:
        return list(run.problems[:10])
