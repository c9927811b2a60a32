"""Importing a restitution order's lines (or an amended judgment's) from a CSV file, all or nothing,
through ``order_create``/``order_amend`` (``manage.py import_order``)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db import transaction
from moneyed import Money

from trust.models import Beneficiary, OrderLine, RestitutionOrder, Trust
from trust.money import from_minor
from trust.services.imports.csv_rows import (
    CsvImportError,
    ImportResult,
    RowErrors,
    defendants_by_name,
    normalised_name,
    parse_amount,
    parse_currency,
    plain_amount,
    quoted,
    read_table,
    row_limit,
    unknown_defendant_error,
)
from trust.services.imports.locks import import_lock
from trust.services.orders import LineSpec, order_amend, order_create

ORDER_COLUMNS = ("beneficiary", "amount", "currency", "defendants")
ORDER_OPTIONAL = ("liability",)
_LINE_REF = re.compile(r"\bline (\d+)\b")


def _line_field(message: str) -> str | None:
    """The column a line refusal of the order service is about (its errors carry no code per
    field, so the wording decides; see ``trust.services.orders._check_lines``)."""
    text = message.lower()
    for words, column in (
        (("liability",), "liability"),
        (("defendant", "repeats line"), "defendants"),
        (("beneficiary",), "beneficiary"),
        (("currenc", "this amount is in"), "currency"),
        (("amount", "decimal"), "amount"),
    ):
        if any(word in text for word in words):
            return column
    return None


def _order_error(exc: ValidationError, row_of_line: list[int]) -> CsvImportError:
    """A refusal by the order service, with its line numbers turned into the file's rows."""

    def to_rows(text: str) -> str:
        return _LINE_REF.sub(
            lambda m: (
                f"row {row_of_line[int(m.group(1)) - 1]}"
                if 0 < int(m.group(1)) <= len(row_of_line)
                else m.group(0)
            ),
            text,
        )

    if not hasattr(exc, "error_dict"):
        return CsvImportError(to_rows(" ".join(exc.messages)), code=exc.code or "invalid")
    name, errors = next(iter(exc.error_dict.items()))
    error = errors[0]
    text = " ".join(error.messages)
    if name == "lines":
        match = re.match(r"line (\d+):\s*(.*)", text, re.DOTALL)
        if match and 0 < int(match.group(1)) <= len(row_of_line):
            return CsvImportError(
                to_rows(match.group(2)),
                row=row_of_line[int(match.group(1)) - 1],
                field=_line_field(match.group(2)),
                code=error.code or "invalid",
            )
    field_name = None if name in ("__all__", "lines") else name
    return CsvImportError(to_rows(text), field=field_name, code=error.code or "invalid")


def _order_lines(
    trust: Trust, table: list[tuple[int, dict[str, str]]], currency: str
) -> list[LineSpec]:
    beneficiaries = {b.pseudonym: b for b in Beneficiary.objects.filter(trust=trust)}
    defendants = defendants_by_name(trust)
    specs: list[LineSpec] = []
    seen: dict[tuple[int, frozenset[int]], int] = {}
    errors = RowErrors()
    for row, cells in table:
        with errors.row():
            pseudonym = cells["beneficiary"]
            if not pseudonym:
                raise CsvImportError(
                    "a beneficiary pseudonym is required",
                    row=row,
                    field="beneficiary",
                    code="required",
                )
            beneficiary = beneficiaries.get(pseudonym)
            if beneficiary is None:
                raise CsvImportError(
                    f"{quoted(pseudonym, 60)} is not the pseudonym of a beneficiary of this trust",
                    row=row,
                    field="beneficiary",
                    code="unknown_beneficiary",
                )
            plain_amount(cells["amount"], row, "amount")  # before the currency: columns in order
            line_currency = parse_currency(cells["currency"], row=row)
            if line_currency != currency:
                raise CsvImportError(
                    f"the order total is in {currency}; this line is in {line_currency}",
                    row=row,
                    field="currency",
                    code="currency_mismatch",
                )
            minor = parse_amount(cells["amount"], currency, row=row)
            names = [normalised_name(part) for part in cells["defendants"].split(";")]
            names = [n for n in names if n]
            if not names:
                raise CsvImportError(
                    "name the defendant(s) who owe this line, separated by ;",
                    row=row,
                    field="defendants",
                    code="required",
                )
            repeated = [n for n, seen in Counter(names).items() if seen > 1]
            if repeated:
                raise CsvImportError(
                    f"{quoted(repeated[0], 60)} is named twice",
                    row=row,
                    field="defendants",
                    code="defendant_repeated",
                )
            owing = []
            for name in names:
                if name not in defendants:
                    raise unknown_defendant_error(name, defendants, row, "defendants")
                owing.append(defendants[name])
            liability = cells.get("liability", "").lower() or None
            if liability is not None and liability not in OrderLine.Liability.values:
                raise CsvImportError(
                    f"{quoted(cells['liability'])} is not a liability: write several or joint, or leave it"
                    " blank",
                    row=row,
                    field="liability",
                    code="bad_liability",
                )
            signature = (beneficiary.pk, frozenset(d.pk for d in owing))
            if signature in seen:
                raise CsvImportError(
                    f"same beneficiary and defendants as row {seen[signature]}: state the amount once",
                    row=row,
                    field="defendants",
                    code="line_repeated",
                )
            seen[signature] = row
            specs.append(
                LineSpec(
                    beneficiary=beneficiary,
                    amount=from_minor(minor, currency),
                    defendants=owing,
                    liability=liability,
                )
            )
        if errors.full:
            break
    errors.raise_any()
    return specs


def _same_lines(order: RestitutionOrder, specs: list[LineSpec], total: Money) -> bool:
    """Whether ``order`` already states exactly these lines and this total (a re-import)."""
    if order.total != total:
        return False
    stored = list(order.lines.prefetch_related("defendants").order_by("position"))
    if len(stored) != len(specs):
        return False
    for line, spec in zip(stored, specs, strict=True):
        ids = {d.pk for d in spec.defendants}
        liability = spec.liability or ("several" if len(ids) == 1 else "joint")
        if (
            line.beneficiary_id != spec.beneficiary.pk
            or line.amount != spec.amount
            or line.liability != liability
            or {d.pk for d in line.defendants.all()} != ids
        ):
            return False
    return True


def order_import(
    *,
    trust: Trust,
    actor: Any | None,
    rows: TextIO | str | bytes,
    court: str,
    case_number: str,
    judgment_date: date,
    total: Money,
    document_reference: str = "",
    payment_terms: str | None = None,
    schedule_note: str | None = None,
    first_payment_due: date | None = None,
    amends: RestitutionOrder | None = None,
    reason: str = "",
    max_rows: int | None = None,
) -> ImportResult:
    """Record a restitution order (or, with ``amends``, an amended judgment) whose lines come from
    a CSV file: beneficiary, amount, currency, defendants (``;``-separated) and optionally
    liability. All or nothing, through ``order_create``/``order_amend``.

    Refuses (``CsvImportError`` naming the row and column, nothing written) an unknown pseudonym
    or defendant, a malformed amount, a line in another currency than ``total``, and everything
    the order service refuses (its line numbers become the file's rows), such as a total that
    does not match the lines. Importing the same order again (same case, date, lines and total)
    writes nothing and reports the lines as already recorded, with the order that holds them;
    two runs at once record it once: the second waits for the first (``import_lock``) and then
    finds its order."""
    currency = total.currency.code if isinstance(total, Money) else ""
    if not currency:
        raise CsvImportError("an amount with its currency is required", field="total")
    if amends is not None:
        if amends.trust_id != trust.pk:
            raise CsvImportError(
                "that order is not one of this trust's", field="amends", code="foreign_order"
            )
        for name, given, stated in (
            ("court", court, amends.court),
            ("case_number", case_number, amends.case_number),
        ):
            if (given or "").strip() and (given or "").strip() != stated:
                raise CsvImportError(
                    f"the order being amended is of {stated!r}", field=name, code="mismatch"
                )
    table = read_table(
        rows, required=ORDER_COLUMNS, optional=ORDER_OPTIONAL, max_rows=row_limit(max_rows)
    )
    row_of_line = [row for row, _ in table]
    specs = _order_lines(trust, table, currency)
    count = len(specs)

    try:
        with transaction.atomic():
            # Under the lock, a run of the same file that started first has committed (or
            # rolled back): its order is found below instead of being recorded twice.
            import_lock(trust, "order")
            twin = _recorded_twin(trust, specs, total, court, case_number, judgment_date, amends)
            if twin is not None:
                return ImportResult(rows_read=count, created=0, already_recorded=count, order=twin)
            if amends is None:
                order = order_create(
                    trust=trust,
                    actor=actor,
                    court=court,
                    case_number=case_number,
                    judgment_date=judgment_date,
                    total=total,
                    lines=specs,
                    payment_terms=payment_terms or RestitutionOrder.PaymentTerms.LUMP_SUM,
                    schedule_note=schedule_note or "",
                    first_payment_due=first_payment_due,
                    document_reference=document_reference,
                )
            else:
                order = order_amend(
                    order=amends,
                    actor=actor,
                    reason=reason,
                    judgment_date=judgment_date,
                    total=total,
                    lines=specs,
                    document_reference=document_reference,
                    payment_terms=payment_terms,
                    schedule_note=schedule_note,
                    first_payment_due=first_payment_due,
                )
    except ValidationError as exc:
        raise _order_error(exc, row_of_line) from exc
    return ImportResult(rows_read=count, created=count, already_recorded=0, order=order)


def _recorded_twin(
    trust: Trust,
    specs: list[LineSpec],
    total: Money,
    court: str,
    case_number: str,
    judgment_date: date,
    amends: RestitutionOrder | None,
) -> RestitutionOrder | None:
    """The order (or amended judgment) already recorded with exactly these lines, if any."""
    if amends is None:
        twins = RestitutionOrder.objects.filter(
            trust=trust,
            court=(court or "").strip(),
            case_number=(case_number or "").strip(),
            judgment_date=judgment_date,
            supersedes__isnull=True,
        ).order_by("pk")
    else:
        twins = RestitutionOrder.objects.filter(supersedes=amends, judgment_date=judgment_date)
    return next((twin for twin in twins if _same_lines(twin, specs, total)), None)
