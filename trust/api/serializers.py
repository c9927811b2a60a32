"""What the trust app's API shows and accepts. Serializers parse and render only; the services
check every rule (their refusals become problem details with the service's code)."""

from __future__ import annotations

from rest_framework import serializers

from trust.api.base import MinorAmount
from trust.models import Beneficiary, Trust


class TrustSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trust
        fields = [
            "id",
            "caption",
            "court",
            "case_number",
            "base_currency",
            "status",
            "majority_age",
            "time_zone",
            "lock_date",
            "closed_on",
            "retention_years",
        ]
        read_only_fields = fields


class BeneficiarySerializer(serializers.ModelSerializer):
    """A beneficiary by pseudonym; never the identifying details (``…/reveal/`` records a reveal)."""

    trust = serializers.PrimaryKeyRelatedField(read_only=True)
    care_partner = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    balance = MinorAmount(minor="balance_minor", currency="ledger_currency")
    balance_currency = serializers.CharField(source="ledger_currency", read_only=True, default=None)

    class Meta:
        model = Beneficiary
        fields = [
            "id",
            "trust",
            "pseudonym",
            "kind",
            "country",
            "care_partner",
            "status",
            "balance",
            "balance_currency",
        ]
        read_only_fields = fields


class BeneficiaryCreateSerializer(serializers.Serializer):
    trust = serializers.IntegerField(help_text="The trust's id.")
    pseudonym = serializers.CharField(
        max_length=60, help_text="As in court filings (e.g. Victim-7)."
    )
    kind = serializers.CharField(required=False, default="individual")
    date_of_birth = serializers.DateField(
        required=False, allow_null=True, help_text="Kept, never shown back."
    )
    country = serializers.CharField(required=False, allow_blank=True, default="")
    care_partner = serializers.IntegerField(required=False, allow_null=True)


class BeneficiaryUpdateSerializer(serializers.Serializer):
    country = serializers.CharField(required=False, allow_blank=True)
    care_partner = serializers.IntegerField(
        required=False, allow_null=True, help_text="A partner's id, or null to clear."
    )
    status = serializers.ChoiceField(choices=Beneficiary.Status.choices, required=False)
    date_of_birth = serializers.DateField(required=False)


class RevealSerializer(serializers.Serializer):
    purpose = serializers.CharField(help_text="Why the details are needed (recorded).")


class IdentitySerializer(serializers.Serializer):
    legal_name = serializers.CharField(allow_blank=True)
    guardian_contact = serializers.CharField(allow_blank=True)
