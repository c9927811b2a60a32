"""Pages of the trust app: thin, they ask ``trust.access`` what the user may see, call selectors
and render. A trust the user holds no role in is "not found"; a caseworker sees only the children
in their partner's care, never the trust's cash."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from trust.access import (
    can,
    in_every_trust,
    object_for,
    roles_in,
    trust_for,
    trust_ids,
    visible_accounts,
    visible_trusts,
)
from trust.audit.selectors import checkpoint_latest
from trust.dashboard import trust_panels
from trust.models import Account, AuditVerification, EntryKind, JournalEntry, LedgerCheck
from trust.roles import LABELS, Action
from trust.selectors import (
    account_balance_as_of,
    account_postings,
    beneficiaries_reaching_majority,
    entry_postings,
    journal,
    receipts_to_resolve,
    running_balances,
    trust_identity,
)


def _roles(user: object, trust: object) -> str:
    return ", ".join(LABELS[r].lower() for r in sorted(roles_in(user, trust)))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    rows = []
    for trust in visible_trusts(user):
        lines = []
        if can(user, Action.LEDGER_VIEW, trust):
            lines = sorted(trust_identity(trust=trust).values(), key=lambda line: line.currency)
        rows.append((trust, lines, _roles(user, trust)))
    # The last check of books this user reads: of their trusts, or of all at once when they
    # read every trust (its figures cover them all).
    readable, _ = trust_ids(user, Action.LEDGER_VIEW)
    scope = Q(trust_id__in=readable)
    if in_every_trust(user, Action.LEDGER_VIEW):
        scope |= Q(trust__isnull=True)
    last_check = (
        LedgerCheck.objects.filter(scope, finished_at__isnull=False).first() if readable else None
    )
    return render(request, "trust/home.html", {"rows": rows, "last_check": last_check})


@login_required
def trust_detail(request: HttpRequest, trust_id: int) -> HttpResponse:
    user = request.user
    trust = trust_for(user, trust_id)
    books = can(user, Action.LEDGER_VIEW, trust)
    # The books' readers see every account; a caseworker the sub-ledgers of their children.
    accounts = visible_accounts(user, Action.LEDGER_VIEW if books else Action.BENEFICIARY_VIEW)
    accounts = accounts.filter(trust=trust).select_related("beneficiary").order_by("code")
    page = Paginator(accounts, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/trust_detail.html",
        {
            "trust": trust,
            "roles": _roles(user, trust),
            "books": books,
            "page": page,
            "identity": sorted(trust_identity(trust=trust).values(), key=lambda x: x.currency)
            if books
            else [],
            "to_resolve": list(receipts_to_resolve(trust=trust)) if books else [],
            "reaching_majority": beneficiaries_reaching_majority(trust=trust) if books else [],
            "panels": trust_panels(user, trust) if books else [],
            "last_check": LedgerCheck.objects.filter(
                Q(trust=trust) | Q(trust__isnull=True), finished_at__isnull=False
            ).first()
            if books
            else None,
            "verification": AuditVerification.objects.filter(finished_at__isnull=False)
            .order_by("-finished_at")
            .first()
            if can(user, Action.AUDIT_VIEW, trust)
            else None,
            "checkpoint": checkpoint_latest() if can(user, Action.AUDIT_VIEW, trust) else None,
        },
    )


# --- the books: journal, entries, accounts (readers of the books only) -------------------------


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@login_required
def journal_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    kind = q.get("kind", "") if q.get("kind", "") in EntryKind.values else ""
    since, until = _day(q.get("since", "")), _day(q.get("until", ""))
    entries = journal(
        trust=trust, kind=kind, since=since, until=until, search=q.get("q", "").strip()
    )
    page = Paginator(entries, 50).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "trust/journal.html",
        {
            "trust": trust,
            "page": page,
            "kinds": EntryKind.choices,
            "kind": kind,
            "since": since,
            "until": until,
            "search": q.get("q", ""),
            "query": query.urlencode(),
            "bad_dates": bool((q.get("since") and not since) or (q.get("until") and not until)),
        },
    )


@login_required
def entry_detail(request: HttpRequest, trust_id: int, entry_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    entry = object_for(request.user, JournalEntry, None, trust_id=trust.pk, id=entry_id)
    reversed_by = JournalEntry.objects.filter(reverses=entry).first()
    return render(
        request,
        "trust/entry_detail.html",
        {
            "trust": trust,
            "entry": entry,
            "postings": entry_postings(entry=entry),
            "reversed_by": reversed_by,
        },
    )


@login_required
def account_detail(request: HttpRequest, trust_id: int, account_id: int) -> HttpResponse:
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    account = object_for(request.user, Account, None, trust_id=trust.pk, id=account_id)
    page = Paginator(account_postings(account=account), 50).get_page(request.GET.get("page"))
    as_of = _day(request.GET.get("as_of", ""))
    return render(
        request,
        "trust/account_detail.html",
        {
            "trust": trust,
            "account": account,
            "page": page,
            "rows": running_balances(account=account, postings=list(page.object_list)),
            "as_of": as_of,
            "balance_as_of": account_balance_as_of(account=account, as_of=as_of) if as_of else None,
            "query": "",
        },
    )
