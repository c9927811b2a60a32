"""Payments in transit: what left a trust's bank and its care partners have not acknowledged yet,
beside what the trust's in-transit accounts hold (the two agree while the books are right).

A thin, read-only page for the readers of the trust's books (trustees and auditors)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from disbursements.selectors import (
    in_transit_partners,
    in_transit_rows,
    in_transit_totals,
    payments_in_transit,
)
from trust.access import trust_for
from trust.roles import Action


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


@login_required
def payments_in_transit_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    partner_id = _number(q.get("partner", ""))
    search = q.get("q", "").strip()
    found = payments_in_transit(trust=trust, partner_id=partner_id, search=search)
    page = Paginator(found, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "disbursements/in_transit.html",
        {
            "trust": trust,
            "page": page,
            "rows": in_transit_rows(page.object_list, today=timezone.localdate()),
            "totals": in_transit_totals(trust=trust),
            "partners": in_transit_partners(trust=trust),
            "partner_id": partner_id,
            "search": q.get("q", ""),
            "query": query.urlencode(),
        },
    )
