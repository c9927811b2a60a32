"""The reports API: the documents one may read, asking for one (a worker makes it), its status and
its PDF. Thin, like the pages (``reports/views.py``): ``trust.access`` scopes what is seen (another
trust's report is 404), ``report_request`` decides what may be asked."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from reports.api import serializers as s
from reports.models import Kind, Report
from reports.periods import PeriodError, parse_period
from reports.services import report_downloaded, report_request
from trust.access import can, trust_for, visible_payments, visible_reports
from trust.api.base import ApiViewSet, query_id
from trust.api.files import FileDownload
from trust.api.problems import PROBLEM
from trust.api.schema import ProblemSerializer
from trust.errors import field_error
from trust.models import Beneficiary, Reconciliation
from trust.roles import Action

PERIOD_KINDS = (Kind.BENEFICIARY_STATEMENT, Kind.COURT_ACCOUNT)


class NotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"
    default_detail = "This report is not ready yet: its status says when it is."


NOT_READY = OpenApiResponse(
    ProblemSerializer, description="Not ready yet (or it failed): `code` is not_ready."
)


@extend_schema_view(
    list=extend_schema(
        summary="Reports you may read",
        description="Newest first. A caseworker sees only the statements of the children in "
        "their partner's care and their partner's remittance advices.",
        parameters=[
            OpenApiParameter("trust", int, description="Only this trust's."),
            OpenApiParameter("kind", str, enum=Kind.values),
            OpenApiParameter("status", str, enum=Report.Status.values),
        ],
    ),
    retrieve=extend_schema(
        summary="A report's status",
        description="Queued until a worker has made it; then `done` with its SHA-256, "
        "verification code and download address, or `failed` with the reason.",
    ),
)
class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.ReportSerializer
    lookup_field = "uid"

    def get_queryset(self) -> Any:
        found = visible_reports(self.request.user).select_related("beneficiary")
        params = self.request.query_params
        if (trust := query_id(params, "trust")) is not None:
            found = found.filter(trust_id=trust)
        if params.get("kind") in Kind.values:
            found = found.filter(kind=params["kind"])
        if params.get("status") in Report.Status.values:
            found = found.filter(status=params["status"])
        return found

    def get_object(self) -> Report:
        try:
            uuid.UUID(str(self.kwargs[self.lookup_field]))
        except ValueError:
            raise Http404("No such report.") from None
        return super().get_object()

    @extend_schema(
        summary="Ask for a document (trustees and auditors)",
        description="Recorded at once and made by a worker: the answer is 202 with the report's "
        "id and status, and `Location` says where to ask for its status. A statement or a "
        "court account needs a period; a statement, the beneficiary; a remittance advice, the "
        "payment. With an `Idempotency-Key`, a retry returns the same report; without one, a "
        "closed period's document asked again is the one already made.",
        request=s.ReportRequestSerializer,
        responses={202: s.ReportSerializer},
        examples=[
            OpenApiExample(
                "A quarter's statement",
                value={
                    "trust": 1,
                    "kind": "beneficiary_statement",
                    "beneficiary": 7,
                    "period": "2026-Q3",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={
                    "id": "5f0c6c1e-2a4b-4c7e-9a43-0d6f1b2f9e11",
                    "kind": "beneficiary_statement",
                    "status": "queued",
                    "trust": 1,
                    "beneficiary": 7,
                    "beneficiary_pseudonym": "Victim-7",
                    "payment": None,
                    "period": "2026-Q3",
                    "period_start": "2026-07-01",
                    "period_end": "2026-09-30",
                    "requested_at": "2026-10-02T09:14:03Z",
                    "generated_at": None,
                    "sha256": None,
                    "verification_code": None,
                    "pages": None,
                    "size": None,
                    "error": "",
                    "download": None,
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        serializer = s.ReportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        trust = trust_for(request.user, data["trust"])
        if not can(request.user, Action.REPORT_REQUEST, trust):
            raise exceptions.PermissionDenied(
                "Only the trust's trustees and auditors ask for its documents.", code="not_allowed"
            )
        kind = data["kind"]
        period = None
        if kind in PERIOD_KINDS and data["period"].strip():
            try:
                period = parse_period(data["period"])
            except PeriodError as exc:
                raise field_error("period", str(exc), code="period") from exc
        beneficiary = None
        if data.get("beneficiary") is not None:
            beneficiary = Beneficiary.objects.filter(trust=trust, pk=data["beneficiary"]).first()
            if beneficiary is None:
                raise field_error(
                    "beneficiary",
                    f"No beneficiary {data['beneficiary']} in this trust.",
                    code="beneficiary",
                )
        payment = None
        if data.get("payment") is not None:
            payment = visible_payments(request.user).filter(trust=trust, pk=data["payment"]).first()
            if payment is None:
                raise field_error(
                    "payment", f"No payment {data['payment']} in this trust.", code="payment"
                )
        reconciliation = None
        if data.get("reconciliation") is not None:
            reconciliation = Reconciliation.objects.filter(
                trust=trust, pk=data["reconciliation"]
            ).first()
            if reconciliation is None:
                raise field_error(
                    "reconciliation",
                    f"No reconciliation {data['reconciliation']} in this trust.",
                    code="reconciliation",
                )
        # With the caller's Idempotency-Key, a retry is the same report; without one, the
        # service's own rule holds (a closed period's document is made once).
        given = request.headers.get("Idempotency-Key", "").strip()
        report = report_request(
            kind=kind,
            trust=trust,
            actor=request.user,
            period=period,
            beneficiary=beneficiary,
            reconciliation=reconciliation,
            payment=payment,
            operation_id=self.operation_key("report") if given else None,
        )
        return Response(
            self.get_serializer(report).data,
            status=status.HTTP_202_ACCEPTED,
            headers={
                "Location": reverse(
                    "api-report-detail", kwargs={"uid": report.uid}, request=request
                )
            },
        )

    @extend_schema(
        summary="The report's PDF",
        description="The document itself (`application/pdf`), once its status is `done`; the "
        "download is recorded in the audit trail. 409 while it is queued or if it failed.",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
            (409, PROBLEM): NOT_READY,
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=FileDownload)
    def download(self, request: Request, uid: str) -> FileResponse:
        report = self.get_object()
        if report.status == Report.Status.FAILED:
            raise NotReady(f"Making this report failed ({report.error}): ask for it again.")
        if report.status != Report.Status.DONE:
            raise NotReady()
        report_downloaded(report=report, actor=request.user, via="api")
        subject = report.beneficiary.pseudonym if report.beneficiary else f"trust-{report.trust_id}"
        response = FileResponse(
            report.file.open("rb"),
            as_attachment=True,
            filename=f"{report.kind}-{subject}-{report.period_start}-{report.period_end}.pdf",
            content_type="application/pdf",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
