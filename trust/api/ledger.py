"""The ledger through the API: defendants, restitution orders (and amended judgments), receipts
(recording, allocating what is unallocated, reversing), accounts with their history and the
journal. The rules of the book pages (``trust/views/people.py``, ``orders.py``, ``receipts.py``,
``books.py``): only the trust's trustees and auditors read them (``Action.LEDGER_VIEW``: anyone
else finds empty lists and "not found"), only its trustees write (the services refuse anyone
else with ``not_trustee``).

Thin: ``trust.access`` scopes every queryset, a serializer parses the body or the query, one
service or selector acts, a serializer renders. Ids in a body are looked up among the trust's
own things only, so another trust's id is refused as not one of this trust's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat, Length, LPad, RPad, Substr
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from trust.access import object_for, trust_for, visible, visible_accounts, visible_entries
from trust.api import ledger_serializers as s
from trust.api.base import ApiViewSet, path_id
from trust.api.paging import Cursor
from trust.errors import field_error
from trust.models import (
    Account,
    Defendant,
    JournalEntry,
    OrderLine,
    Receipt,
    RestitutionOrder,
    Trust,
)
from trust.roles import Action
from trust.selectors import (
    account_balance_as_of,
    account_postings,
    entry_postings,
    order_lines,
    receipt_allocations,
    running_balances,
)
from trust.services.allocations import ManualShare
from trust.services.child_views import child_view_record
from trust.services.orders import LineSpec, order_amend, order_create
from trust.services.people import defendant_create
from trust.services.receipts import receipt_record, receipt_reverse
from trust.services.unallocated import receipt_allocate

BOOKS = (
    "Only the trust's trustees and auditors see it: for anyone else a list is empty and an "
    "object is not found."
)
TRUSTEES_WRITE = (
    "Only a trustee of the trust may (an auditor is refused with 403 `not_trustee`); another "
    "trust's id is 404, another trust's thing named in the body is refused with its code "
    "(`foreign_beneficiary`, `foreign_defendant`, `foreign_payer`, ...). Nothing of a refused "
    "call is written."
)


# --- pages of the lists, in the order of the pages ----------------------------------------------


class ByName(Cursor):
    ordering = ("name", "pk")


class ByJudgment(Cursor):
    ordering = ("-judgment_date", "-pk")


class ByReceived(Cursor):
    ordering = ("-received_on", "-pk")


class ByEffective(Cursor):
    """Newest first by effective date, then as written: the journal and an account's history."""

    ordering = ("-effective_date", "-id")


class ByCode(Cursor):
    """The trust's accounts in natural order (a code ending -2 before one ending -10), trust by
    trust."""

    ordering = ("natural_key",)


def _natural_key() -> Concat:
    """One sortable text per account: its trust, then ``trust_accounts``'s order (the code's first
    four characters, shorter codes first, then the code). Unique, as (trust, code) is, so a
    cursor can stand on it."""
    text = CharField()
    return Concat(
        LPad(Cast("trust_id", text), 19, Value("0")),
        RPad(Substr("code", 1, 4), 4, Value(" ")),
        LPad(Cast(Length("code"), text), 3, Value("0")),
        "code",
        output_field=text,
    )


class LedgerViewSet(ApiViewSet):
    """Parse with a serializer, answer a page or an object."""

    def _query(self, serializer_class: type) -> dict[str, Any]:
        """The query string's filters (400 for one that is not understood)."""
        return self._valid(serializer_class, self.request.query_params)

    def _page(self, found: QuerySet) -> Response:
        page = self.paginate_queryset(found)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _acting_on(self, obj: Any) -> Trust:
        """The trust of ``obj``, as the pages take it: "today" is the trust's day from here on."""
        return trust_for(self.request.user, obj.trust_id, Action.LEDGER_VIEW)


def _by_trust(found: QuerySet, given: dict[str, Any]) -> QuerySet:
    return found.filter(trust_id=given["trust"]) if given.get("trust") else found


def _text(given: dict[str, Any], name: str = "q") -> str:
    return given.get(name, "").replace("\x00", "").strip()


def _defendant(trust: Trust, pk: int | None, field: str) -> Defendant | None:
    if pk is None:
        return None
    found = trust.defendants.filter(pk=pk).first()
    if found is None:
        raise field_error(
            field, f"Defendant {pk} is not a defendant of this trust.", code="foreign_payer"
        )
    return found


# --- defendants ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Defendants of the trusts whose books you read",
        description="By name. " + BOOKS,
        parameters=[s.TrustFilter],
    ),
    retrieve=extend_schema(summary="One defendant", description=BOOKS),
)
class DefendantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LedgerViewSet):
    """People implicated in the case are not here: their names must never be shown, and the
    pages are where they are recorded."""

    serializer_class = s.DefendantSerializer
    pagination_class = ByName

    def get_queryset(self) -> QuerySet:
        return visible(self.request.user, Defendant, Action.LEDGER_VIEW)

    def list(self, request: Request) -> Response:
        return self._page(_by_trust(self.get_queryset(), self._query(s.TrustFilter)))

    @extend_schema(
        summary="Record a defendant (trustees)",
        description="A person ordered to pay restitution, as the judgment names them (public "
        "court record). A name already recorded in the trust is refused (`duplicate`). "
        + TRUSTEES_WRITE,
        request=s.DefendantCreateSerializer,
        responses={201: s.DefendantSerializer},
        examples=[
            OpenApiExample(
                "A defendant",
                value={"trust": 1, "name": "Invented Defendant Three", "reference": "Def. 3"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        data = self._valid(s.DefendantCreateSerializer)
        trust = trust_for(request.user, data["trust"], Action.LEDGER_VIEW)
        defendant = defendant_create(
            trust=trust, actor=request.user, name=data["name"], reference=data["reference"]
        )
        return Response(self.get_serializer(defendant).data, status=status.HTTP_201_CREATED)


# --- orders -------------------------------------------------------------------------------------


def _line_specs(trust: Trust, rows: Sequence[dict[str, Any]]) -> list[LineSpec]:
    """The judgment's lines with the trust's own beneficiaries and defendants (an id of another
    trust's, or of none, is refused as the service refuses a foreign one)."""
    beneficiaries = trust.beneficiaries.in_bulk([row["beneficiary"] for row in rows])
    defendants = trust.defendants.in_bulk([pk for row in rows for pk in row["defendants"]])
    specs = []
    for position, row in enumerate(rows, start=1):
        beneficiary = beneficiaries.get(row["beneficiary"])
        if beneficiary is None:
            raise field_error(
                "lines",
                f"line {position}: beneficiary {row['beneficiary']} is not one of this trust's",
                code="foreign_beneficiary",
            )
        unknown = [pk for pk in row["defendants"] if pk not in defendants]
        if unknown:
            raise field_error(
                "lines",
                f"line {position}: defendant {unknown[0]} is not one of this trust's",
                code="foreign_defendant",
            )
        specs.append(
            LineSpec(
                beneficiary=beneficiary,
                amount=row["amount"],
                defendants=[defendants[pk] for pk in row["defendants"]],
                liability=row.get("liability") or None,
            )
        )
    return specs


ORDER_EXAMPLE = {
    "judgment_date": "2026-03-02",
    "total": "15000.00",
    "total_currency": "USD",
    "lines": [
        {
            "beneficiary": 7,
            "amount": "10000.00",
            "amount_currency": "USD",
            "defendants": [3, 4],
            "liability": "joint",
        },
        {"beneficiary": 8, "amount": "5000.00", "amount_currency": "USD", "defendants": [3]},
    ],
    "document_reference": "ECF No. 87",
}


@extend_schema_view(
    list=extend_schema(
        summary="Restitution orders, every version",
        description="Newest judgment first; an amended judgment is a new version and the one "
        "it amends stays, `superseded`. " + BOOKS,
        parameters=[s.OrderFilter],
    ),
    retrieve=extend_schema(
        summary="One version of an order, with its lines",
        description="Each line: the beneficiary (id and pseudonym), the amount, the "
        "defendant(s) who owe it and how (several, or joint and several), what was collected "
        "on it and what is outstanding. " + BOOKS,
        responses={200: s.OrderDetailSerializer},
    ),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LedgerViewSet):
    serializer_class = s.OrderSerializer
    pagination_class = ByJudgment

    def get_queryset(self) -> QuerySet:
        amended = RestitutionOrder.objects.filter(supersedes=OuterRef("pk")).values("pk")[:1]
        return (
            visible(self.request.user, RestitutionOrder, Action.LEDGER_VIEW)
            .annotate(superseded_by_id=Subquery(amended))
            .prefetch_related("defendants")
        )

    def list(self, request: Request) -> Response:
        given = self._query(s.OrderFilter)
        found = _by_trust(self.get_queryset(), given)
        if given.get("status"):
            found = found.filter(status=given["status"])
        return self._page(found)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._detail(self.get_object().pk))

    @extend_schema(
        summary="Record a restitution order (trustees)",
        description="The judgment and its lines, all or nothing. Refused: a judgment in the "
        "future (`date_future`), no lines (`no_lines`), an amount of zero or with more "
        "decimals than its currency has (`not_positive`, `bad_amount`), a line in another "
        "currency than the total (`currency_mismatch`), a liability that does not fit the "
        "defendants (`liability_mismatch`), lines that do not add up to the total "
        "(`total_mismatch`). " + TRUSTEES_WRITE,
        request=s.OrderCreateSerializer,
        responses={201: s.OrderDetailSerializer},
        examples=[
            OpenApiExample(
                "A judgment with two lines",
                value={
                    "trust": 1,
                    "court": "District Court (example)",
                    "case_number": "1:26-cr-00042",
                    **ORDER_EXAMPLE,
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        data = self._valid(s.OrderCreateSerializer)
        trust = trust_for(request.user, data["trust"], Action.LEDGER_VIEW)
        order = order_create(
            trust=trust,
            actor=request.user,
            court=data["court"],
            case_number=data["case_number"],
            judgment_date=data["judgment_date"],
            total=data["total"],
            lines=_line_specs(trust, data["lines"]),
            payment_terms=data["payment_terms"],
            schedule_note=data["schedule_note"],
            first_payment_due=data["first_payment_due"],
            document_reference=data["document_reference"],
        )
        return Response(self._detail(order.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record an amended judgment (trustees): the order's next version",
        description="The whole amended judgment, with a reason; this version becomes "
        "`superseded` and keeps its lines. A new line with the same beneficiary and "
        "defendants as an old one carries over what was collected on it. Refused besides: "
        "amending a superseded version (`superseded`), a judgment dated before the one it "
        "amends (`date_backwards`), another currency (`currency_mismatch`). " + TRUSTEES_WRITE,
        request=s.OrderAmendSerializer,
        responses={201: s.OrderDetailSerializer},
        examples=[
            OpenApiExample(
                "An amended judgment",
                value={"reason": "Amended judgment: losses re-assessed", **ORDER_EXAMPLE},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def amend(self, request: Request, pk: str) -> Response:
        order = self.get_object()
        trust = self._acting_on(order)
        data = self._valid(s.OrderAmendSerializer)
        amended = order_amend(
            order=order,
            actor=request.user,
            reason=data["reason"],
            judgment_date=data["judgment_date"],
            total=data["total"],
            lines=_line_specs(trust, data["lines"]),
            document_reference=data["document_reference"],
            payment_terms=data.get("payment_terms"),
            schedule_note=data["schedule_note"],
            first_payment_due=data["first_payment_due"],
        )
        return Response(self._detail(amended.pk), status=status.HTTP_201_CREATED)

    def _detail(self, pk: int) -> dict[str, Any]:
        order = self.get_queryset().get(pk=pk)
        order.listed_lines = list(order_lines(order=order))
        return s.OrderDetailSerializer(order).data


# --- receipts -----------------------------------------------------------------------------------


def _bank_account(trust: Trust, pk: int | None, currency: str) -> Account:
    """The account named, among the trust's; by default its bank account in ``currency`` (as
    the page picks it)."""
    if pk is not None:
        found = trust.accounts.filter(pk=pk).first()
        if found is None:
            raise field_error(
                "bank_account", f"Account {pk} is not one of this trust's.", code="foreign_account"
            )
        return found
    bank = trust.accounts.filter(role=Account.Role.BANK, currency=currency).order_by("code")
    found = bank.first()
    if found is None:
        raise field_error(
            "amount_currency",
            f"The trust has no bank account in {currency}.",
            code="no_bank_account",
        )
    return found


def _manual_shares(trust: Trust, rows: Sequence[dict[str, Any]]) -> list[ManualShare]:
    """A trustee's shares with the trust's own order lines and beneficiaries."""
    lines = OrderLine.objects.filter(order__trust=trust).in_bulk(
        [row["line"] for row in rows if row["line"] is not None]
    )
    beneficiaries = trust.beneficiaries.in_bulk(
        [row["beneficiary"] for row in rows if row["beneficiary"] is not None]
    )
    shares = []
    for index, row in enumerate(rows, start=1):
        line = beneficiary = None
        if row["line"] is not None:
            line = lines.get(row["line"])
            if line is None:
                raise field_error(
                    "manual",
                    f"share {index}: order line {row['line']} is not one of this trust's",
                    code="foreign_line",
                )
        elif row["beneficiary"] is not None:
            beneficiary = beneficiaries.get(row["beneficiary"])
            if beneficiary is None:
                raise field_error(
                    "manual",
                    f"share {index}: beneficiary {row['beneficiary']} is not one of this trust's",
                    code="foreign_beneficiary",
                )
        shares.append(ManualShare(amount=row["amount"], line=line, beneficiary=beneficiary))
    return shares


@extend_schema_view(
    list=extend_schema(
        summary="Receipts: money that reached the trusts",
        description="Newest first; `to_resolve` for those with money still unallocated (a "
        "trustee's tasks). " + BOOKS,
        parameters=[s.ReceiptFilter],
    ),
    retrieve=extend_schema(
        summary="One receipt, with its allocations beneficiary by beneficiary",
        description="Every allocation of it, oldest first (as recorded, allocated later out "
        "of the unallocated account, reversed), each with its journal entry and its shares: "
        "to which beneficiary and order line, how much (negative: taken back). " + BOOKS,
        responses={200: s.ReceiptDetailSerializer},
    ),
)
class ReceiptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LedgerViewSet):
    serializer_class = s.ReceiptSerializer
    pagination_class = ByReceived

    def get_queryset(self) -> QuerySet:
        return visible(self.request.user, Receipt, Action.LEDGER_VIEW).select_related("payer")

    def list(self, request: Request) -> Response:
        given = self._query(s.ReceiptFilter)
        found = _by_trust(self.get_queryset(), given)
        if given["to_resolve"]:
            found = found.filter(status=Receipt.Status.POSTED, unallocated_minor__gt=0)
        if search := _text(given):
            found = found.filter(
                Q(bank_reference__icontains=search)
                | Q(memo__icontains=search)
                | Q(payer__name__icontains=search)
            )
        return self._page(found)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._detail(self.get_object().pk))

    @extend_schema(
        summary="Record a receipt (trustees): shared out at once, pro rata",
        description="Money that reached the trust's bank account, posted in one entry: shared "
        "among the lines the payer still owes in proportion to what is outstanding on each, "
        "exact to the cent; what cannot be allocated (no payer, nothing owed) stays visibly "
        "unallocated. Refused: an amount of zero or with more decimals than its currency has "
        "(`not_positive`, `bad_amount`), a currency the trust has no bank account in "
        "(`no_bank_account`) or other than the account's (`currency_mismatch`), a date in "
        "the future (`date_future`) or in the closed period. Send an `Idempotency-Key`: a "
        "retry records nothing twice. The answer is the receipt as recorded; its allocations, "
        "beneficiary by beneficiary, are at its address (`Location`). " + TRUSTEES_WRITE,
        request=s.ReceiptCreateSerializer,
        responses={201: s.ReceiptSerializer},
        examples=[
            OpenApiExample(
                "A payment by a defendant through the clerk",
                value={
                    "trust": 1,
                    "amount": "1500.00",
                    "amount_currency": "USD",
                    "received_on": "2026-03-10",
                    "source": "clerk",
                    "payer": 3,
                    "bank_reference": "CLK-2026-0310",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        data = self._valid(s.ReceiptCreateSerializer)
        trust = trust_for(request.user, data["trust"], Action.LEDGER_VIEW)
        amount = data["amount"]
        receipt = receipt_record(
            trust=trust,
            actor=request.user,
            amount=amount,
            received_on=data["received_on"],
            source=data["source"],
            bank_account=_bank_account(trust, data["bank_account"], amount.currency.code),
            idempotency_key=self.operation_key("receipt"),
            payer=_defendant(trust, data["payer"], "payer"),
            bank_reference=data["bank_reference"],
            memo=data["memo"],
        )
        # The receipt as recorded; its allocations, child by child (10,000 of them for a large
        # trust), are at its own address.
        answer = Response(s.ReceiptSerializer(receipt).data, status=status.HTTP_201_CREATED)
        answer["Location"] = reverse("api-receipt-detail", kwargs={"pk": receipt.pk})
        return answer

    @extend_schema(
        summary="Reverse a receipt (trustees), with a reason",
        description="A bounced cheque, a payment recorded twice: every allocation of it is "
        "reversed, then its own entry, each as a reversing entry with the reason (entries "
        "are never changed). Refused when a beneficiary's sub-ledger no longer holds its "
        "share (`overdraft`: it was disbursed). Reversing a reversed receipt changes "
        "nothing. " + TRUSTEES_WRITE,
        request=s.ReverseSerializer,
        responses={200: s.ReceiptDetailSerializer},
        examples=[
            OpenApiExample(
                "A cheque returned unpaid",
                value={"reason": "Cheque returned unpaid by the bank"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request: Request, pk: str) -> Response:
        receipt = self.get_object()
        self._acting_on(receipt)
        data = self._valid(s.ReverseSerializer)
        receipt_reverse(receipt=receipt, actor=request.user, reason=data["reason"])
        return Response(self._detail(receipt.pk))

    @extend_schema(
        summary="Allocate what a receipt left unallocated (trustees)",
        description="As an entry of its own, dated today: `pro_rata` to what the payer owes "
        "(`payer` names them if the receipt was recorded without one), or `manual` by the "
        "court's direction (the shares in `manual`, the court document as `reason`). What "
        "still cannot be allocated stays unallocated. Refused: a reversed receipt "
        "(`reversed`), nothing unallocated (`nothing_unallocated`), nothing owed "
        "(`nothing_owed`), shares above what a line still owes (`over_collected`) or above "
        "what is unallocated (`over_allocated`). Send an `Idempotency-Key`: a retry allocates "
        "nothing twice. " + TRUSTEES_WRITE,
        request=s.AllocateSerializer,
        responses={200: s.ReceiptDetailSerializer},
        examples=[
            OpenApiExample(
                "Pro rata, naming the payer",
                value={"method": "pro_rata", "payer": 3},
                request_only=True,
            ),
            OpenApiExample(
                "By the court's direction",
                value={
                    "method": "manual",
                    "manual": [
                        {"line": 12, "amount": "400.00", "amount_currency": "USD"},
                        {"beneficiary": 8, "amount": "100.00", "amount_currency": "USD"},
                    ],
                    "reason": "Order of 2 March 2026 (ECF No. 91)",
                },
                request_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def allocate(self, request: Request, pk: str) -> Response:
        receipt = self.get_object()
        trust = self._acting_on(receipt)
        data = self._valid(s.AllocateSerializer)
        manual = None
        if data["method"] == "manual":
            manual = _manual_shares(trust, data.get("manual") or [])
        elif data.get("manual"):
            raise field_error("manual", "Shares are for the manual method.", code="not_manual")
        receipt_allocate(
            receipt=receipt,
            actor=request.user,
            idempotency_key=self.operation_key("allocation"),
            payer=_defendant(trust, data["payer"], "payer"),
            manual=manual,
            reason=data["reason"],
        )
        return Response(self._detail(receipt.pk))

    def _detail(self, pk: int) -> dict[str, Any]:
        receipt = self.get_queryset().get(pk=pk)
        rows = receipt_allocations(receipt=receipt)
        for allocation, shares in rows:
            allocation.listed_shares = shares
        receipt.listed_allocations = [allocation for allocation, _ in rows]
        return s.ReceiptDetailSerializer(receipt).data


# --- accounts and the journal -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Accounts of the trusts' books, with their balances",
        description="Trust by trust, in natural order as the balances page (a code ending -2 "
        "before one ending -10); each with its current balance on its normal side (a "
        "sub-ledger's is what the trust owes that beneficiary). " + BOOKS,
        parameters=[s.AccountFilter],
    ),
    retrieve=extend_schema(
        summary="One account, with its balance (and its balance at the end of a day)",
        description="With `?as_of=YYYY-MM-DD`, also the balance at the end of that day: "
        "every entry effective on or before it. A date that is not one is refused (400). " + BOOKS,
        parameters=[s.AsOfFilter],
        responses={200: s.AccountDetailSerializer},
    ),
)
class AccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LedgerViewSet):
    serializer_class = s.AccountSerializer
    pagination_class = ByCode

    def get_queryset(self) -> QuerySet:
        return visible_accounts(self.request.user, Action.LEDGER_VIEW).annotate(
            natural_key=_natural_key()
        )

    def list(self, request: Request) -> Response:
        given = self._query(s.AccountFilter)
        found = _by_trust(self.get_queryset(), given)
        if given.get("role"):
            found = found.filter(role=given["role"])
        if search := _text(given):
            found = found.filter(Q(code__icontains=search) | Q(name__icontains=search))
        return self._page(found)

    def retrieve(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        as_of = self._query(s.AsOfFilter).get("as_of")
        account.as_of = as_of
        account.balance_as_of = (
            account_balance_as_of(account=account, as_of=as_of) if as_of else None
        )
        return Response(s.AccountDetailSerializer(account).data)

    @extend_schema(
        summary="An account's history, with the balance after each posting",
        description="Newest first (by effective date, then as written), a page at a time: "
        "each posting with its entry, date, memo and kind, its signed amount (a debit "
        "positive) and side, and the account's balance just after it on its normal side. " + BOOKS,
        responses={200: s.AccountPostingSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def postings(self, request: Request, pk: str) -> Response:
        # The account alone (the list's natural-order annotation is not needed for one).
        account = object_for(request.user, Account, path_id(pk), Action.LEDGER_VIEW)
        if account.beneficiary_id is not None:  # a child's sub-ledger: a view of the child
            child_view_record(
                beneficiary=account.beneficiary,
                actor=request.user,
                what="account",
                detail=account.code,
                via="api",
            )
        paginator = ByEffective()
        page = paginator.paginate_queryset(account_postings(account=account), request, view=self)
        for posting, balance in running_balances(account=account, postings=page):
            posting.balance_after = balance
        return paginator.get_paginated_response(s.AccountPostingSerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="The journal: entries of the trusts' books",
        description="Newest first by effective date, filtered as the journal page: by kind, "
        "effective dates (`since`, `until`, inclusive) and memo (`q`). A date that is not "
        "one is refused (400). " + BOOKS,
        parameters=[s.EntryFilter],
    ),
    retrieve=extend_schema(
        summary="One journal entry, with its postings",
        description="Each posting: the account (id, code, name), the signed amount (a debit "
        "positive; they sum to zero in each currency), its side and currency. Entries are "
        "immutable: `reverses` and `reversed_by` link a correction. " + BOOKS,
        responses={200: s.EntryDetailSerializer},
    ),
)
class EntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, LedgerViewSet):
    serializer_class = s.EntrySerializer
    pagination_class = ByEffective

    def get_queryset(self) -> QuerySet:
        reversal = JournalEntry.objects.filter(reverses=OuterRef("pk")).values("pk")[:1]
        return visible_entries(self.request.user).annotate(reversed_by_id=Subquery(reversal))

    def list(self, request: Request) -> Response:
        given = self._query(s.EntryFilter)
        found = _by_trust(self.get_queryset(), given)
        if given.get("kind"):
            found = found.filter(kind=given["kind"])
        if given.get("since"):
            found = found.filter(effective_date__gte=given["since"])
        if given.get("until"):
            found = found.filter(effective_date__lte=given["until"])
        if search := _text(given):
            found = found.filter(memo__icontains=search)
        return self._page(found)

    def retrieve(self, request: Request, pk: str) -> Response:
        entry = self.get_object()
        entry.listed_postings = list(entry_postings(entry=entry))
        return Response(s.EntryDetailSerializer(entry).data)
