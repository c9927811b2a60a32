"""The books for trustees and auditors: the journal, an entry with its postings, an account's history
with the balance after each posting and its balance as of a date, and the trial balance of the
trust at the end of a day.

Thin pages: they ask ``trust.access`` what the user may see, call one service or selector,
and render."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from trust.access import (
    object_for,
    trust_for,
)
from trust.models import (
    Account,
    EntryKind,
    JournalEntry,
)
from trust.roles import Action
from trust.selectors import (
    account_balance_as_of,
    account_balances_as_of,
    account_postings,
    entry_postings,
    journal,
    running_balances,
    trust_accounts,
    trust_identity_as_of,
)
from trust.services.child_views import child_view_record


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
    if account.beneficiary_id is not None:  # a child's sub-ledger: a view of the child
        child_view_record(
            beneficiary=account.beneficiary, actor=request.user, what="account", detail=account.code
        )
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


@login_required
def balances_view(request: HttpRequest, trust_id: int) -> HttpResponse:
    """Every account's balance at the end of a day (``?as_of=YYYY-MM-DD``, today by default),
    a page of accounts at a time, under the totals by role and the trust identity on that day.
    A date that is not one is refused (400) with the form and no figures."""
    trust = trust_for(request.user, trust_id, Action.LEDGER_VIEW)
    q = request.GET
    typed = q.get("as_of", "").strip()
    as_of = _day(typed) if typed else timezone.localdate()
    search = q.get("q", "").strip()
    query = q.copy()
    query.pop("page", None)
    context = {
        "trust": trust,
        "as_of": as_of,
        "typed": typed,
        "search": q.get("q", ""),
        "query": query.urlencode(),
    }
    if as_of is None:
        context["date_error"] = (
            f"“{typed}” is not a date: write it as year-month-day, for example"
            f" {timezone.localdate():%Y-%m-%d}."
        )
        return render(request, "trust/balances.html", context, status=400)
    page = Paginator(trust_accounts(trust=trust, search=search), 50).get_page(q.get("page"))
    accounts = list(page.object_list)
    balances = account_balances_as_of(account_ids=[a.pk for a in accounts], as_of=as_of)
    context.update(
        {
            "page": page,
            "rows": [(account, balances[account.pk]) for account in accounts],
            "identity": sorted(
                trust_identity_as_of(trust=trust, as_of=as_of).values(),
                key=lambda line: line.currency,
            ),
        }
    )
    return render(request, "trust/balances.html", context)
