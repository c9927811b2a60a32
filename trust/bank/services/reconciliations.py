"""Signing off a three-way reconciliation.

A trustee signs off the reconciliation of a bank account on a statement's date once every
difference is a listed item (nothing unexplained). Its figures and items are kept as signed, with
their SHA-256, and it is locked: a later change to what it covered is recorded against it (see
``trust.bank.services.matching``) or shows as a drift when the books are read again
(``reconciliation_drift``). Reconciling the same date again supersedes it, never edits it.
Other apps act on a sign-off through ``signed_off_hook_register`` (the reports app makes its PDF).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from trust.access import require
from trust.audit.events import audit_record
from trust.bank.models import BankAccount, BankStatement, Reconciliation
from trust.bank.selectors.reconciliation import reconciliation_figures
from trust.roles import Action

SignedOffHook = Callable[[Reconciliation, Any], None]
_HOOKS: list[SignedOffHook] = []


def signed_off_hook_register(fn: SignedOffHook) -> None:
    if fn not in _HOOKS:
        _HOOKS.append(fn)


def reconciliation_sign_off(
    *, actor: Any, bank: BankAccount, statement: BankStatement, note: str = ""
) -> Reconciliation:
    require(
        actor,
        Action.BANK_MANAGE,
        bank.trust,
        "Only a trustee of this trust may sign off its bank reconciliations.",
        "not_trustee",
    )
    if actor is None or not getattr(actor, "pk", None):
        raise ValidationError("A reconciliation is signed off by a person.", code="no_person")
    with transaction.atomic(durable=True):
        BankAccount.objects.select_for_update().filter(pk=bank.pk).first()
        figures = reconciliation_figures(bank=bank, statement=statement)
        if figures.unexplained_minor:
            raise ValidationError(
                f"{figures.unexplained_minor} (minor units) of the difference between the bank"
                " and the ledger is not explained by any listed item: the books or the matches"
                " were changed outside the application. Run check_ledger; nothing was signed.",
                code="unexplained",
            )
        as_of = statement.to_date
        previous = list(
            Reconciliation.objects.select_for_update().filter(
                bank_account=bank, as_of=as_of, status=Reconciliation.Status.SIGNED_OFF
            )
        )
        rec = Reconciliation.objects.create(
            trust_id=bank.trust_id,
            bank_account=bank,
            as_of=as_of,
            statement=statement,
            status=Reconciliation.Status.DRAFT,
            created_by=actor,
        )
        if previous:
            Reconciliation.objects.filter(pk__in=[p.pk for p in previous]).update(
                status=Reconciliation.Status.SUPERSEDED, superseded_by=rec
            )
        digest = figures.sha256()
        Reconciliation.objects.filter(pk=rec.pk).update(
            status=Reconciliation.Status.SIGNED_OFF,
            bank_closing_minor=figures.bank_closing_minor,
            adjusted_bank_minor=figures.adjusted_bank_minor,
            ledger_bank_minor=figures.ledger_bank_minor,
            held_minor=figures.held_minor,
            unexplained_minor=figures.unexplained_minor,
            figures=figures.as_json(),
            figures_sha256=digest,
            signed_off_at=timezone.now(),
            signed_off_by=actor,
            note=note.strip()[:2000],
        )
        rec.refresh_from_db()
        audit_record(
            action="bank.reconciliation_signed_off",
            actor=actor,
            trust_id=bank.trust_id,
            object_type="reconciliation",
            object_id=rec.pk,
            changes={
                "bank_account": bank.number,
                "as_of": as_of.isoformat() if as_of else None,
                "statement": statement.statement_id,
                "bank_closing_minor": figures.bank_closing_minor,
                "adjusted_bank_minor": figures.adjusted_bank_minor,
                "ledger_bank_minor": figures.ledger_bank_minor,
                "held_minor": figures.held_minor,
                "items": len(figures.items),
                "figures_sha256": digest,
                "supersedes": [p.pk for p in previous],
            },
            reason=note.strip()[:2000],
        )
        for hook in _HOOKS:
            hook(rec, actor)
    return rec
