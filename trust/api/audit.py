"""The audit trail through the API, with the rules of the auditor's pages
(``trust/audit/views.py``): trustees and auditors of a trust read its events (403 for one who is
neither anywhere; another trust's event is 404); the events of no trust and the bundle, which
holds every trust's events, only for one who audits every trust. Thin: the selectors read,
``audit_verification_start`` queues a run."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from trust.access import trust_ids, visible_audit_events
from trust.api import audit_serializers as s
from trust.api.base import ApiView, ApiViewSet, path_id
from trust.api.files import FileDownload
from trust.api.problems import PROBLEM
from trust.api.schema import ProblemSerializer
from trust.audit.export import audit_bundle_download, checkpoint_json, trusted_keys_json
from trust.audit.models import AuditVerification
from trust.audit.runs import audit_verification_start
from trust.audit.selectors import audit_event_list, audit_rows, checkpoint_latest
from trust.roles import Action

NOT_AN_AUDITOR = {
    (403, PROBLEM): OpenApiResponse(
        ProblemSerializer,
        description="Not a trustee or an auditor of any trust (`not_allowed`), or a read-only "
        "token writing (`token_read_only`).",
    )
}


def _require_auditor(user: Any) -> None:
    """The audit trail is for those who may read some trust's trail (403 otherwise, as the
    pages)."""
    fully, _ = trust_ids(user, Action.AUDIT_VIEW)
    if not fully:
        raise exceptions.PermissionDenied(
            "The audit trail is for the trusts' trustees and auditors.", code="not_allowed"
        )


class EventFilters(serializers.Serializer):
    trust = serializers.IntegerField(required=False, help_text="Only this trust's events.")
    action = serializers.CharField(
        required=False, default="", help_text="Actions starting with this (receipt.)."
    )
    actor = serializers.CharField(required=False, default="", help_text="A username.")
    since = serializers.DateField(required=False, help_text="From this day (UTC), inclusive.")
    until = serializers.DateField(required=False, help_text="Up to this day (UTC), inclusive.")


@extend_schema_view(
    list=extend_schema(
        summary="Audit events of the trusts whose trail you read",
        description="Newest first, each decoded from the bytes that were hashed into the log: "
        "who did what to which object, when, and what changed in readable lines. A large "
        "record is summarised by its size; ask for the event itself to read it whole. The "
        "events of no trust (sign-ins, users, keys) are listed only to one who audits every "
        "trust.",
        parameters=[EventFilters],
        responses={200: s.AuditEventSerializer(many=True), **NOT_AN_AUDITOR},
    ),
    retrieve=extend_schema(
        summary="One audit event whole",
        description="The summary, every field as recorded (`record`), its hash and its place "
        "in its chain and in the log. Another trust's event is 404.",
        responses={200: s.AuditEventWholeSerializer, **NOT_AN_AUDITOR},
    ),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.AuditEventSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        _require_auditor(request.user)

    def get_queryset(self) -> Any:
        return visible_audit_events(self.request.user)

    def list(self, request: Request) -> Response:
        filters = EventFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        given = filters.validated_data
        events = audit_event_list(
            events=self.get_queryset(),
            trust_id=given.get("trust"),
            action=given["action"].strip(),
            actor=given["actor"].strip(),
            since=given.get("since"),
            until=given.get("until"),
        )
        page = self.paginate_queryset(events)
        rows = audit_rows(page if page is not None else events)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        event = self.get_queryset().filter(pk=path_id(pk)).first()
        if event is None:
            raise Http404("No such event.")
        [row] = audit_rows([event], whole=True)
        return Response(s.AuditEventWholeSerializer((row, event)).data)


@extend_schema_view(
    retrieve=extend_schema(
        summary="A verification run's progress and result",
        description="`status` queued, running or done; once done, `ok` says whether the whole "
        "trail verifies and `problems` lists the first ten found.",
        responses={200: s.VerificationSerializer, **NOT_AN_AUDITOR},
    ),
)
class AuditVerificationViewSet(mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.VerificationSerializer
    lookup_field = "operation_id"
    queryset = AuditVerification.objects.select_related("requested_by")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        _require_auditor(request.user)

    @extend_schema(
        summary="Verify the whole trail now (trustees and auditors)",
        description="Queues a verification of every chain, the Merkle tree and every signed "
        "checkpoint; the answer is 202 and `Location` says where to watch it. The request is "
        "recorded in the trail; a failure is emailed to trustees and auditors.",
        request=None,
        responses={202: s.VerificationSerializer, **NOT_AN_AUDITOR},
        examples=[
            OpenApiExample(
                "Queued",
                value={
                    "id": "3b9a0f6c2d8e4a51b7c1e2f3a4b5c6d7",
                    "status": "queued",
                    "requested_by": "auditor-7",
                    "created_at": "2026-10-02T09:14:03Z",
                    "started_at": None,
                    "finished_at": None,
                    "percent": 0,
                    "done": 0,
                    "total": 0,
                    "ok": None,
                    "summary": {},
                    "problems": [],
                },
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    def create(self, request: Request) -> Response:
        run = audit_verification_start(actor=request.user)
        return Response(
            self.get_serializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={
                "Location": reverse(
                    "api-audit-verification-detail",
                    kwargs={"operation_id": run.operation_id},
                    request=request,
                )
            },
        )


class AuditCheckpointView(ApiView):
    @extend_schema(
        summary="The latest signed checkpoint (tree head)",
        description="What an auditor keeps to prove a later rewrite of the log: its size, "
        "Merkle root, the signed statement, the Ed25519 signature and key, and the keys the "
        "installation trusts. 404 (`no_checkpoint`) before the first is signed.",
        responses={200: s.CheckpointSerializer, **NOT_AN_AUDITOR},
    )
    def get(self, request: Request) -> Response:
        _require_auditor(request.user)
        checkpoint = checkpoint_latest()
        if checkpoint is None:
            raise exceptions.NotFound("No checkpoint is signed yet.", code="no_checkpoint")
        keys = trusted_keys_json()
        return Response(
            {
                **checkpoint_json(checkpoint),
                "log": keys["log"],
                "trusted_keys": [keys["current"], *keys["previous"]],
                "fingerprints": keys["fingerprints"],
            }
        )


class AuditBundleView(ApiView):
    content_negotiation_class = FileDownload

    @extend_schema(
        summary="The audit bundle (a zip, with the standalone verifier)",
        description="Every event, every checkpoint and the public keys, with `verify_bundle.py` "
        "to check them offline. It holds every trust's events, so only one who audits every "
        "trust gets it (404 for other trustees and auditors). The download is recorded.",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="audit-bundle-<time>.zip"
            ),
            **NOT_AN_AUDITOR,
        },
    )
    def get(self, request: Request) -> FileResponse:
        _require_auditor(request.user)
        try:
            buffer, name = audit_bundle_download(actor=request.user)
        except PermissionError as refused:
            raise Http404("No bundle for you.") from refused
        return FileResponse(
            buffer, as_attachment=True, filename=name, content_type="application/zip"
        )
