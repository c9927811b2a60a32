"""CSV imports of orders and receipts: good files land whole, bad files change nothing and the
error names the row (as a spreadsheet numbers it, header = 1) and the column."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moneyed import Money

from tests.factories import TrustFactory, appoint
from trust.invariants import ledger_violations
from trust.models import (
    Account,
    Allocation,
    JournalEntry,
    OrderLine,
    Posting,
    Receipt,
    RestitutionOrder,
)
from trust.services.imports import CsvImportError, order_import, receipts_import
from trust.services.people import beneficiary_create, defendant_create
from trust.services.trusts import account_create

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
D1 = "Invented Defendant One"
D2 = "Invented Defendant Two"
ORDER_HEADER = "beneficiary,amount,currency,defendants,liability\n"
COURT = "District Court for the Fictional District"
CASE = "1:25-cr-00042"
RECEIPT_HEADER = "received_on,amount,currency,source,payer,bank_account,bank_reference,key,memo\n"


def usd(value: str) -> Money:
    return Money(value, "USD")


def counts() -> dict[str, int]:
    """Rows of everything an import could write."""
    return {
        model.__name__: model.objects.count()
        for model in (Receipt, Allocation, JournalEntry, Posting, RestitutionOrder, OrderLine)
    }


def balance(account: Account) -> Money:
    return Account.objects.get(pk=account.pk).balance


@pytest.fixture
def case():
    """The trust of docs/imports.md: three beneficiaries, two defendants, no order yet."""
    trust = TrustFactory()
    d1 = defendant_create(trust=trust, name=D1)
    d2 = defendant_create(trust=trust, name=D2)
    mvs = [
        beneficiary_create(trust=trust, pseudonym=f"MV-{n}", date_of_birth=date(2013, n, 1))
        for n in (1, 2, 3)
    ]
    return trust, d1, d2, mvs


@pytest.fixture
def ordered(case):
    """The case with the order of docs/examples/order_lines.csv recorded."""
    trust, d1, d2, mvs = case
    result = import_example_order(trust)
    return trust, d1, d2, mvs, result.order


def import_example_order(trust, **extra):
    return order_import(
        trust=trust,
        actor=None,
        rows=(EXAMPLES / "order_lines.csv").read_text(encoding="utf-8"),
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=usd("17500.00"),
        **extra,
    )


def order_rows(*lines: str) -> str:
    return ORDER_HEADER + "".join(f"{line}\n" for line in lines)


def receipt_rows(*lines: str) -> str:
    return RECEIPT_HEADER + "".join(f"{line}\n" for line in lines)


def import_order(trust, text: str, total: str = "15000.00", **extra):
    return order_import(
        trust=trust,
        actor=None,
        rows=text,
        court=COURT,
        case_number=CASE,
        judgment_date=date(2025, 3, 1),
        total=usd(total),
        **extra,
    )


def refused(call, *args, **kwargs) -> CsvImportError:
    """Run an import that must be refused; check it wrote nothing; return the error."""
    before = counts()
    with pytest.raises(CsvImportError) as caught:
        call(*args, **kwargs)
    assert counts() == before
    return caught.value


GOOD_ORDER = order_rows(f"MV-1,10000.00,USD,{D1};{D2},", f"MV-2,5000.00,USD,{D1},")


# --- orders ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_order_import_records_lines_with_their_defendants(case):
    trust, d1, d2, (mv1, mv2, _mv3) = case
    result = import_order(trust, GOOD_ORDER)
    order = result.order
    assert (result.rows_read, result.created, result.already_recorded) == (2, 2, 0)
    assert order.total == usd("15000.00") and order.trust == trust
    lines = list(order.lines.order_by("position"))
    assert [(line.beneficiary, line.amount, line.liability) for line in lines] == [
        (mv1, usd("10000.00"), "joint"),
        (mv2, usd("5000.00"), "several"),
    ]
    assert set(lines[0].defendants.all()) == {d1, d2}
    assert list(lines[1].defendants.all()) == [d1]


def test_order_import_again_records_nothing_new(case):
    trust, *_ = case
    first = import_order(trust, GOOD_ORDER)
    before = counts()
    again = import_order(trust, GOOD_ORDER)
    assert counts() == before
    assert again.order == first.order
    assert (again.created, again.already_recorded) == (0, 2)


def test_order_import_of_another_order_on_the_same_day_is_recorded(case):
    trust, *_ = case
    import_order(trust, GOOD_ORDER)
    other = import_order(trust, order_rows(f"MV-3,2500.00,USD,{D2},"), total="2500.00")
    assert other.created == 1
    assert RestitutionOrder.objects.filter(trust=trust).count() == 2


def test_order_import_amends_and_keeps_what_was_collected(ordered):
    trust, _d1, _d2, (mv1, _mv2, _mv3), order = ordered
    receipts_import(
        trust=trust,
        actor=None,
        rows=receipt_rows(f"2025-06-02,3000.00,USD,clerk,{D1},,REF-1,,"),
    )
    text = order_rows(
        f"MV-1,12000.00,USD,{D1};{D2},joint", f"MV-2,5000.00,USD,{D1},", f"MV-3,2500.00,USD,{D2},"
    )
    result = import_order(
        trust, text, total="19500.00", amends=order, reason="Amended judgment, ECF No. 120"
    )
    amended = result.order
    order.refresh_from_db()
    assert order.status == "superseded" and amended.supersedes == order
    line = amended.lines.get(beneficiary=mv1)
    assert line.collected == usd("2000.00") and line.outstanding == usd("10000.00")


def test_order_import_amendment_again_records_nothing_new(ordered):
    trust, *_, order = ordered
    text = order_rows(f"MV-1,12000.00,USD,{D1};{D2},", f"MV-2,5000.00,USD,{D1},")
    import_order(trust, text, total="17000.00", amends=order, reason="ECF No. 120")
    before = counts()
    again = import_order(trust, text, total="17000.00", amends=order, reason="ECF No. 120")
    assert counts() == before and again.already_recorded == 2


def test_order_import_refuses_unknown_beneficiary(case):
    trust, *_ = case
    error = refused(
        import_order,
        trust,
        order_rows(f"MV-1,10000.00,USD,{D1},", f"MV-9,5000.00,USD,{D1},"),
    )
    assert (error.row, error.field) == (3, "beneficiary")
    assert "MV-9" in str(error)


def test_order_import_refuses_beneficiary_of_another_trust(case):
    trust, *_ = case
    other = TrustFactory()
    beneficiary_create(trust=other, pseudonym="MV-77")
    error = refused(import_order, trust, order_rows(f"MV-77,15000.00,USD,{D1},"))
    assert (error.row, error.field) == (2, "beneficiary")
    assert str(error).startswith("row 2, beneficiary: 'MV-77' is not the pseudonym")


def test_order_import_refuses_unknown_defendant_naming_it(case):
    trust, *_ = case
    error = refused(import_order, trust, order_rows(f"MV-1,15000.00,USD,{D1};Nobody Invented,"))
    assert (error.row, error.field) == (2, "defendants")
    assert "'Nobody Invented' is not a defendant of this trust" in str(error)


def test_order_import_suggests_a_defendant_differing_only_in_case(case):
    trust, *_ = case
    error = refused(import_order, trust, order_rows(f"MV-1,15000.00,USD,{D1.upper()},"))
    assert f"did you mean {D1!r}" in str(error)


def test_order_import_refuses_total_that_does_not_match_the_lines(case):
    trust, *_ = case
    error = refused(import_order, trust, GOOD_ORDER, total="16000.00")
    assert (error.row, error.field) == (None, "total")
    assert "does not match its lines" in str(error)


def test_order_import_refuses_line_in_another_currency_than_the_total(case):
    trust, *_ = case
    error = refused(import_order, trust, order_rows(f"MV-1,15000.00,PHP,{D1},"))
    assert (error.row, error.field) == (2, "currency")


def test_order_import_refuses_bad_amount(case):
    trust, *_ = case
    error = refused(import_order, trust, order_rows(f'MV-1,"15,000.00",USD,{D1},'))
    assert (error.row, error.field) == (2, "amount")
    assert "thousands separators" in str(error)


def test_order_import_refuses_unknown_liability(case):
    trust, *_ = case
    error = refused(import_order, trust, order_rows(f"MV-1,15000.00,USD,{D1},shared"))
    assert (error.row, error.field) == (2, "liability")


def test_order_import_refuses_repeated_line(case):
    trust, *_ = case
    text = order_rows(f"MV-1,10000.00,USD,{D1},", f"MV-1,5000.00,USD,{D1},")
    error = refused(import_order, trust, text)
    assert error.row == 3 and "as row 2" in str(error)


def test_order_import_gives_service_refusals_the_file_row(case):
    """order_create numbers lines from 1; a blank row in the file shifts the row number."""
    trust, *_ = case
    text = order_rows(f"MV-1,10000.00,USD,{D1},", "", f"MV-2,5000.00,USD,{D1};{D2},several")
    error = refused(import_order, trust, text)
    assert (error.row, error.field) == (4, "liability")
    assert str(error).startswith("row 4, liability: several liability means exactly one")


def test_order_import_refuses_amendment_of_another_trusts_order(ordered):
    _trust, *_, order = ordered
    other = TrustFactory()
    error = refused(import_order, other, GOOD_ORDER, amends=order, reason="x")
    assert error.field == "amends"


# --- receipts: good files --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_receipts_import_records_and_allocates_every_row(ordered):
    trust, _d1, _d2, (mv1, mv2, mv3), _order = ordered
    text = receipt_rows(
        f"2025-06-02,3000.00,USD,clerk,{D1},1000-BANK,CLK-1,,first payment",
        "2025-06-03,12.34,USD,interest,,,,,",
    )
    result = receipts_import(trust=trust, actor=None, rows=text)
    assert (result.rows_read, result.created, result.already_recorded) == (2, 2, 0)
    assert result.received == {"USD": usd("3012.34")}
    assert result.unallocated == {"USD": usd("12.34")}
    bank = trust.accounts.get(role=Account.Role.BANK)
    assert balance(bank) == usd("3012.34")
    # D1 owes MV-1 10,000 (with D2) and MV-2 5,000: 3,000 splits 2,000 / 1,000.
    assert balance(mv1.accounts.get()) == usd("2000.00")
    assert balance(mv2.accounts.get()) == usd("1000.00")
    assert balance(mv3.accounts.get()) == usd("0.00")
    first = Receipt.objects.get(bank_reference="CLK-1")
    assert first.memo == "first payment" and first.payer.name == D1
    assert ledger_violations(trust_id=trust.pk).ok


def test_receipts_import_again_records_nothing_new(ordered):
    trust, *_ = ordered
    text = (EXAMPLES / "receipts.csv").read_text(encoding="utf-8")
    first = receipts_import(trust=trust, actor=None, rows=text)
    before = counts()
    again = receipts_import(trust=trust, actor=None, rows=text)
    assert counts() == before
    assert (again.created, again.already_recorded) == (0, first.created)
    assert again.received == first.received


def test_receipts_import_records_identical_rows_without_key_as_two_receipts(ordered):
    trust, *_ = ordered
    row = f"2025-07-01,250.00,USD,defendant,{D2},,WIRE-7,,"
    result = receipts_import(trust=trust, actor=None, rows=receipt_rows(row, row))
    assert result.created == 2
    assert Receipt.objects.filter(trust=trust, bank_reference="WIRE-7").count() == 2


def test_receipts_import_of_a_longer_file_records_only_the_new_rows(ordered):
    trust, *_ = ordered
    row = f"2025-07-01,250.00,USD,defendant,{D2},,WIRE-7,,"
    receipts_import(trust=trust, actor=None, rows=receipt_rows(row))
    result = receipts_import(trust=trust, actor=None, rows=receipt_rows(row, row))
    assert (result.created, result.already_recorded) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_receipts_import_dry_run_writes_nothing_and_reports_figures(ordered):
    trust, *_ = ordered
    before = counts()
    result = receipts_import(
        trust=trust,
        actor=None,
        rows=receipt_rows(f"2025-06-02,20000.00,USD,clerk,{D2},,,,"),
        dry_run=True,
    )
    assert counts() == before
    assert result.dry_run and result.created == 1
    # D2 owes 10,000 jointly and 2,500 alone: 7,500 is left for a trustee.
    assert result.unallocated == {"USD": usd("7500.00")}


def test_receipts_import_accepts_bom_and_skips_blank_rows(ordered):
    trust, *_ = ordered
    text = "\ufeff" + receipt_rows("", "2025-06-02,10.00,USD,other,,,,,", ",,,,,,,,")
    assert receipts_import(trust=trust, actor=None, rows=text).created == 1


def test_receipts_import_reads_utf8_bytes(ordered):
    trust, *_ = ordered
    data = receipt_rows("2025-06-02,10.00,USD,other,,,,,Überweisung").encode("utf-8-sig")
    receipts_import(trust=trust, actor=None, rows=data)
    assert Receipt.objects.get(trust=trust).memo == "Überweisung"


def test_receipts_import_uses_the_named_bank_account(ordered):
    trust, *_ = ordered
    second = account_create(
        trust=trust,
        code="1010-BANK-2",
        name="Second account",
        type="asset",
        role="bank",
        currency="USD",
        no_negative=True,
    )
    receipts_import(
        trust=trust, actor=None, rows=receipt_rows("2025-06-02,10.00,USD,other,,1010-BANK-2,,,")
    )
    assert balance(second) == usd("10.00")


def test_receipts_import_counts_a_row_in_the_example_doc(ordered):
    """docs/examples/receipts.csv imports cleanly into the trust docs/imports.md builds."""
    trust, *_ = ordered
    result = receipts_import(
        trust=trust, actor=None, rows=(EXAMPLES / "receipts.csv").read_text(encoding="utf-8")
    )
    assert result.rows_read == result.created == 6
    assert ledger_violations(trust_id=trust.pk).ok


# --- receipts: bad files ---------------------------------------------------------------------------


def import_receipts(trust, text):
    return receipts_import(trust=trust, actor=None, rows=text)


GOOD_ROW = f"2025-06-02,100.00,USD,clerk,{D1},,,,"


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ('"1,000.00"', "thousands separators"),
        ("-5", "without a sign"),
        ("+5", "without a sign"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("1.234", "more than 2 decimal places"),
        ("abc", "plain decimal"),
        ("1e3", "exponent"),
        (".5", "plain decimal"),
        ("", "required"),
    ],
)
def test_receipts_import_refuses_bad_amount(ordered, amount, says):
    trust, *_ = ordered
    text = receipt_rows(GOOD_ROW, f"2025-06-02,{amount},USD,clerk,{D1},,,,")
    error = refused(import_receipts, trust, text)
    assert (error.row, error.field) == (3, "amount")
    assert says in str(error)
    assert str(error).startswith("row 3, amount: ")


def test_receipts_import_refuses_unknown_currency(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,XYZ,clerk,,,,,"))
    assert (error.row, error.field) == (2, "currency")


def test_receipts_import_refuses_currency_other_than_the_bank_accounts(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,PHP,clerk,,,,,"))
    assert (error.row, error.field) == (2, "currency")
    assert "1000-BANK holds USD" in str(error)


def test_receipts_import_refuses_unknown_source(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,USD,lottery,,,,,"))
    assert (error.row, error.field) == (2, "source")
    assert "clerk, defendant, forfeiture, interest, other" in str(error)


def test_receipts_import_refuses_unknown_payer(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,USD,clerk,Nobody,,,,"))
    assert (error.row, error.field) == (2, "payer")
    assert "'Nobody' is not a defendant" in str(error)


def test_receipts_import_refuses_unknown_bank_account(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,USD,clerk,,9999,,,"))
    assert (error.row, error.field) == (2, "bank_account")


def test_receipts_import_refuses_a_non_bank_account_code(ordered):
    trust, *_ = ordered
    text = receipt_rows("2025-06-02,10.00,USD,clerk,,2900-UNALLOCATED,,,")
    error = refused(import_receipts, trust, text)
    assert (error.row, error.field) == (2, "bank_account")


@pytest.mark.parametrize("when", ["2025-13-01", "01/06/2025", "20250601", "2025-6-1", ""])
def test_receipts_import_refuses_bad_date(ordered, when):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows(f"{when},10.00,USD,clerk,,,,,"))
    assert (error.row, error.field) == (2, "received_on")


def test_receipts_import_refuses_date_in_the_future(ordered):
    trust, *_ = ordered
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    error = refused(import_receipts, trust, receipt_rows(f"{tomorrow},10.00,USD,clerk,,,,,"))
    assert (error.row, error.field) == (2, "received_on")


@pytest.mark.django_db(transaction=True)
def test_receipts_import_bad_last_row_of_a_long_file_writes_none(ordered):
    trust, *_ = ordered
    good = [f"2025-06-02,1.00,USD,clerk,{D1},,REF-{n},," for n in range(498)]
    text = receipt_rows(*good, "2025-06-02,1.00,USD,clerk,Nobody,,,,")
    error = refused(import_receipts, trust, text)
    assert (error.row, error.field) == (500, "payer")
    assert not Receipt.objects.filter(trust=trust).exists()


def test_receipts_import_refuses_key_used_for_a_different_receipt(ordered):
    trust, *_ = ordered
    import_receipts(trust, receipt_rows("2025-06-02,10.00,USD,clerk,,,,K-1,"))
    error = refused(
        import_receipts,
        trust,
        receipt_rows("2025-06-03,10.00,USD,clerk,,,,K-2,", "2025-06-02,11.00,USD,clerk,,,,K-1,"),
    )
    assert (error.row, error.field) == (3, "key")
    assert "differs in amount" in str(error)


def test_receipts_import_refuses_key_repeated_in_the_file(ordered):
    trust, *_ = ordered
    text = receipt_rows("2025-06-02,10.00,USD,clerk,,,,K-1,", "2025-06-02,10.00,USD,clerk,,,,K-1,")
    error = refused(import_receipts, trust, text)
    assert (error.row, error.field) == (3, "key")
    assert "also used by row 2" in str(error)


def test_receipts_import_refuses_a_date_in_the_closed_period(ordered):
    trust, *_ = ordered
    trust.lock_date = date(2025, 6, 30)
    trust.save(update_fields=["lock_date"])
    error = refused(import_receipts, trust, receipt_rows("2025-06-02,10.00,USD,clerk,,,,,"))
    assert (error.row, error.field) == (2, "received_on")


def test_receipts_import_refuses_unknown_columns_listing_them(ordered):
    trust, *_ = ordered
    text = "received_on,amount,currency,source,colour,size\n2025-06-02,1.00,USD,clerk,red,L\n"
    error = refused(import_receipts, trust, text)
    assert error.row == 1
    assert "unknown column(s): 'colour', 'size'" in str(error)


def test_receipts_import_refuses_a_file_without_header_without_echoing_it(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, "2025-06-02,10.00,USD,clerk,,,,,private note\n")
    assert error.row == 1 and "the first row is not a header" in str(error)
    assert "private note" not in str(error)


def test_receipts_import_refuses_missing_columns_listing_them(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, "amount,payer\n1.00,\n")
    assert "missing required column(s): received_on, currency, source" in str(error)


def test_receipts_import_refuses_an_empty_file(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, "\n\n")
    assert "empty" in str(error)


def test_receipts_import_refuses_a_header_without_rows(ordered):
    trust, *_ = ordered
    error = refused(import_receipts, trust, RECEIPT_HEADER)
    assert "no data rows" in str(error)


@pytest.mark.parametrize(
    "row", ["2025-06-02,10.00,USD,clerk,,,,", "2025-06-02,10.00,USD,clerk,,,,,,"]
)
def test_receipts_import_refuses_row_with_wrong_number_of_cells(ordered, row):
    trust, *_ = ordered
    error = refused(import_receipts, trust, receipt_rows(GOOD_ROW, row))
    assert (error.row, error.field) == (3, None)
    assert "where the header has 9 columns" in str(error)


def test_receipts_import_refuses_more_rows_than_the_maximum(ordered):
    trust, *_ = ordered
    text = receipt_rows(*[GOOD_ROW] * 4)
    error = refused(receipts_import, trust=trust, actor=None, rows=text, max_rows=3)
    assert error.row == 5 and "more than 3 rows" in str(error)


def test_receipts_import_refuses_bytes_that_are_not_utf8(ordered):
    trust, *_ = ordered
    data = receipt_rows("2025-06-02,10.00,USD,clerk,,,,,caf\u00e9").encode("latin-1")
    error = refused(receipts_import, trust=trust, actor=None, rows=data)
    assert "not UTF-8" in str(error)


def test_receipts_import_counts_a_quoted_line_break_as_one_row(ordered):
    trust, *_ = ordered
    text = receipt_rows(
        '2025-06-02,10.00,USD,clerk,,,,,"two\nlines"', "2025-06-02,x,USD,clerk,,,,,"
    )
    error = refused(import_receipts, trust, text)
    assert error.row == 3


# --- commands --------------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def write(tmp_path: Path, text: str, name: str = "rows.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def order_args(trust, path: str, total: str = "15000.00") -> list[str]:
    return [
        "import_order",
        "--trust",
        str(trust.pk),
        "--file",
        path,
        "--court",
        "Fictional Court",
        "--case-number",
        "CSV-1",
        "--judgment-date",
        "2025-03-01",
        "--total",
        total,
        "--currency",
        "USD",
    ]


def test_import_order_command_records_the_order(case, tmp_path):
    trust, *_ = case
    out = run(*order_args(trust, write(tmp_path, GOOD_ORDER)))
    order = RestitutionOrder.objects.get(trust=trust)
    assert out.startswith(f"2 lines recorded: order #{order.pk} (v1, 15,000.00 USD)")
    assert order.lines.count() == 2


def test_import_order_command_amends_with_a_reason(ordered, tmp_path):
    trust, *_, order = ordered
    path = write(tmp_path, order_rows(f"MV-1,12000.00,USD,{D1};{D2},"))
    out = run(
        "import_order",
        "--trust",
        str(trust.pk),
        "--file",
        path,
        "--judgment-date",
        "2025-05-01",
        "--total",
        "12000.00",
        "--currency",
        "USD",
        "--amends",
        str(order.pk),
        "--reason",
        "ECF 120",
    )
    assert "(v2, 12,000.00 USD)" in out


def test_import_order_command_refuses_bad_file_naming_row_and_field(case, tmp_path):
    trust, *_ = case
    path = write(tmp_path, order_rows(f"MV-1,10000.00,USD,{D1},", f"MV-9,5000.00,USD,{D1},"))
    before = counts()
    with pytest.raises(CommandError, match=r"^row 3, beneficiary: 'MV-9'"):
        run(*order_args(trust, path))
    assert counts() == before


def test_import_order_command_records_payment_schedule(case, tmp_path):
    trust, *_ = case
    args = order_args(trust, write(tmp_path, GOOD_ORDER))
    run(
        *args,
        "--payment-terms",
        "schedule",
        "--schedule-note",
        "500.00 USD monthly",
        "--first-payment-due",
        "2025-04-01",
        "--document-reference",
        "ECF No. 87",
    )
    order = RestitutionOrder.objects.get(trust=trust)
    assert (order.payment_terms, order.schedule_note) == ("schedule", "500.00 USD monthly")
    assert order.first_payment_due == date(2025, 4, 1) and order.document_reference == "ECF No. 87"


def test_import_order_command_refuses_bad_total(case, tmp_path):
    trust, *_ = case
    with pytest.raises(CommandError, match=r"--total: '15,000.00' is not an amount"):
        run(*order_args(trust, write(tmp_path, GOOD_ORDER), total="15,000.00"))


def test_import_order_command_refuses_missing_file(case, tmp_path):
    trust, *_ = case
    with pytest.raises(CommandError, match="cannot read"):
        run(*order_args(trust, str(tmp_path / "absent.csv")))


def test_import_receipts_command_prints_the_summary(ordered, tmp_path):
    trust, *_ = ordered
    path = write(tmp_path, receipt_rows(GOOD_ROW, "2025-06-03,12.34,USD,interest,,,,,"))
    out = run("import_receipts", "--trust", str(trust.pk), "--file", path)
    assert out.startswith(
        "2 rows: 2 receipts recorded, 0 already recorded; 112.34 USD received,"
        " 12.34 USD left unallocated (see receipts to resolve)"
    )
    assert Receipt.objects.filter(trust=trust).count() == 2


def test_import_receipts_command_dry_run_writes_nothing(ordered, tmp_path):
    trust, *_ = ordered
    path = write(tmp_path, (EXAMPLES / "receipts.csv").read_text(encoding="utf-8"))
    before = counts()
    out = run("import_receipts", "--trust", str(trust.pk), "--file", path, "--dry-run")
    assert counts() == before
    assert "6 receipts would be recorded" in out and "Dry run: nothing was written" in out


def test_import_receipts_command_again_reports_already_recorded(ordered, tmp_path):
    trust, *_ = ordered
    path = write(tmp_path, receipt_rows(GOOD_ROW))
    run("import_receipts", "--trust", str(trust.pk), "--file", path)
    out = run("import_receipts", "--trust", str(trust.pk), "--file", path)
    assert out.startswith("1 rows: 0 receipts recorded, 1 already recorded")


def test_import_receipts_command_refuses_bad_row(ordered, tmp_path):
    trust, *_ = ordered
    path = write(tmp_path, receipt_rows(GOOD_ROW, "2025-06-02,-5,USD,clerk,,,,,"))
    before = counts()
    with pytest.raises(CommandError, match=r"^row 3, amount: '-5' is not an amount"):
        run("import_receipts", "--trust", str(trust.pk), "--file", path)
    assert counts() == before


def test_import_receipts_command_refuses_unknown_trust(tmp_path):
    with pytest.raises(CommandError, match="no trust with id 999999"):
        run("import_receipts", "--trust", "999999", "--file", write(tmp_path, RECEIPT_HEADER))


def test_import_receipts_from_the_command_line_exits_1_with_the_error_on_stderr(
    ordered, tmp_path, capsys
):
    from django.core.management import ManagementUtility

    trust, *_ = ordered
    path = write(tmp_path, receipt_rows("2025-06-02,10.00,USD,lottery,,,,,"))
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(
            ["manage.py", "import_receipts", "--trust", str(trust.pk), "--file", path]
        ).execute()
    assert exited.value.code == 1
    assert "row 2, source: 'lottery' is not a source" in capsys.readouterr().err


def test_import_receipts_command_acts_for_the_named_user_only_if_they_may(
    ordered, tmp_path, django_user_model
):
    """``--actor`` names who records: the permission layer holds for a command as for a page."""
    trust, *_ = ordered
    path = write(tmp_path, receipt_rows(GOOD_ROW))
    django_user_model.objects.create_user("not-a-trustee")
    before = counts()
    with pytest.raises(CommandError, match="Only a trustee of the trust records receipts"):
        run("import_receipts", "--trust", str(trust.pk), "--file", path, "--actor", "not-a-trustee")
    assert counts() == before
    appoint(django_user_model.objects.create_user("a-trustee"), trust)
    out = run("import_receipts", "--trust", str(trust.pk), "--file", path, "--actor", "a-trustee")
    assert out.startswith("1 rows: 1 receipts recorded")
    assert Receipt.objects.get(trust=trust).created_by.username == "a-trustee"


def test_a_file_with_several_bad_rows_names_the_first_and_counts_the_others(ordered) -> None:
    from trust.services.imports.csv_rows import CsvRowErrors

    trust, *_ = ordered
    text = receipt_rows(GOOD_ROW, "2025-06-02,-5,USD,clerk,,,,,", "2025-06-03,1.00,XXX,clerk,,,,,")
    with pytest.raises(CsvRowErrors) as info:
        receipts_import(trust=trust, actor=None, rows=text, dry_run=True)
    assert str(info.value).startswith("row 3, amount:")
    assert str(info.value).endswith("(and 1 more row with errors)")
    assert [e.row for e in info.value.row_errors] == [3, 4]
