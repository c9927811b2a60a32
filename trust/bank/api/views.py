"""The bank through the API: a trust's bank accounts, their statements and lines, importing a file
(or previewing it), matching lines with entries by hand and undoing it, explaining a line, and the
three-way reconciliation with its sign-off. The rules of the bank pages (``trust/bank/views``):
the trust's trustees and auditors read (anyone else finds nothing: 404), only its trustees write
(403 ``not_trustee``); every object is looked up by id within the trust named in the path.

Thin: a serializer parses the body or the query, one service or selector acts, a serializer
renders."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from trust.access import can, trust_for
from trust.api.base import ApiViewSet, path_id
from trust.api.paging import Cursor
from trust.api.problems import PROBLEM
from trust.api.schema import ProblemSerializer
from trust.bank.api import serializers as s
from trust.bank.models import BankAccount, BankMatch, BankStatement, Reconciliation, StatementLine
from trust.bank.parsing.base import CsvMapping
from trust.bank.selectors.overview import bank_accounts_standing, bank_statements
from trust.bank.selectors.preview import statement_preview
from trust.bank.selectors.reconciliation import (
    reconciliation_drift,
    reconciliation_figures,
    statement_lines,
)
from trust.bank.services.matching import line_explain, lines_match, match_undo
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.services.statements import csv_mapping_save, saved_mapping, statement_import
from trust.models import Trust
from trust.roles import Action

BOOKS = (
    "The trust's trustees and auditors read it; for anyone else the trust and its things are "
    "not found (404)."
)
TRUSTEES_WRITE = (
    "Only a trustee of the trust may (its auditors are refused with 403 `not_trustee`); another "
    "trust's id, or an id of another trust's thing, is 404. Nothing of a refused call is written."
)
TRUST_ID = OpenApiParameter("trust_id", int, OpenApiParameter.PATH, description="The trust's id.")


def _id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=f"The {what}'s id.")


BANK_ID = _id("bank_id", "bank account")
LINE_ID = _id("line_id", "statement line")
MATCH_ID = _id("match_id", "match")
STATEMENT_ID = _id("statement_id", "statement")
RECONCILIATION_ID = _id("reconciliation_id", "reconciliation")


class ByAccount(Cursor):
    ordering = ("pk",)


class ByNewest(Cursor):
    ordering = ("-id",)


class ByBooking(Cursor):
    ordering = ("-booking_date", "-id")


class BankApi(ApiViewSet):
    """The trust in the path, read (404 unless its books are the caller's to read) and, for a
    write, managed (403 unless the caller is its trustee)."""

    pagination_class = None

    def _trust(self) -> Trust:
        trust = trust_for(self.request.user, path_id(self.kwargs["trust_id"]), Action.LEDGER_VIEW)
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and not can(
            self.request.user, Action.BANK_MANAGE, trust
        ):
            raise exceptions.PermissionDenied(
                "Only a trustee of this trust manages its bank statements.", code="not_trustee"
            )
        return trust

    def _bank(self, trust: Trust) -> BankAccount:
        return get_object_or_404(
            BankAccount.objects.select_related("account", "trust"),
            pk=path_id(self.kwargs["bank_id"]),
            trust=trust,
        )

    def _line(self, trust: Trust) -> StatementLine:
        return get_object_or_404(
            StatementLine.objects.select_related("bank_account__account", "bank_account__trust"),
            pk=path_id(self.kwargs["line_id"]),
            trust=trust,
        )

    def _statement(self, trust: Trust) -> BankStatement:
        return get_object_or_404(
            BankStatement.objects.select_related("bank_account__account", "bank_account__trust"),
            pk=path_id(self.kwargs["statement_id"]),
            trust=trust,
        )

    def _page(self, found: QuerySet, serializer: type, pager: type[Cursor]) -> Response:
        paginator = pager()
        page = paginator.paginate_queryset(found, self.request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)


def _line_detail(line_id: int) -> dict[str, Any]:
    line = StatementLine.objects.select_related(
        "match__bank_account__account", "match__created_by"
    ).get(pk=line_id)
    return s.StatementLineDetailSerializer(line).data


class BankReadViewSet(BankApi):
    """``/api/v1/trusts/{trust_id}/bank/...``: accounts, statements, lines, reconciliations."""

    @extend_schema(
        summary="The trust's bank accounts, with where each stands",
        description="Each ledger bank account given bank details: its IBAN or number, the "
        "matching window, its last statement's date and closing balance, how many lines wait "
        "for a match, and its latest signed-off reconciliation. " + BOOKS,
        parameters=[TRUST_ID],
        responses={200: s.BankAccountSerializer(many=True)},
    )
    def accounts(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        return self._page(bank_accounts_standing(trust=trust), s.BankAccountSerializer, ByAccount)

    @extend_schema(
        summary="A bank account's statements, newest first",
        description="Each with its balances and whether its opening balance continues the last "
        "closing balance (`gap`: a statement may be missing). " + BOOKS,
        parameters=[TRUST_ID, BANK_ID],
        responses={200: s.StatementSerializer(many=True)},
    )
    def statements(self, request: Request, trust_id: str, bank_id: str) -> Response:
        bank = self._bank(self._trust())
        return self._page(bank_statements(bank=bank), s.StatementSerializer, ByNewest)

    @extend_schema(
        summary="A bank account's statement lines, newest first",
        description="`state` unmatched, matched or explained; `q` searches the references, the "
        "description and the payer or payee. " + BOOKS,
        parameters=[TRUST_ID, BANK_ID, s.LineFilter],
        responses={200: s.StatementLineSerializer(many=True)},
    )
    def lines(self, request: Request, trust_id: str, bank_id: str) -> Response:
        bank = self._bank(self._trust())
        given = self._valid(s.LineFilter, request.query_params)
        found = statement_lines(
            bank=bank,
            state=given.get("state", ""),
            search=given.get("q", "").replace("\x00", "").strip(),
        )
        return self._page(found, s.StatementLineSerializer, ByBooking)

    @extend_schema(
        summary="One statement line, with its match",
        description="The match (if any) with its entries and their postings to the bank "
        "account, and the other lines in it. " + BOOKS,
        parameters=[TRUST_ID, LINE_ID],
        responses={200: s.StatementLineDetailSerializer},
    )
    def line(self, request: Request, trust_id: str, line_id: str) -> Response:
        return Response(_line_detail(self._line(self._trust()).pk))

    @extend_schema(
        summary="The three-way reconciliation on a statement's closing date",
        description="As the books stand now: the bank's closing balance, deposits in transit "
        "and outstanding payments (the adjusted bank balance), the ledger's bank account, and "
        "the trust identity (cash in all bank accounts in the currency against sub-ledgers, "
        "unallocated, payables, in transit and the administration fund); every difference is "
        "an item, and `unexplained` must be 0.00 to sign off. Refused for a statement without "
        "a closing balance (`no_balance`). " + BOOKS,
        parameters=[TRUST_ID, STATEMENT_ID],
        responses={200: s.FiguresSerializer},
    )
    def figures(self, request: Request, trust_id: str, statement_id: str) -> Response:
        statement = self._statement(self._trust())
        figures = reconciliation_figures(bank=statement.bank_account, statement=statement)
        return Response(s.FiguresSerializer(figures).data)

    @extend_schema(
        summary="A signed-off reconciliation, its changes since and its drift",
        description="The figures as signed, with their SHA-256; `changes` lists what changed "
        "in its period after sign-off, `drift` the figures that differ today. " + BOOKS,
        parameters=[TRUST_ID, RECONCILIATION_ID],
        responses={200: s.ReconciliationDetailSerializer},
    )
    def reconciliation(self, request: Request, trust_id: str, reconciliation_id: str) -> Response:
        trust = self._trust()
        rec = get_object_or_404(
            Reconciliation.objects.select_related(
                "bank_account__account", "bank_account__trust", "statement", "signed_off_by"
            ),
            pk=path_id(reconciliation_id),
            trust=trust,
        )
        drift = reconciliation_drift(reconciliation=rec)
        return Response(s.ReconciliationDetailSerializer(rec, context={"drift": drift}).data)


class BankWriteViewSet(BankApi):
    """Matching by hand, undoing a match, explaining a line (in the API's transaction)."""

    @extend_schema(
        summary="Match statement lines with journal entries by hand (trustees)",
        description="The lines (of one bank account) and the entries (moving that account) "
        "must sum to the same amount, to the cent (`unequal`); a line already matched "
        "(`line_matched`) or an entry already matched (`entry_matched`) is refused, as is an "
        "entry that does not move the account (`not_bank`). A line in a period already signed "
        "off is recorded against that reconciliation, with `reason`. " + TRUSTEES_WRITE,
        parameters=[TRUST_ID],
        request=s.MatchCreateSerializer,
        responses={201: s.MatchSerializer},
        examples=[
            OpenApiExample(
                "One credit for two receipts",
                value={"lines": [41], "entries": [310, 311], "note": "Clerk's distribution"},
                request_only=True,
            )
        ],
    )
    def match(self, request: Request, trust_id: str) -> Response:
        trust = self._trust()
        data = self._valid(s.MatchCreateSerializer)
        lines = list(
            StatementLine.objects.filter(trust=trust, pk__in=data["lines"]).select_related(
                "bank_account__account", "bank_account__trust"
            )
        )
        if len(lines) != len(set(data["lines"])):
            raise exceptions.NotFound("A statement line was not found in this trust.")
        banks = {line.bank_account_id for line in lines}
        if len(banks) != 1:
            raise exceptions.ValidationError(
                {"lines": ["Choose lines of one bank account."]}, code="several_accounts"
            )
        match = lines_match(
            actor=request.user,
            bank=lines[0].bank_account,
            line_ids=data["lines"],
            entry_ids=data["entries"],
            note=data["note"],
            reason=data["reason"],
        )
        match = BankMatch.objects.select_related("bank_account__account", "created_by").get(
            pk=match.pk
        )
        return Response(s.MatchSerializer(match).data, status=status.HTTP_201_CREATED)

    def _match(self, trust: Trust) -> BankMatch:
        return get_object_or_404(
            BankMatch.objects.select_related("bank_account__account", "bank_account__trust"),
            pk=path_id(self.kwargs["match_id"]),
            trust=trust,
        )

    @extend_schema(
        summary="Undo a match (trustees), with a reason",
        description="Its lines wait for a match again; the reason is recorded, and against a "
        "reconciliation already signed off for the lines' dates. The answer lists the lines "
        "that wait again. " + TRUSTEES_WRITE,
        parameters=[TRUST_ID, MATCH_ID],
        request=s.UndoSerializer,
        responses={200: s.StatementLineSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Matched with the wrong receipt",
                value={"reason": "Matched with the wrong receipt"},
                request_only=True,
            )
        ],
    )
    def undo(self, request: Request, trust_id: str, match_id: str) -> Response:
        trust = self._trust()
        match = self._match(trust)
        data = self._valid(s.UndoSerializer)
        line_ids = list(StatementLine.objects.filter(match=match).values_list("pk", flat=True))
        match_undo(actor=request.user, match=match, reason=data["reason"])
        lines = StatementLine.objects.filter(pk__in=line_ids).order_by("pk")
        return Response(s.StatementLineSerializer(lines, many=True).data)

    @extend_schema(
        summary="Undo a match (trustees): the same as POST .../undo/",
        description='The reason in the body (`{"reason": ...}`) or the query string '
        "(`?reason=`). " + TRUSTEES_WRITE,
        parameters=[
            TRUST_ID,
            MATCH_ID,
            OpenApiParameter("reason", str, description="Why the match is undone."),
        ],
        request=s.UndoSerializer,
        responses={204: None},
    )
    def remove(self, request: Request, trust_id: str, match_id: str) -> Response:
        trust = self._trust()
        match = self._match(trust)
        reason = request.query_params.get("reason", "")
        if not reason:
            try:  # a body is optional on a DELETE: the query string will do
                body = request.data
            except (exceptions.ParseError, exceptions.UnsupportedMediaType):
                body = {}
            reason = body.get("reason", "") if hasattr(body, "get") else ""
        data = self._valid(s.UndoSerializer, {"reason": reason})
        match_undo(actor=request.user, match=match, reason=data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Explain a statement line (trustees)",
        description="For a line the ledger should not hold (a bank error the bank will "
        "correct): it becomes `explained` and stays a listed item of every reconciliation. A "
        "matched line is refused (`line_matched`). " + TRUSTEES_WRITE,
        parameters=[TRUST_ID, LINE_ID],
        request=s.ExplainSerializer,
        responses={200: s.StatementLineDetailSerializer},
        examples=[
            OpenApiExample(
                "A bank error",
                value={"explanation": "Debited twice by the bank; refund promised"},
                request_only=True,
            )
        ],
    )
    def explain(self, request: Request, trust_id: str, line_id: str) -> Response:
        trust = self._trust()
        line = self._line(trust)
        data = self._valid(s.ExplainSerializer)
        line_explain(actor=request.user, line=line, explanation=data["explanation"])
        return Response(_line_detail(line.pk))


class BankImportViewSet(BankApi):
    """An import owns its transaction (durable: the whole file or nothing), so this call is not
    wrapped in the API's; its Idempotency-Key is kept once it answered."""

    service_owns_transaction = True

    @extend_schema(
        summary="Import a file of the bank's statements, or preview it (trustees)",
        description="Multipart: `file`, optionally `format` (else recognised from the file) "
        "and, for a CSV, its columns (else the account's saved mapping). With `preview=true` "
        "nothing is written: the answer is the file's statements with their balances and "
        "continuity, its first 50 lines, and which were imported before. Otherwise the file is "
        "recorded whole or not at all (201), its new lines matched with the ledger; the same "
        "file again records nothing (200, `already_imported`). A malformed file is refused "
        "(400 `malformed`, naming the line or element), as is a statement of another account "
        "(`wrong_account`) or currency (`wrong_currency`). " + TRUSTEES_WRITE,
        parameters=[TRUST_ID, BANK_ID],
        request={"multipart/form-data": s.StatementImportSerializer},
        responses={
            200: OpenApiResponse(
                s.ImportPreviewSerializer,
                description="The preview (`preview=true`), or the outcome of a file imported "
                "before (`already_imported`, as in the 201 answer).",
            ),
            201: s.ImportOutcomeSerializer,
            (409, PROBLEM): OpenApiResponse(
                ProblemSerializer,
                description="A retry while the first call with its Idempotency-Key still runs.",
            ),
        },
        examples=[
            OpenApiExample(
                "Preview a camt.053 file",
                value={"file": "statement.xml", "preview": True},
                request_only=True,
                media_type="multipart/form-data",
            )
        ],
    )
    def create(self, request: Request, trust_id: str, bank_id: str) -> Response:
        trust = self._trust()
        bank = self._bank(trust)
        data = self._valid(s.StatementImportSerializer)
        upload = data["file"]
        content = upload.read()
        mapping = _mapping(data)
        fmt = data["format"] or None
        currency = bank.account.currency
        if data["preview"]:
            preview = statement_preview(
                bank=bank, data=content, format=fmt, mapping=mapping or saved_mapping(bank)
            )
            body = s.ImportPreviewSerializer(
                {
                    **preview.__dict__,
                    "preview": True,
                    "lines_new": preview.lines_new,
                    "summary": preview.summary,
                },
                context={"currency": currency},
            ).data
            return Response(body)
        outcome = statement_import(
            actor=request.user,
            bank=bank,
            data=content,
            file_name=(upload.name or "")[:200],
            format=fmt,
            mapping=mapping,
        )
        if mapping is not None and data["save_mapping"]:
            csv_mapping_save(actor=request.user, bank=bank, mapping=mapping)
        source = outcome.statement_import
        body = s.ImportOutcomeSerializer(
            {
                "preview": False,
                "statement_import": source.pk if source else None,
                "sha256": source.sha256 if source else hashlib.sha256(content).hexdigest(),
                "already_imported": outcome.already_imported,
                "statements": outcome.statements,
                "statements_known": outcome.statements_known,
                "lines": outcome.lines,
                "lines_known": outcome.lines_known,
                "matched": outcome.matched,
                "gaps": outcome.gaps,
                "summary": outcome.summary,
            }
        ).data
        return Response(body, status=200 if outcome.already_imported else 201)


def _mapping(data: dict[str, Any]) -> CsvMapping | None:
    """The CSV mapping sent, or None when it names no date column (the saved one is used)."""
    if not data.get("date_column", "").strip():
        return None
    names = set(CsvMapping.__dataclass_fields__)
    return CsvMapping(**{k: v for k, v in data.items() if k in names})


class BankSignOffViewSet(BankApi):
    """A sign-off owns its transaction (durable), so this call is not wrapped in the API's."""

    service_owns_transaction = True

    @extend_schema(
        summary="Sign off the reconciliation on a statement's date (trustees)",
        description="Only when every difference is a listed item (`unexplained` is 0.00; else "
        "`unexplained`). The figures and items are kept as they are now, with their SHA-256; "
        "a sign-off already made for the date becomes `superseded`. " + TRUSTEES_WRITE,
        parameters=[TRUST_ID, STATEMENT_ID],
        request=s.SignOffSerializer,
        responses={201: s.ReconciliationSerializer},
        examples=[
            OpenApiExample(
                "Month end",
                value={"note": "March reconciled; two deposits in transit"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, trust_id: str, statement_id: str) -> Response:
        trust = self._trust()
        statement = self._statement(trust)
        data = self._valid(s.SignOffSerializer)
        rec = reconciliation_sign_off(
            actor=request.user, bank=statement.bank_account, statement=statement, note=data["note"]
        )
        rec = Reconciliation.objects.select_related("bank_account__account", "signed_off_by").get(
            pk=rec.pk
        )
        return Response(s.ReconciliationSerializer(rec).data, status=status.HTTP_201_CREATED)
