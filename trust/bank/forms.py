"""Forms of the bank pages: they parse what a trustee typed and nothing else; the services in
``trust.bank.services`` check every rule, and their refusals come back on the field they name
(``trust.forms.add_service_errors``)."""

from __future__ import annotations

from typing import Any

from django import forms

from trust.bank.models import StatementLine
from trust.bank.parsing.base import CsvMapping
from trust.bank.services.statements import FORMATS

FORMAT_LABELS = {
    "camt.053": "ISO 20022 camt.053 (statement)",
    "camt.054": "ISO 20022 camt.054 (notification)",
    "ofx": "OFX or QFX",
    "mt940": "SWIFT MT940",
    "csv": "CSV (with the columns below)",
}


class BankDetailsForm(forms.Form):
    """Which account at which bank a ledger bank account is."""

    number = forms.CharField(
        max_length=64,
        label="IBAN or account number",
        help_text="As on the bank's statements; a statement for another number is refused.",
    )
    bank_name = forms.CharField(max_length=200, required=False, label="Bank")
    match_window_days = forms.IntegerField(
        min_value=0,
        max_value=60,
        initial=5,
        label="Matching window (days)",
        help_text="How many days apart a statement line and a ledger entry may be to match.",
    )


CSV_FIELDS = (
    ("date_column", "Booking date column"),
    ("amount_column", "Amount column (signed)"),
    ("debit_column", "Debit column (money out)"),
    ("credit_column", "Credit column (money in)"),
    ("description_column", "Description column"),
    ("reference_column", "Reference column"),
    ("counterparty_column", "Payer or payee column"),
    ("bank_reference_column", "Bank's own reference column"),
    ("value_date_column", "Value date column"),
    ("balance_column", "Running balance column"),
)


class StatementUploadForm(forms.Form):
    """A file of the bank's statements and, for a CSV, how its columns are read."""

    file = forms.FileField(
        label="Statement file",
        help_text="camt.053 or camt.054 (XML), OFX or QFX, MT940, or CSV. Checked first: "
        "nothing is written until you record it.",
    )
    format = forms.ChoiceField(
        required=False,
        label="Format",
        choices=[("", "Recognise it from the file"), *FORMAT_LABELS.items()],
    )
    date_format = forms.CharField(
        max_length=40,
        required=False,
        label="CSV date format",
        help_text="As Python writes it: %Y-%m-%d for 2026-03-31, %d.%m.%Y for 31.03.2026.",
    )
    delimiter = forms.CharField(max_length=2, required=False, label="CSV separator", strip=False)
    encoding = forms.CharField(max_length=20, required=False, label="CSV encoding")
    skip_rows = forms.IntegerField(
        min_value=0, max_value=100, required=False, label="Lines before the CSV header"
    )
    decimal_comma = forms.BooleanField(required=False, label="Amounts with a decimal comma")
    negate = forms.BooleanField(required=False, label="Money out is written as a positive amount")
    save_mapping = forms.BooleanField(
        required=False,
        label="Keep these CSV columns for this account's next import",
        help_text="Saved when the file is recorded.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in CSV_FIELDS:
            self.fields[name] = forms.CharField(max_length=100, required=False, label=label)
        self.order_fields(
            [
                "file",
                "format",
                *(name for name, _ in CSV_FIELDS),
                "date_format",
                "delimiter",
                "decimal_comma",
                "negate",
                "encoding",
                "skip_rows",
                "save_mapping",
            ]
        )

    def clean_format(self) -> str:
        value = self.cleaned_data.get("format") or ""
        if value and value not in FORMATS:
            raise forms.ValidationError("Choose one of the formats listed.")
        return value

    def mapping(self) -> CsvMapping | None:
        """The CSV mapping typed, or None when no date column is named (the saved one, if any,
        is used)."""
        data = self.cleaned_data
        if not data.get("date_column", "").strip():
            return None
        values: dict[str, Any] = {
            name: data.get(name, "").strip() for name, _ in CSV_FIELDS if data.get(name)
        }
        if data.get("date_format", "").strip():
            values["date_format"] = data["date_format"].strip()
        if data.get("delimiter"):
            values["delimiter"] = "\t" if data["delimiter"] in {"\\t", "tab"} else data["delimiter"]
        if data.get("encoding", "").strip():
            values["encoding"] = data["encoding"].strip()
        if data.get("skip_rows") is not None:
            values["skip_rows"] = data["skip_rows"]
        values["decimal_comma"] = bool(data.get("decimal_comma"))
        values["negate"] = bool(data.get("negate"))
        return CsvMapping(**values)


def mapping_initial(mapping: CsvMapping | None) -> dict[str, Any]:
    """The upload form's CSV fields filled with ``mapping`` (the account's saved one)."""
    if mapping is None:
        return {"date_format": CsvMapping.date_format, "delimiter": ",", "encoding": "utf-8"}
    return dict(mapping.__dict__)


class LineFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        label="State",
        choices=[("", "Every line"), *StatementLine.State.choices],
    )
    q = forms.CharField(
        max_length=100,
        required=False,
        label="Search",
        help_text="Reference, description, payer or payee, bank reference.",
    )


class MatchForm(forms.Form):
    """Lines and entries that are the same money, chosen by hand."""

    entries = forms.TypedMultipleChoiceField(
        coerce=int, label="Ledger entries", widget=forms.CheckboxSelectMultiple
    )
    lines = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Other statement lines in the same match",
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(max_length=300, required=False, label="Note")
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Reason",
        help_text="Needed when the line is in a period already reconciled and signed off.",
    )

    def __init__(self, *args: Any, entries: list[Any], lines: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entries"].choices = [(e.entry_id, f"entry #{e.entry_id}") for e in entries]
        self.fields["lines"].choices = [(line.pk, f"line #{line.pk}") for line in lines]


class UndoMatchForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        label="Why undo this match",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded, and shown against a reconciliation already signed off.",
    )


class ExplainForm(forms.Form):
    explanation = forms.CharField(
        max_length=500,
        label="What this line is",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For what the ledger should not hold (a bank error the bank will correct): "
        "it stays a listed item of every reconciliation.",
    )


class SignOffForm(forms.Form):
    note = forms.CharField(
        max_length=2000,
        required=False,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the figures as signed.",
    )
