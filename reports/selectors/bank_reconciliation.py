"""The figures of a bank reconciliation (``reports/documents/bank_reconciliation.py``) and the
signed-off reconciliations the account to the court shows: always the figures as signed off
(``Reconciliation.figures``, with their SHA-256), never recomputed from today's books, and the
changes recorded against them since."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse

from reports.models import Report
from reports.periods import Period
from reports.selectors.entries import entry_infos
from trust.access import visible_reports
from trust.models import BankAccount, Reconciliation, ReconciliationChange, Trust


def signer_label(user: Any) -> str:
    """Who signed off, as a document names them: the username (never anyone's other details)."""
    return user.get_username() if user is not None else "(unknown)"


def utc_label(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class ChangeRow:
    """A change recorded against the reconciliation after it was signed off."""

    at: str
    what: str
    amount_minor: int
    by: str
    reason: str


@dataclass
class SignedReconciliation:
    """One signed-off reconciliation as it was signed: the facts around it and its figures."""

    pk: int
    status: str
    as_of: date
    bank_label: str  # the bank's name and the account's number
    account_code: str
    currency: str
    statement_ref: str
    statement_from: date | None
    statement_to: date | None
    signed_off_at: datetime | None
    signed_off_by: str
    note: str
    figures: dict[str, Any]
    figures_sha256: str
    superseded_by: int | None
    changes: list[ChangeRow] = field(default_factory=list)
    # What each listed entry was, in the words of the court account's schedules
    # (``entry_infos``); an entry no longer in the ledger has none.
    entry_words: dict[int, str] = field(default_factory=dict)

    def minor(self, name: str) -> int:
        return int(self.figures.get(name, 0) or 0)

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.figures.get("items", []))

    @property
    def held(self) -> list[tuple[str, str, int]]:
        return [(str(r), str(label), int(amount)) for r, label, amount in self.figures["held"]]

    def facts(self) -> dict[str, Any]:
        """What a verification code covers: the signed figures' hash and every fact printed
        beside them (the figures themselves are what the hash is of)."""
        return {
            "reconciliation": self.pk,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "bank": self.bank_label,
            "account": self.account_code,
            "statement": self.statement_ref,
            "signed_off_at": self.signed_off_at.isoformat() if self.signed_off_at else None,
            "signed_off_by": self.signed_off_by,
            "figures_sha256": self.figures_sha256,
            "superseded_by": self.superseded_by,
            "changes": [[c.at, c.what, c.amount_minor, c.by] for c in self.changes],
            "entry_words": [
                [entry_id, words] for entry_id, words in sorted(self.entry_words.items())
            ],
        }


def _signed(rec: Reconciliation) -> SignedReconciliation:
    bank = rec.bank_account
    changes = [
        ChangeRow(
            at=utc_label(change.at),
            what=change.what,
            amount_minor=change.amount_minor,
            by=signer_label(change.by) if change.by_id else "the system",
            reason=change.reason,
        )
        for change in ReconciliationChange.objects.filter(reconciliation=rec)
        .select_related("by")
        .order_by("at", "id")
    ]
    entry_ids = [item["entry_id"] for item in rec.figures.get("items", []) if item.get("entry_id")]
    entry_words = {pk: info.description for pk, info in entry_infos(entry_ids).items()}
    return SignedReconciliation(
        pk=rec.pk,
        status=rec.status,
        as_of=rec.as_of,
        bank_label=f"{bank.bank_name or 'Bank'} {bank.number}",
        account_code=bank.account.code,
        currency=bank.account.currency,
        statement_ref=rec.statement.statement_id,
        statement_from=rec.statement.from_date,
        statement_to=rec.statement.to_date,
        signed_off_at=rec.signed_off_at,
        signed_off_by=signer_label(rec.signed_off_by),
        note=rec.note,
        figures=rec.figures,
        figures_sha256=rec.figures_sha256,
        superseded_by=rec.superseded_by_id,
        changes=changes,
        entry_words={pk: entry_words[pk][:200] for pk in entry_ids if pk in entry_words},
    )


@dataclass
class BankReconciliationFigures:
    trust: Trust
    period: Period
    reconciliation: SignedReconciliation

    @property
    def subject(self) -> dict[str, Any]:
        return {"reconciliation": self.reconciliation.pk}

    def figures(self) -> dict[str, Any]:
        return {"signed": self.reconciliation.figures, **self.reconciliation.facts()}


def bank_reconciliation_figures(*, reconciliation_id: int) -> BankReconciliationFigures:
    """A signed-off reconciliation as it was signed (a draft is refused: it has no figures)."""
    rec = Reconciliation.objects.select_related(
        "trust", "bank_account__account", "statement", "signed_off_by"
    ).get(pk=reconciliation_id)
    if rec.status == Reconciliation.Status.DRAFT or not rec.figures:
        raise ValidationError("Only a signed-off reconciliation is printed.", code="not_signed_off")
    return BankReconciliationFigures(
        trust=rec.trust, period=Period(rec.as_of, rec.as_of), reconciliation=_signed(rec)
    )


def signed_reconciliations(
    *, trust: Trust, currency: str, on_or_before: date
) -> list[tuple[str, SignedReconciliation | None]]:
    """For each of ``trust``'s bank accounts in ``currency`` (by ledger code): its latest
    signed-off reconciliation on or before ``on_or_before``, or None."""
    out: list[tuple[str, SignedReconciliation | None]] = []
    banks = (
        BankAccount.objects.filter(trust=trust, account__currency=currency)
        .select_related("account")
        .order_by("account__code", "pk")
    )
    for bank in banks:
        rec = (
            Reconciliation.objects.filter(
                bank_account=bank,
                status=Reconciliation.Status.SIGNED_OFF,
                as_of__lte=on_or_before,
            )
            .select_related("bank_account__account", "statement", "signed_off_by")
            .order_by("-as_of", "-id")
            .first()
        )
        label = f"{bank.bank_name or 'Bank'} {bank.number} (ledger {bank.account.code})"
        out.append((label, _signed(rec) if rec is not None else None))
    return out


def reconciliation_document_url(reconciliation: Reconciliation, user: Any) -> str:
    """The newest generated document of ``reconciliation`` that ``user`` may read, or ""."""
    found = (
        visible_reports(user)
        .filter(reconciliation=reconciliation, status=Report.Status.DONE)
        .order_by("-id")
        .values_list("uid", flat=True)
        .first()
    )
    return reverse("report-detail", kwargs={"uid": found}) if found else ""
