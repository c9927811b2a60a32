"""Pages of the trust app: thin, they call selectors and render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from trust.models import LedgerCheck
from trust.selectors import (
    account_list,
    beneficiaries_reaching_majority,
    receipts_to_resolve,
    trust_identity,
    trust_list,
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    trusts = list(trust_list())
    rows = [
        (trust, sorted(trust_identity(trust=trust).values(), key=lambda line: line.currency))
        for trust in trusts
    ]
    last_check = LedgerCheck.objects.filter(finished_at__isnull=False).first()
    return render(request, "trust/home.html", {"rows": rows, "last_check": last_check})


@login_required
def trust_detail(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = get_object_or_404(trust_list(), pk=trust_id)
    identity = sorted(trust_identity(trust=trust).values(), key=lambda line: line.currency)
    return render(
        request,
        "trust/trust_detail.html",
        {
            "trust": trust,
            "accounts": account_list(trust=trust),
            "identity": identity,
            "to_resolve": list(receipts_to_resolve(trust=trust)),
            "reaching_majority": [b for b, _ in beneficiaries_reaching_majority(trust=trust)],
        },
    )
