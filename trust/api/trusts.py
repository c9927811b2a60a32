"""Trusts through the API: the ones you hold a role in; create one (system administrators), change
its terms and close a period (its trustees); who holds which role (its administrators). The same
services as the pages (``trust.services.trusts``, ``trust.services.appointments``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from trust.access import trust_for, visible
from trust.api.base import ApiViewSet, query_id
from trust.api.serializers import TrustSerializer
from trust.errors import field_error
from trust.models import Appointment, Trust
from trust.roles import APPOINTED, Action
from trust.services.appointments import appointment_create, appointment_end
from trust.services.trusts import trust_create, trust_set_lock_date, trust_update


class TrustCreateSerializer(serializers.Serializer):
    caption = serializers.CharField(max_length=300)
    court = serializers.CharField(max_length=200)
    case_number = serializers.CharField(max_length=100)
    base_currency = serializers.CharField(max_length=3, default="USD")
    time_zone = serializers.CharField(max_length=64, required=False, allow_blank=True)


class TrustTermsSerializer(serializers.Serializer):
    caption = serializers.CharField(max_length=300, required=False)
    court = serializers.CharField(max_length=200, required=False)
    case_number = serializers.CharField(max_length=100, required=False)
    majority_age = serializers.IntegerField(min_value=14, max_value=25, required=False)
    time_zone = serializers.CharField(max_length=64, required=False)
    retention_years = serializers.IntegerField(min_value=1, max_value=100, required=False)


class LockDateSerializer(serializers.Serializer):
    lock_date = serializers.DateField(help_text="Entries dated on or before it are refused.")


@extend_schema_view(
    list=extend_schema(summary="The trusts you hold a role in"),
    retrieve=extend_schema(summary="One trust"),
)
class TrustViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = TrustSerializer

    def get_queryset(self) -> Any:
        return visible(self.request.user, Trust).order_by("pk")

    @extend_schema(
        summary="Create a trust (system administrators), with its standard accounts",
        request=TrustCreateSerializer,
        responses={201: TrustSerializer},
        examples=[
            OpenApiExample(
                "A new case",
                value={
                    "caption": "United States v. Example",
                    "court": "District Court (example)",
                    "case_number": "1:26-cr-00042",
                    "base_currency": "USD",
                    "time_zone": "America/New_York",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        data = self._valid(TrustCreateSerializer)
        trust = trust_create(actor=request.user, **data)
        return Response(TrustSerializer(trust).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a trust's terms (its trustees): each change an audit event",
        request=TrustTermsSerializer,
        responses={200: TrustSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        trust = trust_for(request.user, pk, Action.TRUST_VIEW)
        trust = trust_update(trust=trust, actor=request.user, **self._valid(TrustTermsSerializer))
        return Response(TrustSerializer(trust).data)

    @extend_schema(
        summary="Close the period up to a date (its trustees; never moves back)",
        request=LockDateSerializer,
        responses={200: TrustSerializer},
    )
    @action(detail=True, methods=["post"], url_path="close-period")
    def close_period(self, request: Request, pk: str) -> Response:
        trust = trust_for(request.user, pk, Action.TRUST_VIEW)
        data = self._valid(LockDateSerializer)
        trust = trust_set_lock_date(trust=trust, lock_date=data["lock_date"], actor=request.user)
        return Response(TrustSerializer(trust).data)


class AppointmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Appointment
        fields = ["id", "trust", "username", "role", "starts_on", "ends_on", "reference"]
        read_only_fields = fields


class AppointmentCreateSerializer(serializers.Serializer):
    trust = serializers.IntegerField()
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=sorted(APPOINTED))
    starts_on = serializers.DateField(required=False, allow_null=True)
    ends_on = serializers.DateField(required=False, allow_null=True)
    reference = serializers.CharField(required=False, allow_blank=True, default="")


class AppointmentEndSerializer(serializers.Serializer):
    ends_on = serializers.DateField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_view(
    list=extend_schema(summary="Who holds which role, in the trusts you administer"),
    retrieve=extend_schema(summary="One appointment"),
)
class AppointmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = AppointmentSerializer

    def get_queryset(self) -> Any:
        found = visible(self.request.user, Appointment).select_related("user")
        trust = query_id(self.request.query_params, "trust")
        return found if trust is None else found.filter(trust_id=trust)

    @extend_schema(
        summary="Appoint a user to a trust as trustee, auditor or administrator (administrators)",
        request=AppointmentCreateSerializer,
        responses={201: AppointmentSerializer},
    )
    def create(self, request: Request) -> Response:
        data = self._valid(AppointmentCreateSerializer)
        trust = trust_for(request.user, data["trust"], Action.APPOINTMENT_MANAGE)
        user = get_user_model().objects.filter(username=data["username"]).first()
        if user is None:
            raise field_error("username", "No user signs in with that name.", code="unknown_user")
        appointment = appointment_create(
            trust=trust,
            user=user,
            role=data["role"],
            actor=request.user,
            starts_on=data.get("starts_on"),
            ends_on=data.get("ends_on"),
            reference=data["reference"],
        )
        return Response(AppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="End an appointment (its last day in the role; today by default)",
        request=AppointmentEndSerializer,
        responses={200: AppointmentSerializer},
    )
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        appointment = self.get_object()
        data = self._valid(AppointmentEndSerializer)
        appointment = appointment_end(
            appointment=appointment,
            actor=request.user,
            ends_on=data.get("ends_on"),
            reason=data["reason"],
        )
        return Response(AppointmentSerializer(appointment).data)
