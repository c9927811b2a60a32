"""A trust's disbursement policy and care-plan budgets through the API (its trustees), on the
services of the policy page: two approvals above a threshold, who bears transfer fees, budgets per
beneficiary, category and period."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from disbursements.models import Budget, Category, DisbursementPolicy
from disbursements.services import (
    budget_set,
    policy_for,
    policy_set_dual_approval,
    policy_set_fee_bearer,
)
from trust.access import can, trust_for
from trust.api.base import Amount, ApiViewSet, MinorAmount, path_id
from trust.errors import field_error
from trust.roles import Action


class PolicySerializer(serializers.Serializer):
    trust = serializers.IntegerField(source="trust_id")
    dual_approval_threshold = MinorAmount(
        minor="dual_approval_minor", currency="trust.base_currency"
    )
    dual_approval_threshold_currency = serializers.CharField(source="trust.base_currency")
    fees_charged_to = serializers.ChoiceField(choices=DisbursementPolicy.FeeBearer.choices)


class ThresholdSerializer(serializers.Serializer):
    threshold = Amount(help_text="Requests above it need two trustees' approvals.")
    threshold_currency = serializers.CharField(max_length=3)


class FeeBearerSerializer(serializers.Serializer):
    fees_charged_to = serializers.ChoiceField(choices=DisbursementPolicy.FeeBearer.choices)


class BudgetSerializer(serializers.ModelSerializer):
    pseudonym = serializers.CharField(source="beneficiary.pseudonym")
    amount = MinorAmount(minor="amount_minor", currency="currency")

    class Meta:
        model = Budget
        fields = [
            "id",
            "beneficiary",
            "pseudonym",
            "category",
            "period_start",
            "period_end",
            "amount",
            "currency",
        ]
        read_only_fields = fields


class BudgetCreateSerializer(serializers.Serializer):
    beneficiary = serializers.IntegerField(help_text="The beneficiary's id, in this trust.")
    category = serializers.ChoiceField(choices=Category.choices)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    amount = Amount()
    amount_currency = serializers.CharField(max_length=3)


class PolicyViewSet(ApiViewSet):
    """``/api/v1/trusts/{trust_id}/policy/``: read it, set the threshold or the fee bearer, list and
    set budgets (routes in ``urls`` below: one object, not a collection)."""

    serializer_class = PolicySerializer
    pagination_class = None

    def _trust(self) -> Any:
        trust = trust_for(self.request.user, path_id(self.kwargs["trust_id"]), Action.LEDGER_VIEW)
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and not can(
            self.request.user, Action.PARTNER_MANAGE, trust
        ):
            raise PermissionDenied("Trustees set approvals, fees and budgets.")
        return trust

    @extend_schema(
        summary="The trust's disbursement policy (trustees and auditors)",
        responses={200: PolicySerializer},
    )
    def show(self, request: Request, trust_id: str) -> Response:
        return Response(PolicySerializer(policy_for(self._trust())).data)

    @extend_schema(
        summary="Set the threshold above which two trustees approve",
        request=ThresholdSerializer,
        responses={200: PolicySerializer},
        examples=[
            OpenApiExample(
                "1,000 USD",
                value={"threshold": "1000.00", "threshold_currency": "USD"},
                request_only=True,
            )
        ],
    )
    def threshold(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        data = self._valid(ThresholdSerializer)
        policy_set_dual_approval(trust=trust, actor=request.user, threshold=data["threshold"])
        return Response(PolicySerializer(policy_for(trust)).data)

    @extend_schema(
        summary="Set who bears transfer fees, for payments from now on",
        request=FeeBearerSerializer,
        responses={200: PolicySerializer},
    )
    def fees(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        data = self._valid(FeeBearerSerializer)
        policy_set_fee_bearer(trust=trust, actor=request.user, bearer=data["fees_charged_to"])
        return Response(PolicySerializer(policy_for(trust)).data)

    @extend_schema(
        summary="The trust's care-plan budgets", responses={200: BudgetSerializer(many=True)}
    )
    def budgets(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        rows = (
            Budget.objects.filter(beneficiary__trust=trust)
            .select_related("beneficiary")
            .order_by("pk")
        )
        return Response(BudgetSerializer(rows, many=True).data)

    @extend_schema(
        summary="Set a care-plan budget (one category, one period) for a beneficiary",
        request=BudgetCreateSerializer,
        responses={201: BudgetSerializer},
    )
    def budget_set(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        data = self._valid(BudgetCreateSerializer)
        beneficiary = trust.beneficiaries.filter(pk=data["beneficiary"]).first()
        if beneficiary is None:
            raise field_error(
                "beneficiary",
                "No beneficiary with that id in this trust.",
                code="unknown_beneficiary",
            )
        budget = budget_set(
            beneficiary=beneficiary,
            actor=request.user,
            category=data["category"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            amount=data["amount"],
        )
        return Response(BudgetSerializer(budget).data, status=status.HTTP_201_CREATED)


def urls() -> list[Any]:
    base = "trusts/<str:trust_id>/policy/"
    view = PolicyViewSet.as_view
    return [
        path(base, view({"get": "show"}), name="api-policy"),
        path(f"{base}threshold/", view({"post": "threshold"}), name="api-policy-threshold"),
        path(f"{base}fees/", view({"post": "fees"}), name="api-policy-fees"),
        path(
            f"{base}budgets/",
            view({"get": "budgets", "post": "budget_set"}),
            name="api-policy-budgets",
        ),
    ]
