"""CSV imports through the API: a restitution order's lines and a bank statement's receipts,
with the rules of the pages (``trust/views/orders.py``, ``trust/views/receipts.py``) and the same
importers (``trust.services.imports``). ``dry_run`` (the default) checks the file in a transaction
that is rolled back and answers with what would be recorded, or with every bad row (up to the
importers' cap); ``dry_run=false`` records the file whole or not at all.

Only a trustee of the trust imports (403 ``not_trustee`` for its auditors; another trust is 404)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from moneyed import Money
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from trust.access import can, trust_for
from trust.api.base import Amount, ApiView, path_id
from trust.api.problems import NOT_ALLOWED, PROBLEM, problem
from trust.api.schema import ProblemSerializer
from trust.errors import field_error
from trust.models import OrderLine, RestitutionOrder, Trust
from trust.money import format_money
from trust.roles import Action
from trust.selectors import order_lines
from trust.services.imports import (
    CsvImportError,
    ImportResult,
    RecordedBefore,
    import_summary,
    order_import,
    receipts_import,
)

TRUST_ID = OpenApiParameter("trust_id", int, OpenApiParameter.PATH, description="The trust's id.")


class DryRun(serializers.BooleanField):
    """``dry_run``, true unless sent as false: a form that leaves it out checks, never records
    (DRF reads a boolean missing from a form as false)."""

    default_empty_html = True

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", True)
        kwargs.setdefault(
            "help_text",
            "true (the default): check the file and answer with what would be recorded, writing "
            "nothing; false: record it, every row or none.",
        )
        super().__init__(**kwargs)


class ReceiptImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV, UTF-8: received_on, amount, currency, source, and optionally payer, "
        "bank_account, bank_reference, key, memo (docs/imports.md)."
    )
    dry_run = DryRun()


class OrderImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV, UTF-8: beneficiary (pseudonym), amount, currency, defendants "
        "(;-separated), and optionally liability (docs/imports.md)."
    )
    court = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="As the judgment."
    )
    case_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    judgment_date = serializers.DateField()
    total = Amount(help_text="The total the judgment states, e.g. 17500.00.")
    total_currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. USD.")
    document_reference = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    amends = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="An order's id: record an amended judgment of it (its next version).",
    )
    reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="For an amended judgment: what it changes.",
    )
    dry_run = DryRun()


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text="A decimal string, e.g. 1250.00.")
    currency = serializers.CharField()


class ImportCountsSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(help_text="True: nothing was written.")
    rows_read = serializers.IntegerField()
    created = serializers.IntegerField(help_text="Rows recorded now (or that would be).")
    already_recorded = serializers.IntegerField(
        help_text="Rows an earlier import of the same file recorded: not recorded again."
    )
    summary = serializers.CharField()


class RecordedBeforeSerializer(serializers.Serializer):
    first_receipt = serializers.IntegerField(help_text="The first (lowest id) of those receipts.")
    last_receipt = serializers.IntegerField()
    count = serializers.IntegerField()
    recorded_at = serializers.DateTimeField(help_text="When the latest of them was recorded.")
    recorded_by = serializers.CharField(
        allow_blank=True, help_text="Who recorded the latest of them (blank: the system)."
    )


class ReceiptImportResultSerializer(ImportCountsSerializer):
    received = MoneySerializer(many=True, help_text="The file's total, per currency.")
    unallocated = MoneySerializer(
        many=True, help_text="What waits in the unallocated account, per currency."
    )
    recorded_before = RecordedBeforeSerializer(
        allow_null=True,
        help_text="The receipts that already held the rows counted in `already_recorded` (by "
        "an earlier import, or one of the same file running at the same time); null if none.",
    )


class ImportedLineSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    beneficiary = serializers.IntegerField()
    beneficiary_pseudonym = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    defendants = serializers.ListField(child=serializers.CharField())
    liability = serializers.CharField()


class ImportedOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null in a dry run: not recorded.")
    version = serializers.IntegerField()
    supersedes = serializers.IntegerField(allow_null=True)
    court = serializers.CharField()
    case_number = serializers.CharField()
    judgment_date = serializers.DateField()
    total = serializers.CharField()
    total_currency = serializers.CharField()
    document_reference = serializers.CharField(allow_blank=True)
    lines = ImportedLineSerializer(many=True)


class OrderImportResultSerializer(ImportCountsSerializer):
    order = ImportedOrderSerializer()


def _money(value: Money) -> dict[str, str]:
    return {"amount": Amount().to_representation(value), "currency": value.currency.code}


def _importing_trust(request: Request, trust_id: str, action: Action, message: str) -> Trust:
    """The trust, if the caller reads its books (404 otherwise) and is its trustee (403)."""
    trust = trust_for(request.user, path_id(trust_id), Action.LEDGER_VIEW)
    if not can(request.user, action, trust):
        raise exceptions.PermissionDenied(message, code="not_trustee")
    return trust


def _file_text(upload: Any) -> str:
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise field_error(
            "file", "The file is not UTF-8 text: save it as CSV UTF-8.", code="bad_encoding"
        ) from None


def _refused(error: CsvImportError) -> Response:
    """A refused file as a problem: ``rows`` has every bad row found (row as a spreadsheet
    numbers it, header = 1; column; code; message), ``errors`` the same per field."""
    found = getattr(error, "row_errors", None) or [error]
    errors: dict[str, list[dict[str, str]]] = {}
    for e in found:
        key = "file" if e.row is not None else (e.field or "non_field_errors")
        errors.setdefault(key, []).append({"code": str(e.code or "invalid"), "message": str(e)})
    code = str(error.code or "invalid")
    return problem(
        403 if code in NOT_ALLOWED else 400,
        code,
        str(error),
        errors=errors,
        rows=[
            {
                "row": e.row,
                "column": e.field,
                "code": str(e.code or "invalid"),
                "message": e.detail,
            }
            for e in found
        ],
    )


ROW_ERROR_EXAMPLE = OpenApiExample(
    "Bad rows (nothing written)",
    value={
        "type": "https://restitution-trust-ledger.invalid/problems/bad_amount",
        "title": "The request was refused",
        "status": 400,
        "code": "bad_amount",
        "detail": "row 3, amount: '1,250.00' is not an amount: write it without thousands "
        "separators, e.g. 1234.50 (and 1 more row with errors)",
        "errors": {
            "file": [
                {"code": "bad_amount", "message": "row 3, amount: '1,250.00' is not an amount"},
                {"code": "unknown_beneficiary", "message": "row 5, beneficiary: 'Victim-77' ..."},
            ]
        },
        "rows": [
            {"row": 3, "column": "amount", "code": "bad_amount", "message": "..."},
            {"row": 5, "column": "beneficiary", "code": "unknown_beneficiary", "message": "..."},
        ],
    },
    response_only=True,
    status_codes=["400"],
)


class _CheckOnly(Exception):
    """Rolls a dry run's transaction back, carrying what it would have recorded."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class OrderImportView(ApiView):
    """An order (or, with ``amends``, an amended judgment) from a CSV of its lines."""

    @extend_schema(
        summary="Import a restitution order's lines from a CSV (trustees)",
        description="Multipart: `file` and the judgment's fields, as on the import page. With "
        "`dry_run` (the default) the file is checked in a transaction that is rolled back: "
        "the answer is the order and lines it would record, or a 400 problem listing every "
        "bad row (`rows`). With `dry_run=false` the order is recorded whole or not at all, and "
        "the answer is what was recorded (201). The same order imported again records nothing "
        "(`already_recorded`).",
        parameters=[TRUST_ID],
        request={"multipart/form-data": OrderImportSerializer},
        responses={200: OrderImportResultSerializer, 201: OrderImportResultSerializer},
        examples=[
            OpenApiExample(
                "Check a file",
                value={
                    "file": "order_lines.csv",
                    "court": "District Court for the Fictional District",
                    "case_number": "1:25-cr-00042",
                    "judgment_date": "2025-03-01",
                    "total": "17500.00",
                    "total_currency": "USD",
                    "dry_run": True,
                },
                request_only=True,
                media_type="multipart/form-data",
            ),
            OpenApiExample(
                "What would be recorded",
                value={
                    "dry_run": True,
                    "rows_read": 1,
                    "created": 1,
                    "already_recorded": 0,
                    "summary": "1 line(s) would be recorded, 17,500.00 USD",
                    "order": {
                        "id": None,
                        "version": 1,
                        "supersedes": None,
                        "court": "District Court for the Fictional District",
                        "case_number": "1:25-cr-00042",
                        "judgment_date": "2025-03-01",
                        "total": "17500.00",
                        "total_currency": "USD",
                        "document_reference": "",
                        "lines": [
                            {
                                "position": 1,
                                "beneficiary": 7,
                                "beneficiary_pseudonym": "Victim-7",
                                "amount": "17500.00",
                                "currency": "USD",
                                "defendants": ["Defendant Seven"],
                                "liability": "several",
                            }
                        ],
                    },
                },
                response_only=True,
                status_codes=["200"],
            ),
            ROW_ERROR_EXAMPLE,
        ],
    )
    def post(self, request: Request, trust_id: str) -> Response:
        trust = _importing_trust(request, trust_id, Action.ORDER_MANAGE, "Trustees record orders.")
        given = OrderImportSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        amends = None
        if data.get("amends") is not None:
            amends = RestitutionOrder.objects.filter(trust=trust, pk=data["amends"]).first()
            if amends is None:
                raise field_error(
                    "amends", f"No order {data['amends']} in this trust.", code="foreign_order"
                )
        currencies = {trust.base_currency, *trust.accounts.values_list("currency", flat=True)}
        total = data["total"]
        if not isinstance(total, Money) or total.currency.code not in currencies:
            raise field_error(
                "total_currency",
                f"The trust keeps {', '.join(sorted(currencies))}.",
                code="bad_currency",
            )
        text = _file_text(data["file"])
        dry_run = data["dry_run"]

        def run() -> dict[str, Any]:
            result = order_import(
                trust=trust,
                actor=request.user,
                rows=text,
                court=data["court"] or (amends.court if amends else ""),
                case_number=data["case_number"] or (amends.case_number if amends else ""),
                judgment_date=data["judgment_date"],
                total=total,
                document_reference=data["document_reference"],
                amends=amends,
                reason=data["reason"],
            )
            return _order_body(result, dry_run=dry_run)

        try:
            if dry_run:
                try:
                    with transaction.atomic():
                        raise _CheckOnly(run())
                except _CheckOnly as checked:
                    return Response(checked.body)
            body = run()
        except CsvImportError as error:
            return _refused(error)
        return Response(body, status=201 if body["created"] else 200)


def _order_body(result: ImportResult, *, dry_run: bool) -> dict[str, Any]:
    """What an order import recorded (or would): read before a dry run is rolled back."""
    order = result.order
    assert order is not None  # an order import always names its order
    kept = not dry_run or not result.created  # a dry run's new order is not kept
    lines: list[OrderLine] = list(order_lines(order=order))
    verb = "would be recorded" if dry_run and result.created else "recorded"
    if not result.created:
        verb = "already recorded"
    return {
        "dry_run": dry_run,
        "rows_read": result.rows_read,
        "created": result.created,
        "already_recorded": result.already_recorded,
        "summary": f"{result.rows_read:,} line(s) {verb}, {format_money(order.total)}",
        "order": {
            "id": order.pk if kept else None,
            "version": order.version,
            "supersedes": order.supersedes_id,
            "court": order.court,
            "case_number": order.case_number,
            "judgment_date": order.judgment_date.isoformat(),
            "total": Amount().to_representation(order.total),
            "total_currency": order.currency,
            "document_reference": order.document_reference,
            "lines": [
                {
                    "position": line.position,
                    "beneficiary": line.beneficiary_id,
                    "beneficiary_pseudonym": line.beneficiary.pseudonym,
                    "amount": Amount().to_representation(line.amount),
                    "currency": line.currency,
                    "defendants": sorted(d.name for d in line.defendants.all()),
                    "liability": line.liability,
                }
                for line in lines
            ],
        },
    }


class ReceiptImportView(ApiView):
    """Receipts from a CSV (a bank statement's worth), all or nothing.

    ``receipts_import`` owns its transaction (durable: every row or none, never folded into a
    caller's transaction that might still roll back), so this call does not run inside the API's
    transaction: its ``Idempotency-Key`` is kept once the import answered (forgotten again if
    it was refused), and a retry that arrives while the first is still running is told so (409).
    A re-import records nothing new anyway: each row's key makes it once. Two imports of one file
    at once (with different keys, or none) are recorded once: the second waits for the first and
    answers 200 with every row ``already_recorded`` and the receipts that hold them
    (``recorded_before``)."""

    service_owns_transaction = True

    @extend_schema(
        summary="Import receipts from a CSV (trustees)",
        description="Multipart: `file` (the columns of docs/imports.md). With `dry_run` (the "
        "default) every row is checked and recorded in a transaction that is rolled back: the "
        "answer is what would be recorded (rows, totals received and left unallocated per "
        "currency), or a 400 problem listing every bad row (`rows`). With `dry_run=false` "
        "every receipt is recorded and shared out, or none is; rows an earlier import recorded "
        "(or one of the same file running at the same time, which this one waits for) count as "
        "`already_recorded`, and `recorded_before` names the receipts that hold them (201 if "
        "anything was recorded, else 200).",
        parameters=[TRUST_ID],
        request={"multipart/form-data": ReceiptImportSerializer},
        responses={
            200: ReceiptImportResultSerializer,
            201: ReceiptImportResultSerializer,
            (409, PROBLEM): OpenApiResponse(
                ProblemSerializer,
                description="A retry while the first call with its Idempotency-Key still runs "
                "(`in_progress`).",
            ),
        },
        examples=[
            OpenApiExample(
                "Check a bank statement",
                value={"file": "receipts.csv", "dry_run": True},
                request_only=True,
                media_type="multipart/form-data",
            ),
            OpenApiExample(
                "What would be recorded",
                value={
                    "dry_run": True,
                    "rows_read": 2,
                    "created": 2,
                    "already_recorded": 0,
                    "summary": "2 rows: 2 receipts would be recorded, 0 already recorded; "
                    "USD 3,250.00 received, all allocated. Dry run: nothing was written",
                    "received": [{"amount": "3250.00", "currency": "USD"}],
                    "unallocated": [{"amount": "0.00", "currency": "USD"}],
                    "recorded_before": None,
                },
                response_only=True,
                status_codes=["200"],
            ),
            ROW_ERROR_EXAMPLE,
        ],
    )
    def post(self, request: Request, trust_id: str) -> Response:
        trust = _importing_trust(
            request, trust_id, Action.RECEIPT_MANAGE, "Trustees import receipts."
        )
        given = ReceiptImportSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        text = _file_text(given.validated_data["file"])
        dry_run = given.validated_data["dry_run"]
        try:
            result = receipts_import(trust=trust, actor=request.user, rows=text, dry_run=dry_run)
        except CsvImportError as error:
            return _refused(error)
        body = {
            "dry_run": dry_run,
            "rows_read": result.rows_read,
            "created": result.created,
            "already_recorded": result.already_recorded,
            "summary": import_summary(result),
            "received": [_money(m) for m in result.received.values()],
            "unallocated": [_money(m) for m in result.unallocated.values()],
            "recorded_before": _recorded_before(result.recorded_before),
        }
        return Response(body, status=201 if result.created and not dry_run else 200)


def _recorded_before(before: RecordedBefore | None) -> dict[str, Any] | None:
    if before is None:
        return None
    return {
        "first_receipt": before.first_id,
        "last_receipt": before.last_id,
        "count": before.count,
        "recorded_at": serializers.DateTimeField().to_representation(before.recorded_at),
        "recorded_by": before.recorded_by,
    }
