"""The disbursements app's API resources: care partners, requests (with their documents) and
payments. Thin, like the pages that call the same services: ``trust.access`` scopes every
queryset (another trust's or partner's object is 404), a serializer parses, one service acts
(refusing an actor who may not: 403 with its code), a serializer renders."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from disbursements.api import serializers as s
from disbursements.models import DisbursementRequest, Status
from disbursements.selectors import document_for, request_list, request_page
from disbursements.services import (
    Payee,
    care_partner_create,
    care_partner_set_payout,
    care_partner_vet,
    request_approve,
    request_cancel,
    request_document_add,
    request_draft,
    request_reject,
    request_submit,
)
from disbursements.services.caseworkers import caseworker_partner
from disbursements.services.documents import (
    DocumentErased,
    document_download_name,
    document_download_record,
    document_stream,
)
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from trust.access import (
    object_for,
    show_times_of,
    visible_accounts,
    visible_partners,
    visible_payments,
    visible_requests,
)
from trust.api.base import MAX_ID, ApiViewSet
from trust.errors import field_error
from trust.models import Beneficiary
from trust.roles import Action

EXAMPLE_DATE = "2026-05-04"


def _number(text: str) -> int | None:
    """A filter's id; digits no row can have find nothing (rather than overflow the query)."""
    if not text.isdigit():
        return None
    return int(text) if int(text) <= MAX_ID else 0


# --- care partners ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Care partners",
        description="The registry shared by the trusts: trustees and auditors read all of it, a "
        "caseworker only their own partner. Payout bank details are never shown.",
    ),
    retrieve=extend_schema(
        summary="One care partner",
        description="Its vetting (and whether it is current today) and payout currency; whether "
        "bank details are on file, never the details. Not found for a caseworker of another.",
    ),
)
class PartnerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.PartnerSerializer

    def get_queryset(self) -> Any:
        return visible_partners(self.request.user)

    def _shown(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=pk)).data, status=code)

    @extend_schema(
        summary="Record a care partner (trustees)",
        description="Not yet vetted: vet it before its requests can be approved or paid.",
        request=s.PartnerCreateSerializer,
        responses={201: s.PartnerSerializer},
        examples=[
            OpenApiExample(
                "An NGO in the Philippines",
                value={
                    "name": "Example Care Partner",
                    "country": "PH",
                    "registration_number": "SEC-CN-000000",
                    "payout_currency": "PHP",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        data = self._valid(s.PartnerCreateSerializer)
        partner = care_partner_create(actor=request.user, **data)
        return self._shown(partner.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record a vetting decision (trustees)",
        description="Approved needs the date it was done and its expiry (after it); a suspension "
        "keeps the dates. Payments to a partner whose vetting is not current are refused.",
        request=s.VetSerializer,
        responses={200: s.PartnerSerializer},
        examples=[
            OpenApiExample(
                "Approved for a year",
                value={"status": "approved", "vetted_on": "2026-05-01", "expires_on": "2027-04-30"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def vet(self, request: Request, pk: str) -> Response:
        partner = self.get_object()
        data = self._valid(s.VetSerializer)
        care_partner_vet(
            partner=partner,
            actor=request.user,
            status=data["status"],
            vetted_on=data.get("vetted_on"),
            expires_on=data.get("expires_on"),
        )
        return self._shown(partner.pk)

    @extend_schema(
        summary="Set the account the partner is paid into (trustees)",
        description="The currency is kept in clear; the bank details encrypted, never shown back "
        "and never written to the audit trail (only that they changed).",
        request=s.PayoutSerializer,
        responses={200: s.PartnerSerializer},
        examples=[
            OpenApiExample(
                "A peso account",
                value={"currency": "PHP", "bank": "Example Bank", "account_number": "0000-0000-00"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def payout(self, request: Request, pk: str) -> Response:
        partner = self.get_object()
        data = self._valid(s.PayoutSerializer)
        care_partner_set_payout(
            partner=partner,
            actor=request.user,
            currency=data["currency"],
            details={"bank": data["bank"], "account_number": data["account_number"]},
        )
        return self._shown(partner.pk)


# --- requests -----------------------------------------------------------------------------------

REQUEST_FILTERS = [
    OpenApiParameter(
        "status", str, enum=Status.values, description="Only requests in this status."
    ),
    OpenApiParameter("trust", int, description="Only this trust's."),
    OpenApiParameter("beneficiary", int, description="Only this beneficiary's."),
    OpenApiParameter("q", str, description="Part of the pseudonym or of the purpose."),
]
REASON_EXAMPLE = OpenApiExample(
    "A reason", value={"reason": "The invoice names another school."}, request_only=True
)


@extend_schema_view(
    list=extend_schema(
        summary="Disbursement requests you may see",
        description="Newest first. A caseworker sees their partner's requests; trustees and "
        "auditors those of their trusts.",
        parameters=REQUEST_FILTERS,
    ),
    retrieve=extend_schema(
        summary="One request, with what it waits for",
        description="Its approvals, documents (with download links), payment if any, history, "
        "and the beneficiary's funds (balance, available, the dual-approval threshold).",
    ),
)
class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.RequestDetailSerializer

    def get_serializer_class(self) -> Any:
        return s.RequestSerializer if self.action == "list" else s.RequestDetailSerializer

    def get_queryset(self) -> Any:
        user = self.request.user
        if self.action == "list":
            q = self.request.query_params
            wanted = q.get("status", "")
            found = request_list(
                user=user,
                status=wanted if wanted in Status.values else "",
                trust_id=_number(q.get("trust", "")),
                search=q.get("q", "").strip(),
            )
            beneficiary = _number(q.get("beneficiary", ""))
            if beneficiary:
                found = found.filter(beneficiary_id=beneficiary)
            return found.select_related("sub_ledger", "requested_by")
        return (
            visible_requests(user)
            .select_related("beneficiary", "trust", "partner", "sub_ledger", "requested_by")
            .prefetch_related(
                "approvals__trustee", "documents__uploaded_by", "events__actor", "payment"
            )
        )

    def _found(self) -> DisbursementRequest:
        """The request of the URL, if the user may see it (else 404); times in its trust's zone."""
        found = self.get_object()
        show_times_of(found.trust)
        return found

    def _shown(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        found = self.get_queryset().get(pk=pk)
        context = {**self.get_serializer_context(), "funds": request_page(found, self.request.user)}
        return Response(s.RequestDetailSerializer(found, context=context).data, status=code)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self._shown(self._found().pk)

    @extend_schema(
        summary="Draft a request (caseworkers)",
        description="For a child in your partner's care, in the trust's currency or the partner's "
        "payout currency. Saved as a draft: submit it for the trustees to see it. With an "
        "`Idempotency-Key`, a retry returns the same draft.",
        request=s.RequestCreateSerializer,
        responses={201: s.RequestDetailSerializer},
        examples=[
            OpenApiExample(
                "School fees for Victim-7",
                value={
                    "beneficiary": 7,
                    "category": "education",
                    "amount": "300.00",
                    "amount_currency": "USD",
                    "purpose": "School fees, second term",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        if caseworker_partner(request.user) is None:
            raise ValidationError("Only a caseworker drafts requests.", code="not_caseworker")
        data = self._valid(s.RequestCreateSerializer)
        beneficiary = object_for(
            request.user, Beneficiary, data["beneficiary"], Action.REQUEST_DRAFT
        )
        payee = None
        if data["payee_kind"] != DisbursementRequest.PayeeKind.PARTNER:
            payee = Payee(
                kind=data["payee_kind"],
                name=data["payee_name"],
                court_authorisation=data["court_authorisation"],
            )
        made = request_draft(
            actor=request.user,
            beneficiary=beneficiary,
            category=data["category"],
            amount=data["amount"],
            purpose=data["purpose"],
            justification=data["justification"],
            payee=payee,
            idempotency_key=self.operation_key("request"),
        )
        show_times_of(made.trust)
        return self._shown(made.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Submit a draft to the trustees (its partner's caseworkers)",
        description="Submitting a submitted request changes nothing.",
        request=None,
        responses={200: s.RequestDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        found = self._found()
        request_submit(request=found, actor=request.user)
        return self._shown(found.pk)

    @extend_schema(
        summary="Approve a submitted request (trustees; not its requester)",
        description="Reserves the funds on the beneficiary's sub-ledger; above the trust's "
        "threshold a second, different trustee's approval does (the first is recorded and the "
        "request stays submitted). Refused: more than is available (`insufficient_funds`), a "
        "partner whose vetting lapsed, a payee recorded as implicated, more than the care-plan "
        "budget without `override_reason` (`over_budget`).",
        request=s.ApproveSerializer,
        responses={200: s.RequestDetailSerializer},
        examples=[
            OpenApiExample(
                "A request in pesos: hold dollars for it",
                value={"reserve": "760.00", "reserve_currency": "USD"},
                request_only=True,
            ),
            OpenApiExample(
                "Over the care plan's budget",
                value={"override_reason": "Emergency surgery approved by the court on 2 May."},
                request_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.ApproveSerializer)
        request_approve(
            request=found,
            actor=request.user,
            reserve=data.get("reserve"),
            override_reason=data["override_reason"],
        )
        return self._shown(found.pk)

    @extend_schema(
        summary="Reject a submitted request, with a reason (trustees)",
        description="The caseworker is told the reason.",
        request=s.ReasonSerializer,
        responses={200: s.RequestDetailSerializer},
        examples=[REASON_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.ReasonSerializer)
        request_reject(request=found, actor=request.user, reason=data["reason"])
        return self._shown(found.pk)

    @extend_schema(
        summary="Cancel a request before it is paid, with a reason (its requester or a trustee)",
        description="Releases what an approval reserved.",
        request=s.ReasonSerializer,
        responses={200: s.RequestDetailSerializer},
        examples=[REASON_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.ReasonSerializer)
        request_cancel(request=found, actor=request.user, reason=data["reason"])
        return self._shown(found.pk)

    @extend_schema(
        summary="Attach a quote, an invoice or proof of use (multipart)",
        description="By a caseworker of the request's partner or a trustee. PDF, JPEG or PNG only, "
        "recognised by content (`bad_type`), within the size limit; proof of use once paid. A PDF "
        "with JavaScript, actions, attached files or forms is refused (`pdf_active_content`), as "
        "is one encrypted (`pdf_encrypted`), unreadable (`pdf_unreadable`), too complex to check "
        "(`pdf_too_complex`) or also another format (`polyglot`); an image is re-encoded without "
        "its metadata (`image_unreadable`, `image_too_large` when it cannot be). The same file "
        "twice returns the first.",
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={201: s.DocumentSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="documents",
        url_name="document-add",
        parser_classes=[MultiPartParser],
    )
    def document_add(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.DocumentUploadSerializer)
        upload = data["file"]
        document = request_document_add(
            request=found,
            actor=request.user,
            kind=data["kind"],
            content=upload.read(),
            title=data.get("title") or upload.name[:120],
        )
        return Response(
            s.DocumentSerializer(document, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Record the payment of an approved request (trustees)",
        description="From the bank's advice: what left the trust's account (`sent`, in its "
        "currency), what the transfer was for (`payout`, in the partner's currency), the bank's "
        "fee. The amount in the request's own currency must be the amount approved. The rate is "
        "derived from these, never sent. Recording the same payment again returns it.",
        request=s.PaymentRecordSerializer,
        responses={201: s.PaymentSerializer},
        examples=[
            OpenApiExample(
                "Dollars sent for pesos",
                value={
                    "transfer_reference": "TRF-0001",
                    "value_date": EXAMPLE_DATE,
                    "sent": "748.53",
                    "sent_currency": "USD",
                    "payout": "42000.00",
                    "payout_currency": "PHP",
                    "fee": "12.50",
                    "fee_currency": "USD",
                },
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="payment", url_name="payment-record")
    def record_payment(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.PaymentRecordSerializer)
        bank_account = None
        if data.get("bank_account") is not None:
            bank_account = visible_accounts(request.user).filter(pk=data["bank_account"]).first()
            if bank_account is None:
                raise field_error("bank_account", "No such account.", code="unknown_account")
        payment = payment_record(
            request=found,
            actor=request.user,
            transfer=Transfer(
                sent=data["sent"],
                payout=data.get("payout"),
                fee=data.get("fee"),
                value_date=data["value_date"],
                reference=data["transfer_reference"],
                bank_account=bank_account,
            ),
        )
        return Response(s.PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Say what arrived (the partner's caseworkers)",
        description="In the payout currency; that clears the payment. Less than the transfer was "
        "for is a shortfall, borne by the beneficiary, and needs a `note` (what the bank said).",
        request=s.AcknowledgeSerializer,
        responses={200: s.PaymentSerializer},
        examples=[
            OpenApiExample(
                "Arrived short",
                value={
                    "arrived": "41650.00",
                    "arrived_currency": "PHP",
                    "received_on": EXAMPLE_DATE,
                    "note": "The intermediary bank deducted PHP 350.00.",
                },
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="acknowledge", url_name="payment-acknowledge")
    def acknowledge_payment(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.AcknowledgeSerializer)
        payment = payment_acknowledge(
            request=found,
            actor=request.user,
            arrived=data["arrived"],
            received_on=data.get("received_on"),
            note=data["note"],
        )
        return Response(s.PaymentSerializer(payment).data)

    @extend_schema(
        summary="Record a transfer that came back (trustees)",
        description="`returned` is what the bank credited, in the trust's currency; the "
        "beneficiary is credited with it (across currencies, the difference from what was sent "
        "is a realised exchange difference). Only a paid, unacknowledged payment.",
        request=s.ReturnSerializer,
        responses={200: s.PaymentSerializer},
        examples=[
            OpenApiExample(
                "Account closed",
                value={
                    "returned": "730.00",
                    "returned_currency": "USD",
                    "returned_on": EXAMPLE_DATE,
                    "reason": "The receiving account was closed.",
                },
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="payment-return")
    def return_payment(self, request: Request, pk: str) -> Response:
        found = self._found()
        data = self._valid(s.ReturnSerializer)
        payment = payment_return(
            request=found,
            actor=request.user,
            returned=data["returned"],
            returned_on=data.get("returned_on"),
            reason=data["reason"],
        )
        return Response(s.PaymentSerializer(payment).data)


# --- documents and payments ---------------------------------------------------------------------


class DocumentViewSet(ApiViewSet):
    lookup_field = "uid"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        summary="Download a supporting document",
        description="To whoever may see its request; not found for anyone else (the same answer "
        "as for a document that does not exist). Sent as an attachment with its content type "
        "and `nosniff`; each download is recorded in the audit trail (`document.downloaded`).",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
        },
        parameters=[OpenApiParameter("uid", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    def retrieve(self, request: Request, uid: str) -> FileResponse:
        try:
            UUID(uid)
        except ValueError:
            raise Http404("No such document.") from None
        document = document_for(request.user, uid)
        if document is None:
            raise Http404("No such document.")
        try:
            content = document_stream(document)
        except DocumentErased as gone:
            raise DocumentGone(str(gone)) from None
        document_download_record(document=document, actor=request.user, via="api")
        response = FileResponse(
            content,
            as_attachment=True,
            filename=document_download_name(document),
            content_type=document.content_type,
        )
        response["Content-Length"] = str(document.size)
        response["Content-Disposition"] = content_disposition_header(
            True, document_download_name(document)
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


class DocumentGone(APIException):
    status_code = 410
    default_code = "erased"
    default_detail = "This document was erased with the child's identifying data."


@extend_schema_view(
    list=extend_schema(
        summary="Payments you may see",
        description="Newest first: what left the bank, for what, and whether it arrived or came "
        "back. A caseworker sees their partner's.",
        parameters=[
            OpenApiParameter("trust", int, description="Only this trust's."),
            OpenApiParameter(
                "in_transit",
                bool,
                description="true: only those neither acknowledged nor returned.",
            ),
        ],
    ),
    retrieve=extend_schema(summary="One payment", description="As in the list."),
)
class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.PaymentSerializer

    def get_queryset(self) -> Any:
        found = visible_payments(self.request.user).select_related("request__beneficiary")
        if self.action == "list":
            q = self.request.query_params
            trust = _number(q.get("trust", ""))
            if trust:
                found = found.filter(trust_id=trust)
            if q.get("in_transit") in ("true", "1"):
                found = found.filter(settlement_entry__isnull=True)
        return found
