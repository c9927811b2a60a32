"""Beneficiaries through the API: by pseudonym, with their sub-ledger's balance; identifying
details only through the recorded reveal. Thin: ``trust.access`` scopes every queryset (another
trust's object is 404), a serializer parses, one service acts, a serializer renders."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from trust.access import object_for, trust_for, visible_beneficiaries
from trust.api import serializers as s
from trust.api.base import ApiViewSet, query_id
from trust.models import Account, Beneficiary
from trust.roles import Action
from trust.services.child_views import child_view_record
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_update,
)


def _partner(pk: int | None) -> Any:
    """A care partner by id (the registry is shared; the service checks who may place)."""
    if pk is None:
        return None
    model = apps.get_model("disbursements", "CarePartner")
    found = model.objects.filter(pk=pk).first()
    if found is None:
        from trust.errors import field_error

        raise field_error("care_partner", f"No care partner {pk}.", code="unknown_partner")
    return found


TRUST_FILTER = OpenApiParameter("trust", int, description="Only this trust's.")


@extend_schema_view(
    list=extend_schema(
        summary="Beneficiaries you may see, with their sub-ledger's balance",
        parameters=[
            TRUST_FILTER,
            OpenApiParameter("q", str, description="Part of the pseudonym."),
            OpenApiParameter("status", str, enum=Beneficiary.Status.values),
        ],
    ),
    retrieve=extend_schema(summary="One beneficiary (pseudonym; never identifying details)"),
)
class BeneficiaryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.BeneficiarySerializer

    def get_queryset(self) -> Any:
        sub_ledger = Account.objects.filter(
            beneficiary=OuterRef("pk"), role=Account.Role.SUB_LEDGER
        ).order_by("pk")
        found = visible_beneficiaries(self.request.user).annotate(
            balance_minor=Subquery(sub_ledger.values("balance_minor")[:1]),
            ledger_currency=Subquery(sub_ledger.values("currency")[:1]),
        )
        params = self.request.query_params
        if (trust := query_id(params, "trust")) is not None:
            found = found.filter(trust_id=trust)
        if params.get("q"):
            found = found.filter(pseudonym__icontains=params["q"])
        if params.get("status") in Beneficiary.Status.values:
            found = found.filter(status=params["status"])
        return found

    def retrieve(self, request: Request, pk: str) -> Response:
        """One beneficiary; each call is a view of the child, in the log of who saw them."""
        beneficiary = self.get_object()
        child_view_record(beneficiary=beneficiary, actor=request.user, what="api", via="api")
        return Response(self.get_serializer(beneficiary).data)

    @extend_schema(
        summary="Add a beneficiary (trustees), with a sub-ledger",
        request=s.BeneficiaryCreateSerializer,
        responses={201: s.BeneficiarySerializer},
    )
    def create(self, request: Request) -> Response:
        data = self._valid(s.BeneficiaryCreateSerializer)
        trust = trust_for(request.user, data["trust"], Action.BENEFICIARY_VIEW)
        beneficiary = beneficiary_create(
            trust=trust,
            actor=request.user,
            pseudonym=data["pseudonym"],
            kind=data["kind"],
            date_of_birth=data.get("date_of_birth"),
            country=data["country"],
            care_partner=_partner(data.get("care_partner")),
        )
        return self._shown(beneficiary.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a beneficiary (trustees): country, care partner, status, date of birth",
        request=s.BeneficiaryUpdateSerializer,
        responses={200: s.BeneficiarySerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        beneficiary = self.get_object()
        data = self._valid(s.BeneficiaryUpdateSerializer)
        partner_given = "care_partner" in data
        beneficiary_update(
            beneficiary=beneficiary,
            actor=request.user,
            country=data.get("country"),
            care_partner=_partner(data.get("care_partner")) if partner_given else None,
            clear_care_partner=partner_given and data.get("care_partner") is None,
            status=data.get("status"),
            date_of_birth=data.get("date_of_birth"),
        )
        return self._shown(beneficiary.pk)

    @extend_schema(
        summary="Reveal the identifying details (trustees and the child's caseworkers; recorded "
        "with the purpose)",
        request=s.RevealSerializer,
        responses={200: s.IdentitySerializer},
    )
    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, pk: str) -> Response:
        beneficiary = object_for(request.user, Beneficiary, pk, Action.BENEFICIARY_VIEW)
        data = self._valid(s.RevealSerializer)
        details = beneficiary_identity_reveal(
            beneficiary=beneficiary, actor=request.user, purpose=data["purpose"], via="api"
        )
        response = Response(
            s.IdentitySerializer(
                {
                    "legal_name": details.get("legal_name", ""),
                    "guardian_contact": details.get("guardian_contact", ""),
                }
            ).data
        )
        response["Cache-Control"] = "no-store"
        return response

    def _shown(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=pk)).data, status=code)
