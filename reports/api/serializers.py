"""What the reports API shows and accepts. Serializers parse and render only; ``report_request``
checks every rule (its refusals become problem details with its code)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from reports.models import Kind, Report
from reports.periods import Period


class ReportSerializer(serializers.ModelSerializer):
    """A requested document and, once a worker made it, its fingerprint and where to fetch it."""

    id = serializers.UUIDField(source="uid", read_only=True, help_text="The report's uuid.")
    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    beneficiary = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    beneficiary_pseudonym = serializers.CharField(
        source="beneficiary.pseudonym", read_only=True, default=None, allow_null=True
    )
    payment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    period = serializers.SerializerMethodField()
    sha256 = serializers.SerializerMethodField()
    verification_code = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "kind",
            "status",
            "trust",
            "beneficiary",
            "beneficiary_pseudonym",
            "payment",
            "period",
            "period_start",
            "period_end",
            "requested_at",
            "generated_at",
            "sha256",
            "verification_code",
            "pages",
            "size",
            "error",
            "download",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {"type": "string", "example": "2026-Q3", "description": "As typed: 2026-Q3, 2026-09, ..."}
    )
    def get_period(self, report: Report) -> str:
        return Period(report.period_start, report.period_end).key

    @extend_schema_field(
        {"type": "string", "nullable": True, "description": "SHA-256 of the PDF, once ready."}
    )
    def get_sha256(self, report: Report) -> str | None:
        return report.sha256 if report.status == Report.Status.DONE else None

    @extend_schema_field(
        {"type": "string", "nullable": True, "description": "As printed on the document."}
    )
    def get_verification_code(self, report: Report) -> str | None:
        return report.code_display if report.status == Report.Status.DONE else None

    @extend_schema_field(
        {"type": "string", "nullable": True, "description": "The PDF's address, once ready."}
    )
    def get_download(self, report: Report) -> str | None:
        if report.status != Report.Status.DONE:
            return None
        return reverse(
            "api-report-download", kwargs={"uid": report.uid}, request=self.context.get("request")
        )


class ReportRequestSerializer(serializers.Serializer):
    trust = serializers.IntegerField(help_text="The trust's id.")
    kind = serializers.ChoiceField(choices=Kind.choices)
    period = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="For a statement or a court account: 2026-Q3, 2026-09, 2026 or "
        "2026-07-01..2026-09-30.",
    )
    beneficiary = serializers.IntegerField(
        required=False, allow_null=True, help_text="For a beneficiary statement: their id."
    )
    payment = serializers.IntegerField(
        required=False, allow_null=True, help_text="For a remittance advice: the payment's id."
    )
    reconciliation = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="For a bank reconciliation: the signed-off reconciliation's id.",
    )
