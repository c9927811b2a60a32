"""Interest credited by the bank, and fees and expenses charged to the trust, shared among the
beneficiaries' sub-ledgers in one entry each, with the schedule kept as a ``SharedCharge`` and its
``SharedChargeShare`` rows (docs/interest-and-fees.md).

- ``interest_allocate``: the bank's interest, in proportion to each sub-ledger's average daily
  balance over the interest period (debit the bank, credit each sub-ledger its share).
- ``fee_charge``: a trustee's fee or an administration expense the court approved, or the bank's
  charges, shared by the trust's rule (pro rata to balance, or equally) and never taking a
  sub-ledger below what is reserved for it; or borne by the administration fund alone. Paid now
  (credit the bank) or later (credit amounts payable).

What is reserved on a sub-ledger comes from providers other apps register
(``reserved_provider_register``; disbursements registers approved, unpaid requests): the trust app
never imports them. Sub-ledger rows are locked in primary-key order before balances and
reservations are read, as a disbursement approval locks its sub-ledger before it reserves, so the
two never both spend the same free cent.

Retrying with the same idempotency key and the same details returns the first charge; the same
key with other details is refused (``key_reused``). Nothing is written on any refusal.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from moneyed import Money

from trust.access import require
from trust.audit.events import audit_record
from trust.bank.models import SharedCharge, SharedChargeShare, StatementLine
from trust.bank.selectors.charges import (
    RESERVED_PROVIDERS,
    ReservedProvider,
    Schedule,
    SubLedger,
    fee_schedule,
    interest_schedule,
)
from trust.bank.services.matching import lines_match
from trust.errors import field_error
from trust.models import Account, EntryKind, Posting, Trust
from trust.money import format_money, from_minor
from trust.roles import Action
from trust.services.amounts import positive_minor
from trust.services.closing import trust_today
from trust.services.ledger import LedgerError, Leg, entry_post
from trust.services.trusts import role_account

MAX_PERIOD_DAYS = 366
FEE_KINDS = (
    SharedCharge.Kind.TRUSTEE_FEE,
    SharedCharge.Kind.EXPENSE,
    SharedCharge.Kind.BANK_FEE,
)
# Kinds the court must have approved: the order's reference is required.
ORDERED_KINDS = (SharedCharge.Kind.TRUSTEE_FEE, SharedCharge.Kind.EXPENSE)
FEE_RULES = (
    SharedCharge.Rule.PRO_RATA,
    SharedCharge.Rule.EQUAL,
    SharedCharge.Rule.ADMINISTRATION,
)
_KEY_PREFIX = "shared-charge:"


def reserved_provider_register(fn: ReservedProvider) -> ReservedProvider:
    """Add ``fn(trust) -> {sub-ledger account id: reserved minor units}`` to what a fee may not
    take (once). Called from an app's ``AppConfig.ready``."""
    if fn not in RESERVED_PROVIDERS:
        RESERVED_PROVIDERS.append(fn)
    return fn


class _Raced(Exception):
    """Another call with the same key posted first, while this one waited."""


# --- checks common to both ----------------------------------------------------------------------


def _key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key or len(key) > 150:
        raise field_error(
            "idempotency_key",
            "An idempotency key of 1 to 150 characters is required.",
            code="key_missing",
        )
    return key


def _date(value: Any, field: str, trust: Trust) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise field_error(field, "A date is required.", code="required")
    if value > trust_today(trust):
        raise field_error(field, "The date cannot be in the future.", code="date_future")
    return value


def _bank(trust: Trust, account: Any, currency: str, field: str) -> Account:
    if not isinstance(account, Account) or account.trust_id != trust.pk:
        raise field_error(
            field, "The bank account is not one of this trust's.", code="foreign_account"
        )
    if account.role != Account.Role.BANK:
        raise field_error(field, f"{account.code} is not a bank account.", code="not_bank")
    if account.currency != currency:
        raise field_error(
            "amount",
            f"The bank account {account.code} holds {account.currency}; the amount is in"
            f" {currency}.",
            code="currency_mismatch",
        )
    return account


def _line(trust: Trust, line: Any, bank: Account | None, signed_minor: int, currency: str) -> None:
    """A statement line the charge comes from must be this trust's, on ``bank``, for the same
    money (+ in for interest, - out for a fee)."""
    if line is None:
        return
    if not isinstance(line, StatementLine) or line.trust_id != trust.pk:
        raise field_error(
            "line", "The statement line is not one of this trust's.", code="foreign_line"
        )
    if bank is None:
        raise field_error(
            "pay_from",
            "A charge taken from a bank statement was paid from that bank account.",
            code="line_needs_bank",
        )
    if line.bank_account.account_id != bank.pk:
        raise field_error(
            "line", "The statement line is for another bank account.", code="line_other_bank"
        )
    if line.currency != currency or line.amount_minor != signed_minor:
        raise field_error(
            "line",
            f"The statement line is for {format_money(from_minor(line.amount_minor, line.currency))},"
            f" not {format_money(from_minor(signed_minor, currency))}.",
            code="line_amount",
        )


def _lock_line(line: StatementLine | None) -> None:
    if line is None:
        return
    StatementLine.objects.select_for_update().filter(pk=line.pk).first()
    if SharedCharge.objects.filter(line=line).exists():
        raise field_error(
            "line", "This statement line was already recorded as a charge.", code="line_used"
        )


def _counter_account(charge: SharedCharge) -> int | str | None:
    """What a recorded charge's entry names as paying or paid: the bank account's id, or
    ``"payable"`` (to be paid later)."""
    found = (
        Posting.objects.filter(
            entry_id=charge.entry_id,
            account__role__in=[Account.Role.BANK, Account.Role.PAYABLE],
        )
        .values_list("account_id", "account__role")
        .first()
    )
    if found is None:
        return None
    return "payable" if found[1] == Account.Role.PAYABLE else found[0]


def _payload(values: dict[str, Any]) -> dict[str, Any]:
    """What a retry must repeat, as JSON values (dates as ISO text)."""
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def _payload_of(charge: SharedCharge) -> dict[str, Any]:
    return _payload(
        {
            "kind": charge.kind,
            "rule": charge.rule,
            "amount_minor": charge.amount_minor,
            "currency": charge.currency,
            "effective_date": charge.effective_date,
            "period_start": charge.period_start,
            "period_end": charge.period_end,
            "order_reference": charge.order_reference,
            "description": charge.description,
            "line": charge.line_id,
            "account": _counter_account(charge),
        }
    )


def _existing(trust: Trust, key: str, values: dict[str, Any]) -> SharedCharge | None:
    """The charge recorded with ``key`` (a retry), refused if its details differ."""
    charge = (
        SharedCharge.objects.filter(trust=trust, entry__idempotency_key=_KEY_PREFIX + key)
        .select_related("line")
        .first()
    )
    if charge is not None and _payload_of(charge) != _payload(values):
        raise field_error(
            "idempotency_key",
            f"key {key!r} was already used for a different charge",
            code="key_reused",
        )
    return charge


def _digest(schedule: Schedule) -> str:
    rows = [(r.account_id, r.basis_minor, r.days, r.share_minor) for r in schedule.rows]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _record(
    *,
    trust: Trust,
    actor: Any | None,
    schedule: Schedule,
    entry_id: int,
    values: dict[str, Any],
    line: StatementLine | None,
    key: str,
) -> SharedCharge:
    """The charge and its schedule, and its audit event, in the caller's transaction."""
    created_by = actor if getattr(actor, "pk", None) else None
    charge = SharedCharge.objects.create(
        trust=trust,
        kind=schedule.kind,
        rule=schedule.rule,
        entry_id=entry_id,
        amount_minor=schedule.amount_minor,
        currency=schedule.currency,
        effective_date=values["effective_date"],
        period_start=values["period_start"],
        period_end=values["period_end"],
        order_reference=values["order_reference"],
        description=values["description"],
        line=line,
        created_by=created_by,
    )
    SharedChargeShare.objects.bulk_create(
        (
            SharedChargeShare(
                charge=charge,
                beneficiary_id=row.beneficiary_id,
                account_id=row.account_id,
                basis_minor=row.basis_minor,
                days=row.days,
                share_minor=row.share_minor,
            )
            for row in schedule.rows
        ),
        batch_size=2000,
    )
    audit_record(
        action="shared_charge.recorded",
        actor=created_by,
        trust_id=trust.pk,
        object_type="shared_charge",
        object_id=charge.pk,
        changes={
            "key": key,
            "kind": schedule.kind,
            "rule": schedule.rule,
            "amount_minor": schedule.amount_minor,
            "currency": schedule.currency,
            "effective_date": values["effective_date"],
            "period_start": values["period_start"],
            "period_end": values["period_end"],
            "order_reference": values["order_reference"],
            "account": values["account"],
            "line": values["line"],
            "entry": entry_id,
            "shares": len(schedule.rows),
            "unallocated_minor": schedule.unallocated_minor,
            "schedule_sha256": _digest(schedule),
        },
    )
    return charge


def _post(
    *,
    trust: Trust,
    actor: Any | None,
    key: str,
    values: dict[str, Any],
    line: StatementLine | None,
    build: Any,
) -> SharedCharge:
    """Post in one durable transaction: ``build()`` (inside it, after its locks) returns the
    schedule, the legs, the memo and the entry kind. A concurrent call with the same key that
    won is answered as a retry."""
    try:
        with transaction.atomic(durable=True):
            _lock_line(line)
            schedule, legs, memo, kind = build()
            posted = entry_post(
                trust=trust,
                actor=actor,
                effective_date=values["effective_date"],
                legs=legs,
                idempotency_key=_KEY_PREFIX + key,
                memo=memo[:1000],
                kind=kind,
            )
            if not posted.created:
                raise _Raced
            charge = _record(
                trust=trust,
                actor=actor,
                schedule=schedule,
                entry_id=posted.entry_id,
                values=values,
                line=line,
                key=key,
            )
            if line is not None and line.state == StatementLine.State.UNMATCHED:
                # The line the charge was recorded from is the same money: matched at once.
                lines_match(
                    actor=actor,
                    bank=line.bank_account,
                    line_ids=[line.pk],
                    entry_ids=[posted.entry_id],
                    note="recorded from this line",
                )
            return charge
    except (_Raced, IntegrityError, LedgerError) as exc:
        if isinstance(exc, LedgerError) and exc.code != "key_reused":
            raise _clear(exc) from exc
        existing = _existing(trust, key, values)
        if existing is None:
            raise
        return existing


def _clear(exc: LedgerError) -> ValidationError:
    """A ledger refusal on the field it is about."""
    if exc.code in ("period_closed", "refused_by_database"):
        return field_error("effective_date", " ".join(exc.messages), code=exc.code)
    if exc.code == "trust_closed":
        return ValidationError(" ".join(exc.messages), code=exc.code)
    return field_error("amount", " ".join(exc.messages), code=exc.code or "refused")


# --- interest ---------------------------------------------------------------------------------


def interest_allocate(
    *,
    actor: Any | None,
    trust: Trust,
    bank_account: Account,
    amount: Money,
    period_start: date,
    period_end: date,
    effective_date: date,
    idempotency_key: str,
    line: StatementLine | None = None,
    description: str = "",
) -> SharedCharge:
    """Share interest the bank credited to ``bank_account`` among the beneficiaries' sub-ledgers
    in its currency, in proportion to each one's average daily balance over [period_start,
    period_end] (end-of-day balances from the daily movements; a day below zero counts as zero),
    exact to the cent by largest remainder (ties to the older sub-ledger), as ONE entry: the bank
    debited, each sub-ledger credited its share. If no child held money in the period, the
    interest goes to unallocated (visible, for a trustee to resolve), not refused: the bank did
    pay it. The schedule is kept with the charge.

    Refuses (``ValidationError``, nothing written): not a trustee, a zero, negative or
    over-precise amount, a bank account of another trust, not a bank account or in another
    currency, a period that ends before it starts, is longer than 366 days or ends after the
    interest was credited, a date in the future or in the closed period, a statement line of
    another account, amount or already recorded. The same key again returns the first charge;
    with other details it is refused (``key_reused``)."""
    require(
        actor,
        Action.BANK_MANAGE,
        trust,
        "Only a trustee of the trust records interest.",
        "not_trustee",
        system=True,
    )
    minor = positive_minor(amount, "amount")
    currency = amount.currency.code
    bank = _bank(trust, bank_account, currency, "bank_account")
    effective_date = _date(effective_date, "effective_date", trust)
    for field, value in (("period_start", period_start), ("period_end", period_end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise field_error(field, "A date is required.", code="required")
    if period_end < period_start:
        raise field_error("period_end", "The period ends before it starts.", code="period_reversed")
    if (period_end - period_start).days + 1 > MAX_PERIOD_DAYS:
        raise field_error(
            "period_end",
            f"An interest period is at most {MAX_PERIOD_DAYS} days.",
            code="period_too_long",
        )
    if period_end > effective_date:
        raise field_error(
            "period_end",
            "The period ends after the interest was credited.",
            code="period_after_credit",
        )
    key = _key(idempotency_key)
    description = " ".join((description or "").split())[:300]
    _line(trust, line, bank, minor, currency)
    values = {
        "kind": SharedCharge.Kind.INTEREST,
        "rule": SharedCharge.Rule.AVERAGE_DAILY_BALANCE,
        "amount_minor": minor,
        "currency": currency,
        "effective_date": effective_date,
        "period_start": period_start,
        "period_end": period_end,
        "order_reference": "",
        "description": description,
        "line": getattr(line, "pk", None),
        "account": bank.pk,
    }
    existing = _existing(trust, key, values)
    if existing is not None:
        return existing

    def build() -> tuple[Schedule, list[Leg], str, str]:
        schedule = interest_schedule(
            trust=trust,
            currency=currency,
            amount_minor=minor,
            period_start=period_start,
            period_end=period_end,
        )
        legs = [Leg(bank.pk, from_minor(minor, currency))]
        legs += [
            Leg(row.account_id, from_minor(-row.share_minor, currency))
            for row in schedule.rows
            if row.share_minor
        ]
        if schedule.unallocated_minor:
            unallocated = role_account(
                trust=trust, role=Account.Role.UNALLOCATED, currency=currency
            )
            legs.append(Leg(unallocated.pk, from_minor(-schedule.unallocated_minor, currency)))
        memo = (
            f"Interest {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}, shared by average"
            " daily balance" + (f": {description}" if description else "")
        )
        return schedule, legs, memo, EntryKind.INTEREST

    return _post(trust=trust, actor=actor, key=key, values=values, line=line, build=build)


# --- fees and expenses ------------------------------------------------------------------------


def payable_account(trust: Trust, currency: str) -> Account:
    """The trust's amounts-payable account in ``currency`` (2800-PAYABLE, opened with the trust
    in its base currency; opened on first use in another, as unallocated accounts are)."""
    return role_account(trust=trust, role=Account.Role.PAYABLE, currency=currency)


def _locked_sub_ledgers(trust: Trust, currency: str, also: list[int]) -> list[SubLedger]:
    """Lock the trust's sub-ledgers in ``currency`` and the accounts ``also`` in primary-key
    order (as the posting service does), and read the sub-ledgers' balances under the lock."""
    rows = (
        Account.objects.select_for_update(of=("self",))
        .filter(Q(trust=trust, role=Account.Role.SUB_LEDGER, currency=currency) | Q(pk__in=also))
        .order_by("pk")
        .values_list("pk", "role", "beneficiary_id", "beneficiary__pseudonym", "balance_minor")
    )
    return [
        SubLedger(pk, beneficiary_id, pseudonym, int(balance))
        for pk, role, beneficiary_id, pseudonym, balance in rows
        if role == Account.Role.SUB_LEDGER
    ]


def fee_charge(
    *,
    actor: Any | None,
    trust: Trust,
    kind: str,
    amount: Money,
    effective_date: date,
    idempotency_key: str,
    order_reference: str = "",
    description: str = "",
    pay_from: Account | None = None,
    rule: str | None = None,
    line: StatementLine | None = None,
) -> SharedCharge:
    """Charge a fee or expense to the trust, in one entry (kind ``fee``): each sub-ledger in the
    amount's currency that holds money is debited its share, pro rata to its current balance or
    equally (``rule``; ``None`` is the trust's ``charge_sharing``), exact to the cent by largest
    remainder, never below what is reserved for it (a share that would be is capped there and the
    rest shared among the others); with ``rule="admin"`` the administration fund alone bears it.
    Paid now from the bank account ``pay_from`` (credited), or later (``pay_from=None``: amounts
    payable credited).

    Refuses (``ValidationError``, nothing written): not a trustee, an unknown kind or rule, a
    trustee's fee or expense without the court order's reference, a bad amount, a ``pay_from``
    that is not this trust's bank account in the amount's currency, a date in the future or the
    closed period, a statement line that does not match, and less free balance (balance less what
    is reserved) among the children than the fee (code ``insufficient_funds``, naming the
    shortfall), or less in the administration fund. The same key again returns the first charge;
    with other details it is refused (``key_reused``)."""
    require(
        actor,
        Action.BANK_MANAGE,
        trust,
        "Only a trustee of the trust charges fees and expenses.",
        "not_trustee",
        system=True,
    )
    if kind not in FEE_KINDS:
        raise field_error("kind", f"Unknown kind of charge {kind!r}.", code="bad_kind")
    minor = positive_minor(amount, "amount")
    currency = amount.currency.code
    effective_date = _date(effective_date, "effective_date", trust)
    order_reference = " ".join((order_reference or "").split())[:200]
    if kind in ORDERED_KINDS and not order_reference:
        raise field_error(
            "order_reference",
            "Give the reference of the court order that approved it.",
            code="order_missing",
        )
    rule = rule or trust.charge_sharing
    if rule not in FEE_RULES:
        raise field_error("rule", f"Unknown sharing rule {rule!r}.", code="bad_rule")
    bank = _bank(trust, pay_from, currency, "pay_from") if pay_from is not None else None
    key = _key(idempotency_key)
    description = " ".join((description or "").split())[:300]
    _line(trust, line, bank, -minor, currency)
    values = {
        "kind": kind,
        "rule": rule,
        "amount_minor": minor,
        "currency": currency,
        "effective_date": effective_date,
        "period_start": None,
        "period_end": None,
        "order_reference": order_reference,
        "description": description,
        "line": getattr(line, "pk", None),
        "account": bank.pk if bank is not None else "payable",
    }
    existing = _existing(trust, key, values)
    if existing is not None:
        return existing
    label = SharedCharge.Kind(kind).label
    memo = (
        f"{label}"
        + (f", order {order_reference}" if order_reference else "")
        + (f": {description}" if description else "")
        + ("" if bank is not None else " (payable)")
    )

    def build() -> tuple[Schedule, list[Leg], str, str]:
        counter = bank if bank is not None else payable_account(trust, currency)
        credit = Leg(counter.pk, from_minor(-minor, currency))
        if rule == SharedCharge.Rule.ADMINISTRATION:
            fund = role_account(trust=trust, role=Account.Role.ADMINISTRATION, currency=currency)
            held = dict(
                Account.objects.select_for_update()
                .filter(pk__in=sorted({fund.pk, counter.pk}))
                .order_by("pk")
                .values_list("pk", "balance_minor")
            )[fund.pk]
            if held < minor:
                raise field_error(
                    "amount",
                    f"The administration fund holds {format_money(from_minor(held, currency))}:"
                    f" {format_money(from_minor(minor - held, currency))} short of"
                    f" {format_money(from_minor(minor, currency))}.",
                    code="insufficient_funds",
                )
            schedule = fee_schedule(
                trust=trust, kind=kind, rule=rule, currency=currency, amount_minor=minor
            )
            return (
                schedule,
                [Leg(fund.pk, from_minor(minor, currency)), credit],
                memo,
                EntryKind.FEE,
            )
        held_rows = _locked_sub_ledgers(trust, currency, [counter.pk])
        schedule = fee_schedule(
            trust=trust,
            kind=kind,
            rule=rule,
            currency=currency,
            amount_minor=minor,
            held=held_rows,
        )
        legs = [credit] + [
            Leg(row.account_id, from_minor(row.share_minor, currency))
            for row in schedule.rows
            if row.share_minor
        ]
        return schedule, legs, memo, EntryKind.FEE

    return _post(trust=trust, actor=actor, key=key, values=values, line=line, build=build)
