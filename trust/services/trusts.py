"""Creating trusts and their accounts; beneficiaries and their sub-ledgers are in ``people``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from moneyed import Money

from trust.access import require
from trust.audit.events import audit_record
from trust.errors import field_error
from trust.models import Account, EntryKind, JournalEntry, Trust
from trust.money import MoneyError, currency_of, format_money, from_minor
from trust.roles import Action
from trust.services.amounts import positive_minor
from trust.services.ledger import Leg, entry_post, ledger_checks_now

# Accounts every trust starts with: (code, name, type, role, no_negative).
STANDARD_ACCOUNTS = [
    ("1000-BANK", "Trust bank account", Account.Type.ASSET, Account.Role.BANK, True),
    (
        "2700-IN-TRANSIT",
        "Payments in transit",
        Account.Type.LIABILITY,
        Account.Role.IN_TRANSIT,
        True,
    ),
    ("2800-PAYABLE", "Amounts payable", Account.Type.LIABILITY, Account.Role.PAYABLE, True),
    (
        "2900-UNALLOCATED",
        "Unallocated receipts",
        Account.Type.LIABILITY,
        Account.Role.UNALLOCATED,
        True,
    ),
]


# Accounts opened on first use, per currency: role -> (code, name, type, no_negative). In the
# trust's base currency the code is the bare one (2700-IN-TRANSIT is opened with the trust);
# in another currency, and always for trading, it ends in the currency code.
ROLE_ACCOUNTS = {
    Account.Role.UNALLOCATED: (
        "2900-UNALLOCATED",
        "Unallocated receipts",
        Account.Type.LIABILITY,
        True,
    ),
    Account.Role.IN_TRANSIT: (
        "2700-IN-TRANSIT",
        "Payments in transit",
        Account.Type.LIABILITY,
        True,
    ),
    Account.Role.ADMINISTRATION: (
        "2600-ADMIN",
        "Trust administration fund",
        Account.Type.LIABILITY,
        True,
    ),
    Account.Role.PAYABLE: ("2800-PAYABLE", "Amounts payable", Account.Type.LIABILITY, True),
    # Equity, negatives allowed: a currency's trading account mirrors the position in it.
    Account.Role.TRADING: ("3900-TRADING", "Currency trading", Account.Type.EQUITY, False),
}


def role_account(*, trust: Trust, role: str, currency: str) -> Account:
    """The trust's account for ``role`` in ``currency``, opened on first use (see
    ``ROLE_ACCOUNTS``). Safe under concurrency: a second opener finds the first one's row."""
    account = (
        Account.objects.filter(trust=trust, role=role, currency=currency).order_by("pk").first()
    )
    if account is not None:
        return account
    base_code, name, type_, no_negative = ROLE_ACCOUNTS[role]
    bare = currency == trust.base_currency and role != Account.Role.TRADING
    with transaction.atomic():
        account, created = Account.objects.get_or_create(
            trust=trust,
            code=base_code if bare else f"{base_code}-{currency}",
            defaults={
                "name": f"{name} ({currency})",
                "type": type_,
                "role": role,
                "currency": currency,
                "no_negative": no_negative,
            },
        )
        if created:
            _audit_account(account, actor=None)
    return account


def _audit_account(account: Account, actor: Any | None) -> None:
    audit_record(
        action="account.opened",
        actor=actor,
        trust_id=account.trust_id,
        object_type="account",
        object_id=account.pk,
        changes={
            "code": account.code,
            "name": account.name,
            "type": account.type,
            "role": account.role,
            "currency": account.currency,
            "no_negative": account.no_negative,
        },
    )


def role_accounts(*, trust: Trust, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the trust's accounts for several (role, currency) pairs: one query when they all
    exist, ``role_account`` for each that does not (opened on first use)."""
    wanted = set(wanted)
    found: dict[tuple[str, str], int] = {}
    for pk, role, currency in (
        Account.objects.filter(
            trust=trust,
            role__in={role for role, _ in wanted},
            currency__in={currency for _, currency in wanted},
        )
        .order_by("-pk")  # the first opened wins, as in role_account
        .values_list("pk", "role", "currency")
    ):
        if (role, currency) in wanted:
            found[(role, currency)] = pk
    for role, currency in wanted - found.keys():
        found[(role, currency)] = role_account(trust=trust, role=role, currency=currency).pk
    return found


def administration_fund(
    *, trust: Trust, actor: Any, amount: Money, reason: str, idempotency_key: str
) -> JournalEntry:
    """Move unallocated money into the trust's administration fund (which bears bank fees when
    the trust's policy says so), with the reason (typically the court's order). Refuses a blank
    reason and more than is unallocated; the same key again returns the first entry."""
    require(
        actor,
        Action.TRUST_MANAGE,
        trust,
        "Only a trustee of the trust funds its administration.",
        "not_trustee",
        system=True,
    )
    minor = positive_minor(amount, "amount")
    currency = amount.currency.code
    reason = " ".join((reason or "").split())
    if not reason:
        raise field_error("reason", "Say why (e.g. the order that allows it).", code="required")
    with transaction.atomic():
        source = role_account(trust=trust, role=Account.Role.UNALLOCATED, currency=currency)
        # Locked: the same lock the posting takes, so the check and the posting see one balance.
        held = Account.objects.select_for_update().get(pk=source.pk).balance_minor
        done = JournalEntry.objects.filter(
            trust=trust, idempotency_key=f"administration-fund:{idempotency_key}"
        ).first()
        if done is None and held < minor:
            raise field_error(
                "amount",
                f"Only {format_money(from_minor(held, currency))} is unallocated.",
                code="insufficient_funds",
            )
        posted = entry_post(
            trust=trust,
            actor=actor,
            effective_date=timezone.localdate(),
            legs=[
                Leg(
                    role_account(trust=trust, role=Account.Role.UNALLOCATED, currency=currency),
                    from_minor(minor, currency),
                ),
                Leg(
                    role_account(trust=trust, role=Account.Role.ADMINISTRATION, currency=currency),
                    from_minor(-minor, currency),
                ),
            ],
            idempotency_key=f"administration-fund:{idempotency_key}",
            memo=f"To the administration fund: {reason}",
            kind=EntryKind.TRANSFER,
        )
    return posted.entry


def _currency(code: str) -> str:
    code = (code or "").strip().upper()
    try:
        currency_of(code)
    except MoneyError as exc:
        raise field_error("currency", str(exc), code="bad_currency") from exc
    if code not in settings.CURRENCIES:
        raise field_error(
            "currency",
            f"{code} is not one of the currencies this installation accepts",
            code="bad_currency",
        )
    return code


def _time_zone(name: str) -> str:
    name = (name or "").strip()
    if name not in available_timezones():
        raise field_error(
            "time_zone",
            f"{name or 'A blank name'} is not a time zone: use an IANA name such as "
            "America/New_York or Asia/Manila",
            code="bad_time_zone",
        )
    return name


def trust_create(
    *,
    caption: str,
    court: str,
    case_number: str,
    base_currency: str = "USD",
    time_zone: str | None = None,
    actor: Any | None = None,
) -> Trust:
    """Create a trust with its bank, in-transit, payable and unallocated accounts.

    Refuses a blank caption, court or case number, an unknown currency, and a court and case
    number that already have a trust. A user who creates one must be a superuser (who
    administers every trust, and then appoints its trustees); ``actor=None`` is the system.
    """
    if actor is not None and not (getattr(actor, "is_superuser", False) and actor.is_active):
        raise ValidationError(
            "Only an administrator of the system creates trusts.", code="not_allowed"
        )
    errors = {
        name: "This field is required."
        for name, value in (("caption", caption), ("court", court), ("case_number", case_number))
        if not (value or "").strip()
    }
    if errors:
        raise ValidationError(errors, code="required")
    currency = _currency(base_currency)
    zone = _time_zone(time_zone or settings.TIME_ZONE)
    try:
        with transaction.atomic():
            trust = Trust.objects.create(
                caption=caption.strip(),
                court=court.strip(),
                case_number=case_number.strip(),
                base_currency=currency,
                time_zone=zone,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            Account.objects.bulk_create(
                Account(
                    trust=trust,
                    code=code,
                    name=name,
                    type=type_,
                    role=role,
                    currency=currency,
                    no_negative=no_negative,
                )
                for code, name, type_, role, no_negative in STANDARD_ACCOUNTS
            )
            audit_record(
                action="trust.created",
                actor=actor,
                trust_id=trust.pk,
                object_type="trust",
                object_id=trust.pk,
                changes={
                    "caption": trust.caption,
                    "court": trust.court,
                    "case_number": trust.case_number,
                    "base_currency": currency,
                    "time_zone": zone,
                    "accounts": [code for code, *_ in STANDARD_ACCOUNTS],
                },
            )
    except IntegrityError as exc:
        raise field_error(
            "case_number", "This court and case number already have a trust.", code="duplicate"
        ) from exc
    return trust


def account_create(
    *,
    trust: Trust,
    code: str,
    name: str,
    type: str,
    role: str,
    currency: str,
    no_negative: bool = False,
    actor: Any | None = None,
) -> Account:
    """Open an account in a trust. Sub-ledgers are opened by ``beneficiary_create`` instead."""
    require(
        actor,
        Action.TRUST_MANAGE,
        trust,
        "Only a trustee of the trust opens accounts.",
        "not_trustee",
        system=True,
    )
    if type not in Account.Type.values:
        raise field_error("type", f"unknown account type {type!r}", code="bad_type")
    if role not in Account.Role.values or role == Account.Role.SUB_LEDGER:
        raise field_error("role", f"role {role!r} cannot be opened here", code="bad_role")
    if not (code or "").strip() or not (name or "").strip():
        raise ValidationError("An account needs a code and a name.", code="required")
    try:
        with transaction.atomic():
            account = Account.objects.create(
                trust=trust,
                code=code.strip(),
                name=name.strip(),
                type=type,
                role=role,
                currency=_currency(currency),
                no_negative=no_negative,
            )
            _audit_account(account, actor)
            return account
    except IntegrityError as exc:
        raise ValidationError({"code": f"{trust} already has an account {code}"}) from exc


def trust_set_lock_date(*, trust: Trust, lock_date: date, actor: Any | None = None) -> Trust:
    """Close the period up to ``lock_date``; entries dated on or before it are refused from now on.
    The lock date only moves forward: reopening a closed period would change filed statements."""
    require(
        actor,
        Action.TRUST_MANAGE,
        trust,
        "Only a trustee of the trust closes a period.",
        "not_trustee",
        system=True,
    )
    with transaction.atomic():
        # Entries written earlier in this same transaction are judged against the lock date
        # they were posted under: run their commit-time checks now, before it moves.
        ledger_checks_now()
        locked = Trust.objects.select_for_update().get(pk=trust.pk)
        if locked.lock_date is not None and lock_date < locked.lock_date:
            raise ValidationError(
                f"The period is closed up to {locked.lock_date}; the lock date cannot move back.",
                code="lock_date_backwards",
            )
        before = locked.lock_date
        locked.lock_date = lock_date
        locked.save(update_fields=["lock_date"])
        audit_record(
            action="trust.lock_date_set",
            actor=actor,
            trust_id=locked.pk,
            object_type="trust",
            object_id=locked.pk,
            changes={"lock_date": {"before": before, "after": lock_date}},
        )
    trust.lock_date = lock_date
    return trust


# The terms a trustee may change; the base currency is not one of them (the trust's accounts are
# opened in it), nor is the lock date (``trust_set_lock_date``, which only moves forward).
TERMS = ("caption", "court", "case_number", "majority_age", "time_zone", "retention_years")


def trust_update(*, trust: Trust, actor: Any | None = None, **terms: Any) -> Trust:
    """Change a trust's terms (caption, court, case number, age of majority, time zone, the years
    the children's identifying data is kept after the trust closes): a trustee of the trust. One
    audit event names each field that changed with its value before and after; a form saved
    unchanged writes nothing."""
    require(
        actor,
        Action.TRUST_MANAGE,
        trust,
        "Only a trustee of the trust changes its terms.",
        "not_trustee",
        system=True,
    )
    unknown = sorted(set(terms) - set(TERMS))
    if unknown:
        raise ValidationError(f"Not a term of a trust: {', '.join(unknown)}.", code="bad_field")
    wanted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("caption", "court", "case_number"):
        if name in terms:
            value = (terms[name] or "").strip()
            if not value:
                errors[name] = "This field is required."
            wanted[name] = value
    if errors:
        raise ValidationError(errors, code="required")
    if "majority_age" in terms:
        age = terms["majority_age"]
        if not isinstance(age, int) or isinstance(age, bool) or not 14 <= age <= 25:
            raise field_error(
                "majority_age",
                "The age of majority is a whole number from 14 to 25.",
                code="bad_age",
            )
        wanted["majority_age"] = age
    if "time_zone" in terms:
        wanted["time_zone"] = _time_zone(terms["time_zone"])
    if "retention_years" in terms:
        years = terms["retention_years"]
        if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 100:
            raise field_error(
                "retention_years",
                "The retention period is a whole number of years from 1 to 100.",
                code="bad_retention",
            )
        wanted["retention_years"] = years
    try:
        with transaction.atomic():
            locked = Trust.objects.select_for_update().get(pk=trust.pk)
            changes = {
                name: {"before": getattr(locked, name), "after": value}
                for name, value in wanted.items()
                if getattr(locked, name) != value
            }
            if not changes:
                return locked
            for name, change in changes.items():
                setattr(locked, name, change["after"])
            locked.save(update_fields=list(changes))
            audit_record(
                action="trust.updated",
                actor=actor,
                trust_id=locked.pk,
                object_type="trust",
                object_id=locked.pk,
                changes=changes,
            )
    except IntegrityError as exc:
        raise field_error(
            "case_number", "This court and case number already have a trust.", code="duplicate"
        ) from exc
    return locked
