"""Creating trusts and their accounts; beneficiaries and their sub-ledgers are in ``people``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from trust.errors import field_error
from trust.models import Account, Trust
from trust.money import MoneyError, currency_of
from trust.services.ledger import ledger_checks_now

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


def trust_create(
    *,
    caption: str,
    court: str,
    case_number: str,
    base_currency: str = "USD",
    actor: Any | None = None,
) -> Trust:
    """Create a trust with its bank, in-transit, payable and unallocated accounts.

    Refuses a blank caption, court or case number, an unknown currency, and a court and case
    number that already have a trust.
    """
    errors = {
        name: "This field is required."
        for name, value in (("caption", caption), ("court", court), ("case_number", case_number))
        if not (value or "").strip()
    }
    if errors:
        raise ValidationError(errors, code="required")
    currency = _currency(base_currency)
    try:
        with transaction.atomic():
            trust = Trust.objects.create(
                caption=caption.strip(),
                court=court.strip(),
                case_number=case_number.strip(),
                base_currency=currency,
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
    if type not in Account.Type.values:
        raise field_error("type", f"unknown account type {type!r}", code="bad_type")
    if role not in Account.Role.values or role == Account.Role.SUB_LEDGER:
        raise field_error("role", f"role {role!r} cannot be opened here", code="bad_role")
    if not (code or "").strip() or not (name or "").strip():
        raise ValidationError("An account needs a code and a name.", code="required")
    try:
        with transaction.atomic():
            return Account.objects.create(
                trust=trust,
                code=code.strip(),
                name=name.strip(),
                type=type,
                role=role,
                currency=_currency(currency),
                no_negative=no_negative,
            )
    except IntegrityError as exc:
        raise ValidationError({"code": f"{trust} already has an account {code}"}) from exc


def trust_set_lock_date(*, trust: Trust, lock_date: date, actor: Any | None = None) -> Trust:
    """Close the period up to ``lock_date``; entries dated on or before it are refused from now on.
    The lock date only moves forward: reopening a closed period would change filed statements."""
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
        locked.lock_date = lock_date
        locked.save(update_fields=["lock_date"])
    trust.lock_date = lock_date
    return trust
