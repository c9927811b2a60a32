"""Reads of the disbursements app, scoped at the source by ``trust.access``: a caseworker sees
only their partner's requests and children, a trustee or an auditor those of their trusts;
anyone else nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Length
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from disbursements.models import (
    DEFAULT_DUAL_APPROVAL,
    RESERVING,
    Budget,
    CarePartner,
    DisbursementPolicy,
    DisbursementRequest,
    Payment,
    RequestDocument,
    Status,
)
from trust.access import (
    can,
    is_trustee,
    visible_beneficiaries,
    visible_documents,
    visible_requests,
)
from trust.dashboard import Line, Panel
from trust.models import Account, Beneficiary, Trust
from trust.models.people import share_data_keys
from trust.money import format_money, from_minor
from trust.roles import Action


def document_for(user: Any, uid: Any) -> RequestDocument | None:
    """The document ``uid`` if ``user`` may see its request, else ``None`` (the same answer as
    for a document that does not exist, so a caseworker learns nothing about other partners)."""
    return visible_documents(user).filter(uid=uid).select_related("request").first()


def request_list(
    *, user: Any, status: str = "", trust_id: int | None = None, search: str = ""
) -> QuerySet[DisbursementRequest]:
    """The requests ``user`` may see, newest first, filtered by status, trust and pseudonym."""
    requests = visible_requests(user).select_related("beneficiary", "trust", "partner")
    if status:
        requests = requests.filter(status=status)
    if trust_id:
        requests = requests.filter(trust_id=trust_id)
    if search:
        requests = requests.filter(
            Q(beneficiary__pseudonym__icontains=search)
            | Q(pk__in=_purpose_matches(requests, search))
        )
    return requests.order_by("-created_at", "-id")


# Purposes are encrypted under each child's data key: a search opens at most this many of the
# newest requests in view (the list's filters apply first).
PURPOSE_SEARCH_LIMIT = 1000


def _purpose_matches(requests: QuerySet[DisbursementRequest], search: str) -> list[int]:
    """The ids of the newest ``PURPOSE_SEARCH_LIMIT`` requests whose purpose contains ``search``
    (case-insensitive), opening each child's key once."""
    needle = search.casefold()
    rows = list(requests.order_by("-created_at", "-id")[:PURPOSE_SEARCH_LIMIT])
    share_data_keys(row.beneficiary for row in rows)
    return [row.pk for row in rows if needle in row.purpose.casefold()]


def requests_waiting_for(user: Any) -> QuerySet[DisbursementRequest]:
    """Submitted requests of the trusts where ``user`` is a trustee that they may decide: not
    their own, and not already approved by them (the first of two approvals)."""
    return (
        visible_requests(user)
        .filter(status=Status.SUBMITTED)
        .exclude(requested_by=user)
        .exclude(approvals__trustee=user)
        .select_related("beneficiary", "trust", "partner")
        .annotate(approval_count=Count("approvals"))
        .order_by("submitted_at", "id")
    )


@dataclass(frozen=True)
class ChildFunds:
    """A beneficiary with what their sub-ledger holds, what approvals reserve, what is free."""

    beneficiary: Beneficiary
    balance: Money
    reserved: Money
    available: Money


def children_with_funds(
    *, user: Any, trust_id: int | None = None, search: str = ""
) -> QuerySet[Beneficiary]:
    """The beneficiaries ``user`` may see, in natural order (MV-2 before MV-10), each annotated
    with their sub-ledger's balance and what approved requests reserve on it (one query)."""
    sub_ledger = Account.objects.filter(
        beneficiary=OuterRef("pk"), role=Account.Role.SUB_LEDGER
    ).order_by("pk")
    reserved = (
        DisbursementRequest.objects.filter(beneficiary=OuterRef("pk"), status__in=RESERVING)
        .values("beneficiary")
        .annotate(total=Sum("reserve_minor"))
        .values("total")
    )
    children = (
        visible_beneficiaries(user)
        .select_related("trust", "care_partner")
        .annotate(
            balance_minor=Subquery(sub_ledger.values("balance_minor")[:1]),
            ledger_currency=Subquery(sub_ledger.values("currency")[:1]),
            reserved_minor=Coalesce(Subquery(reserved), Value(0)),
            available_minor=F("balance_minor") - F("reserved_minor"),
        )
    )
    if trust_id:
        children = children.filter(trust_id=trust_id)
    if search:
        children = children.filter(pseudonym__icontains=search)
    return children.order_by("trust__caption", Length("pseudonym"), "pseudonym")


def child_funds(beneficiary: Any) -> ChildFunds:
    """``beneficiary`` as annotated by ``children_with_funds``, in money."""
    currency = beneficiary.ledger_currency or beneficiary.trust.base_currency
    return ChildFunds(
        beneficiary=beneficiary,
        balance=from_minor(int(beneficiary.balance_minor or 0), currency),
        reserved=from_minor(int(beneficiary.reserved_minor or 0), currency),
        available=from_minor(int(beneficiary.available_minor or 0), currency),
    )


def budgets_of(beneficiary: Beneficiary) -> QuerySet[Budget]:
    return Budget.objects.filter(beneficiary=beneficiary).order_by("category", "period_start")


def request_page(request: DisbursementRequest, user: Any) -> dict[str, Any]:
    """What the request's page shows: its history, documents, approvals, payment, the funds
    of the sub-ledger, and whether a second approval is needed."""
    policy = DisbursementPolicy.objects.filter(trust_id=request.trust_id).first()
    base = request.trust.base_currency
    threshold = (
        from_minor(policy.dual_approval_minor, base)
        if policy is not None
        else Money(DEFAULT_DUAL_APPROVAL, base)
    )
    sub_ledger = request.sub_ledger
    reserved = (
        DisbursementRequest.objects.filter(sub_ledger=sub_ledger, status__in=RESERVING)
        .exclude(pk=request.pk)
        .aggregate(total=Sum("reserve_minor"))["total"]
        or 0
    )
    fresh = Account.objects.only("balance_minor", "currency").get(pk=sub_ledger.pk)
    return {
        "events": request.events.select_related("actor").order_by("at", "id"),
        "documents": request.documents.order_by("uploaded_at", "id"),
        "approvals": request.approvals.select_related("trustee"),
        "payment": getattr(request, "payment", None),
        "balance": from_minor(fresh.balance_minor, fresh.currency),
        "available": from_minor(fresh.balance_minor - reserved, fresh.currency),
        "threshold": threshold,
        "budgets": budgets_of(request.beneficiary),
        "waits_for": request.waits_for,
        "trustee": is_trustee(user, request.trust_id),
    }


def trust_panel(user: Any, trust: Trust) -> Panel | None:
    """The disbursements' panel of a trust's dashboard, for a reader of its books: approvals
    waiting for this user, what approvals reserve, payments in transit, care partners serving the
    trust whose vetting expires within 60 days."""
    if not can(user, Action.LEDGER_VIEW, trust):
        return None
    requests = DisbursementRequest.objects.filter(trust=trust)
    waiting = requests_waiting_for(user).filter(trust=trust).count()
    reserved = requests.filter(status__in=RESERVING).aggregate(total=Sum("reserve_minor"))["total"]
    in_transit = requests.filter(status=Status.PAID).count()
    soon = timezone.localdate() + timedelta(days=60)
    expiring = (
        CarePartner.objects.filter(
            beneficiaries__trust=trust,
            vetting_status=CarePartner.Vetting.APPROVED,
            vetting_expires_on__lte=soon,
        )
        .distinct()
        .order_by("vetting_expires_on")
    )
    listing = reverse("request-list")
    lines = [
        Line("Waiting for your decision", str(waiting), listing, warn=waiting > 0),
        Line("Reserved by approvals", format_money(from_minor(reserved or 0, trust.base_currency))),
        Line(
            "Payments in transit",
            str(in_transit),
            reverse("payments-in-transit", kwargs={"trust_id": trust.pk}),
        ),
    ]
    lines += [
        Line(f"Vetting of {p.name} expires", p.vetting_expires_on.isoformat(), warn=True)
        for p in expiring[:10]
    ]
    return Panel("Disbursements", lines)


# --- payments in transit ------------------------------------------------------------------------


def payments_in_transit(
    *, trust: Trust, partner_id: int | None = None, search: str = ""
) -> QuerySet[Payment]:
    """The trust's payments that left its bank and are not cleared yet (neither acknowledged by
    the partner nor returned by the bank), oldest first, each with its request, child and
    partner (one query, whatever the number). Filtered by partner, and by request number
    ("12" or "#12") or transfer reference."""
    payments = Payment.objects.filter(trust=trust, settlement_entry__isnull=True).select_related(
        "request__beneficiary", "request__partner"
    )
    if partner_id:
        payments = payments.filter(request__partner_id=partner_id)
    if search:
        number = search.removeprefix("#").strip()
        found = Q(transfer_reference__icontains=search)
        if number.isdigit():
            found |= Q(request_id=int(number))
        payments = payments.filter(found)
    return payments.order_by("value_date", "recorded_at", "pk")


@dataclass(frozen=True)
class InTransit:
    """A payment in transit and the days since it left the bank (its value date)."""

    payment: Payment
    days: int


def in_transit_rows(payments: Iterable[Payment], *, today: date) -> list[InTransit]:
    return [InTransit(payment, (today - payment.value_date).days) for payment in payments]


def in_transit_partners(*, trust: Trust) -> QuerySet[CarePartner]:
    """The care partners with a payment of ``trust`` in transit (for the page's filter)."""
    return (
        CarePartner.objects.filter(
            requests__payment__trust=trust, requests__payment__settlement_entry__isnull=True
        )
        .distinct()
        .order_by("name")
    )


@dataclass(frozen=True)
class TransitTotal:
    """One currency of payments in transit: what the open payments account for and what the
    trust's in-transit accounts hold. The two agree while the books are right."""

    currency: str
    payments_minor: int
    accounts_minor: int

    @property
    def difference_minor(self) -> int:
        return self.accounts_minor - self.payments_minor

    @property
    def agrees(self) -> bool:
        return self.difference_minor == 0

    @property
    def payments(self) -> Money:
        return from_minor(self.payments_minor, self.currency)

    @property
    def accounts(self) -> Money:
        return from_minor(self.accounts_minor, self.currency)


def in_transit_totals(*, trust: Trust) -> list[TransitTotal]:
    """Per currency, the trust's payments in transit against the balance of its in-transit
    accounts (three grouped queries). A payment puts in transit what the transfer is for, in the
    partner's currency, and the bank's fee, in the trust's currency (``payment_record``); both
    stay there until the payment is acknowledged or returned."""
    open_payments = Payment.objects.filter(trust=trust, settlement_entry__isnull=True).order_by()
    owed: dict[str, int] = defaultdict(int)
    for currency, total in open_payments.values_list("payout_currency").annotate(
        total=Sum("payout_minor")
    ):
        owed[currency] += int(total)
    for currency, total in (
        open_payments.filter(fee_minor__gt=0)
        .values_list("currency")
        .annotate(total=Sum("fee_minor"))
    ):
        owed[currency] += int(total)
    held: dict[str, int] = defaultdict(int)
    for currency, total in (
        Account.objects.filter(trust=trust, role=Account.Role.IN_TRANSIT)
        .values_list("currency")
        .annotate(total=Sum("balance_minor"))
        .order_by()
    ):
        held[currency] += int(total)
    return [
        TransitTotal(currency, owed[currency], held[currency])
        for currency in sorted(set(owed) | set(held))
    ]


def reserved_by_sub_ledger(trust: Trust) -> dict[int, int]:
    """Sub-ledger account id -> what approved, unpaid requests reserve on it (the sum
    ``reserved_minor`` takes for one sub-ledger, for every sub-ledger of ``trust`` in one query).
    Registered with ``trust.bank.services.charges`` so a fee never takes what is reserved."""
    return {
        int(sub_ledger_id): int(total)
        for sub_ledger_id, total in DisbursementRequest.objects.filter(
            trust=trust, status__in=RESERVING
        )
        .values_list("sub_ledger_id")
        .annotate(total=Sum("reserve_minor"))
        .order_by()
        if total
    }
