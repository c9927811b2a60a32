"""Closing a trust for good (DOMAIN.md rule 17): once the final account has left every sub-ledger
at zero, the books close and take no entry ever again.

What else must be settled first is added by the apps above this one (the disbursements app: no
request still waiting for a decision, a payment or an acknowledgement) with
``closing_check_register`` in their ``AppConfig.ready``, so that ``trust`` never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Account, JournalEntry, Trust
from trust.money import format_money
from trust.roles import Action
from trust.selectors import CASH_ROLES, OBLIGATION_ROLES
from trust.services.ledger import ledger_checks_now

# A check that other apps add: called with the trust, it returns what still stands in the way of
# closing it, one sentence each (no one's identity: pseudonyms, numbers, amounts).
ClosingCheck = Callable[[Trust], list[str]]
_CLOSING_CHECKS: list[ClosingCheck] = []

# Accounts that hold money or owe it: every one of them is at zero before the books close.
# Income, expense and equity accounts keep their history (fees paid, exchange differences).
SETTLED_ROLES = (*CASH_ROLES, *OBLIGATION_ROLES)


def closing_check_register(check: ClosingCheck) -> None:
    """Add ``check`` to what ``trust_close`` asks before closing any trust (once)."""
    if check not in _CLOSING_CHECKS:
        _CLOSING_CHECKS.append(check)


def trust_today(trust: Trust) -> date:
    """Today in the trust's time zone (the day its trustees are living)."""
    try:
        return timezone.localdate(timezone=ZoneInfo(trust.time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.localdate()


def _unsettled_accounts(accounts: list[Account]) -> list[str]:
    return [
        f"{account.code} {account.name} holds {format_money(account.balance)}."
        for account in accounts
        if account.role in SETTLED_ROLES and account.balance_minor != 0
    ]


def trust_closing_blockers(*, trust: Trust) -> list[str]:
    """What stands in the way of closing ``trust`` for good, one sentence each; empty when it may
    close: every account that holds or owes money (bank, receivables, sub-ledgers, unallocated,
    payable, in transit, the administration fund, currency trading) at zero, and every
    registered check satisfied. A read: it locks nothing (``trust_close`` asks again under
    lock)."""
    if trust.status != Trust.Status.ACTIVE:
        return [f"The trust was closed on {trust.closed_on:%Y-%m-%d}."]
    accounts = list(Account.objects.filter(trust=trust).order_by("code"))
    blockers = _unsettled_accounts(accounts)
    for check in _CLOSING_CHECKS:
        blockers.extend(check(trust))
    return blockers


def trust_close(*, trust: Trust, actor: Any, closed_on: date) -> Trust:
    """Close ``trust`` for good on ``closed_on``: its status becomes closed, its lock date that
    day, and the ledger (service and database) refuses every entry from then on. Closing is
    final: nothing reopens a trust.

    Refuses, changing nothing: anyone but a trustee of the trust (``not_trustee``); a day that is
    not a date, lies after today in the trust's time zone, before the closed period's end, or
    before an entry already booked (``closed_on``); a trust already closed (``already_closed``);
    an account that holds or owes money, or anything a registered check reports (``unsettled``,
    one message each). Runs in a transaction of its own, with the trust and all its accounts
    locked, so no posting slips in between the check and the closing."""
    require(
        actor,
        Action.TRUST_MANAGE,
        trust,
        "Only a trustee of the trust closes it.",
        "not_trustee",
    )
    if not isinstance(closed_on, date) or isinstance(closed_on, datetime):
        raise field_error("closed_on", "Give the day the books close.", code="required")
    today = trust_today(trust)
    if closed_on > today:
        raise field_error(
            "closed_on",
            f"The books cannot close on a day still to come (today is {today:%Y-%m-%d}).",
            code="future",
        )
    with transaction.atomic(durable=True):
        ledger_checks_now()
        locked = Trust.objects.select_for_update().get(pk=trust.pk)
        if locked.status != Trust.Status.ACTIVE:
            raise ValidationError(
                f"The trust was closed on {locked.closed_on:%Y-%m-%d}; closing is final.",
                code="already_closed",
            )
        if locked.lock_date is not None and closed_on < locked.lock_date:
            raise field_error(
                "closed_on",
                f"The period is closed up to {locked.lock_date:%Y-%m-%d}: the trust closes on "
                "that day or later.",
                code="before_lock_date",
            )
        # In primary-key order, as the posting service locks them: a posting waits for the
        # closing, then finds the trust closed.
        accounts = list(Account.objects.select_for_update().filter(trust=locked).order_by("pk"))
        blockers = _unsettled_accounts(accounts)
        for check in _CLOSING_CHECKS:
            blockers.extend(check(locked))
        if blockers:
            raise ValidationError([ValidationError(text, code="unsettled") for text in blockers])
        last = (
            JournalEntry.objects.filter(trust=locked, effective_date__gt=closed_on)
            .order_by("-effective_date")
            .values_list("effective_date", flat=True)
            .first()
        )
        if last is not None:
            raise field_error(
                "closed_on",
                f"An entry is dated {last:%Y-%m-%d}, after that day: the trust closes on its "
                "last entry's day or later.",
                code="before_last_entry",
            )
        before = {"status": locked.status, "lock_date": locked.lock_date}
        locked.status = Trust.Status.CLOSED
        locked.closed_on = closed_on
        locked.lock_date = closed_on
        locked.save(update_fields=["status", "closed_on", "lock_date"])
        audit_record(
            action="trust.closed",
            actor=actor,
            trust_id=locked.pk,
            object_type="trust",
            object_id=locked.pk,
            changes={
                "status": {"before": before["status"], "after": locked.status},
                "closed_on": closed_on,
                "lock_date": {"before": before["lock_date"], "after": closed_on},
                "retention_years": locked.retention_years,
                "accounts": len(accounts),
            },
        )
    trust.status, trust.closed_on, trust.lock_date = locked.status, closed_on, closed_on
    return trust
