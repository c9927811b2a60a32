"""The bank statement parsers (trust/bank/parsing): every sample read exactly, every malformed file
refused with the line or element at fault. Pure Python: no database."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.bank.parsing import detect_format, parse_statement_file
from trust.bank.parsing.base import (
    CsvMapping,
    LineKind,
    LinePart,
    ParsedFile,
    StatementFormatError,
    swift_code_kind,
)

SAMPLES = Path(__file__).parent / "samples"

GERMAN = CsvMapping(
    date_column="Buchungstag",
    value_date_column="Valuta",
    counterparty_column="Auftraggeber/Empfänger",
    description_column="Verwendungszweck",
    debit_column="Soll",
    credit_column="Haben",
    balance_column="Saldo",
    date_format="%d.%m.%Y",
    decimal_comma=True,
    delimiter=";",
    encoding="cp1252",
    skip_rows=2,
)
SIGNED = CsvMapping(
    date_column="Date",
    amount_column="Amount",
    description_column="Description",
    counterparty_column="Counterparty",
    reference_column="Reference",
    bank_reference_column="Transaction ID",
    encoding="utf-8-sig",
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parse(name: str, **kwargs: object) -> ParsedFile:
    return parse_statement_file(sample(name), **kwargs)  # type: ignore[arg-type]


# --- camt.053 -----------------------------------------------------------------------------------


def test_camt053_v02_reads_both_statements_and_their_balances():
    parsed = parse("camt053_v02.xml")
    assert parsed.format == "camt.053"
    first, second = parsed.statements
    assert (first.account, first.currency, first.statement_id) == (
        "DE45298765430012345678",
        "EUR",
        "STMT-2024-03-001",
    )
    assert (first.opening_minor, first.closing_minor) == (1_000_000, 1_241_077)
    assert (first.from_date, first.to_date) == (date(2024, 3, 1), date(2024, 3, 31))
    assert first.where == "Stmt[1]"
    assert len(first.lines) == 7
    assert first.opening_minor + sum(line.amount_minor for line in first.lines) == 1_241_077
    # The second statement is empty: the previous day's closing (PRCD) is its opening.
    assert second.account == "DE84298765430087654321"
    assert second.lines == ()
    assert (second.opening_minor, second.closing_minor) == (500_000, 500_000)
    assert (second.from_date, second.to_date) == (date(2024, 3, 1), date(2024, 3, 31))


def test_camt053_v02_batch_booking_becomes_parts():
    batch = parse("camt053_v02.xml").statements[0].lines[0]
    assert batch.amount_minor == 150_000
    assert (batch.booking_date, batch.value_date) == (date(2024, 3, 4), date(2024, 3, 4))
    assert batch.bank_reference == "FTB240304-0001"
    assert batch.reference == "CLERK-DIST-2024-03"  # the batch's payment information id
    assert batch.kind == LineKind.TRANSFER
    assert batch.description == "SEPA credit transfers, batch"
    assert batch.parts == (
        LinePart(70_000, "ORD-2023-118-A", "County Court Funds Office", "Restitution order 2023/118 instalment 3"),
        LinePart(50_000, "ORD-2023-119-A", "County Court Funds Office", "Restitution order 2023/119"),
        # NOTPROVIDED is no reference: the creditor reference stands in.
        LinePart(30_000, "RF18539007547034", "Oakfield Victim Compensation Scheme", ""),
    )  # fmt: skip
    assert sum(part.amount_minor for part in batch.parts) == batch.amount_minor


def test_camt053_v02_single_transactions_give_the_line_their_details():
    lines = parse("camt053_v02.xml").statements[0].lines
    payment, returned, charge, interest, converted, zero = lines[1:]
    assert payment.amount_minor == -25_000
    assert payment.reference == "DISB-2024-0007"
    assert payment.counterparty == "Brightwater Care Services Ltd"
    assert payment.description == "Care plan March"
    assert payment.parts == ()
    # A reversal of a debit: money back in, the original's payee named.
    assert (returned.amount_minor, returned.reversal) == (25_000, True)
    assert returned.counterparty == "Brightwater Care Services Ltd"
    assert returned.description == "Returned: account closed"
    assert (returned.booking_date, returned.value_date) == (date(2024, 3, 11), date(2024, 3, 8))
    assert (charge.amount_minor, charge.kind, charge.reversal) == (-1250, LineKind.CHARGE, False)
    assert charge.description == "Account maintenance fee March"
    assert (interest.amount_minor, interest.kind) == (327, LineKind.INTEREST)
    assert converted.amount_minor == 92_000
    assert (converted.original_amount_minor, converted.original_currency) == (100_000, "USD")
    assert converted.exchange_rate == "0.92"
    assert converted.charges_minor == 1500
    assert converted.counterparty == "Pacific Rim Compensation Fund"
    assert (zero.amount_minor, zero.kind, zero.value_date) == (0, LineKind.CHARGE, None)
    assert [line.where for line in lines] == [f"Stmt[1]/Ntry[{n}]" for n in range(1, 8)]


def test_camt053_v08_with_a_namespace_prefix():
    first, second = parse("camt053_v08.xml").statements
    assert (first.account, first.currency, first.statement_id) == (
        "GB68HRBM40123412345678",
        "GBP",
        "HMB-GBP-2024-03",
    )
    assert (first.opening_minor, first.closing_minor) == (200_000, 359_434)
    batch, reversal, fee, interest, converted, zero = first.lines
    assert [part.amount_minor for part in batch.parts] == [45_000, 30_000, 15_000]
    assert [part.reference for part in batch.parts] == [
        "HMI-CLAIM-881",
        "HMI-CLAIM-882",
        "RF71CLAIM883",
    ]
    assert {part.counterparty for part in batch.parts} == {"Harlow Mutual Insurance plc"}
    assert batch.reference == "HARLOW-CLAIMS-0305"
    # A reversal of a credit: money out, the original's payer named.
    assert (reversal.amount_minor, reversal.reversal) == (-15_000, True)
    assert reversal.counterparty == "Harlow Mutual Insurance plc"
    assert reversal.bank_reference == "HMB2403070002"
    assert (fee.amount_minor, fee.kind, fee.booking_date) == (
        -750,
        LineKind.CHARGE,
        date(2024, 3, 28),
    )
    # A date-time is read as the bank wrote it, not moved to UTC.
    assert (interest.amount_minor, interest.kind) == (184, LineKind.INTEREST)
    assert interest.booking_date == date(2024, 3, 31)
    assert converted.amount_minor == 85_000
    assert (converted.original_amount_minor, converted.original_currency) == (100_000, "EUR")
    assert (converted.exchange_rate, converted.charges_minor) == ("0.85", 500)
    assert (converted.reference, converted.description) == ("NLVF-2024-77", "Restitution 2024-77")
    # Only a proprietary SWIFT-style code: NCHG is a charge.
    assert (zero.amount_minor, zero.kind) == (0, LineKind.CHARGE)
    # The other account: Othr/Id, its currency from the balances, no entries.
    assert (second.account, second.currency, second.lines) == ("0011223344", "GBP", ())
    assert (second.opening_minor, second.closing_minor) == (25_000, 25_000)


def test_camt054_notifications_have_no_balances_and_skip_unbooked_entries():
    parsed = parse("camt054_v04.xml")
    assert parsed.format == "camt.054"
    first, second = parsed.statements
    assert first.notification and second.notification
    assert (first.opening_minor, first.closing_minor) == (None, None)
    assert first.statement_id == "FICT-NTF-0412-01"
    (credit,) = first.lines  # the pending (PDNG) entry is not a line
    assert credit.amount_minor == 42_500
    assert (credit.reference, credit.counterparty) == ("GVF-2024-0412-9", "Gelderland Victims Fund")
    assert credit.where == "Ntfctn[1]/Ntry[1]"
    (fee,) = second.lines
    assert (second.account, second.currency) == ("NL89FICT0987654321", "EUR")
    assert (fee.amount_minor, fee.kind) == (-6000, LineKind.CHARGE)


# --- OFX ----------------------------------------------------------------------------------------


def test_ofx_102_sgml_reads_two_statements():
    parsed = parse("ofx102.ofx")
    assert parsed.format == "ofx"
    checking, savings = parsed.statements
    assert (checking.account, checking.bank_id, checking.currency) == (
        "4401237788",
        "999000123",
        "USD",
    )
    assert checking.closing_minor == 721_141
    # The ledger balance is as of the end of the list: the opening follows from it.
    assert checking.opening_minor == 500_000
    assert (checking.from_date, checking.to_date) == (date(2024, 1, 1), date(2024, 1, 31))
    credit, check, converted, charge, interest, zero = checking.lines
    assert (credit.amount_minor, credit.booking_date, credit.value_date) == (
        250_000,
        date(2024, 1, 3),
        date(2024, 1, 4),
    )
    assert (credit.bank_reference, credit.reference) == ("HMB2024010301", "ORD-2023-118")
    assert (credit.counterparty, credit.description) == (
        "Northwind Insurance Co",
        "Restitution instalment 1",
    )
    assert (check.amount_minor, check.reference, check.kind) == (-35_000, "1042", LineKind.TRANSFER)
    # 23:00 EST on the 15th is the 16th in UTC: the bank's own date is kept.
    assert converted.booking_date == date(2024, 1, 15)
    assert (converted.amount_minor, converted.original_amount_minor) == (7400, 10_000)
    assert (converted.original_currency, converted.exchange_rate) == ("CAD", "0.74")
    assert (charge.amount_minor, charge.kind) == (-1500, LineKind.CHARGE)
    assert (interest.amount_minor, interest.kind) == (241, LineKind.INTEREST)
    assert zero.amount_minor == 0
    assert zero.where == "STMTRS[1]/BANKTRANLIST/STMTTRN[6]"
    # The savings ledger balance is older than the list's end: no opening can be derived.
    assert (savings.opening_minor, savings.closing_minor) == (None, 1_000_510)
    assert savings.where == "STMTRS[2]"


def test_ofx_220_xml_reads_bank_and_credit_card_statements():
    bank, card = parse("ofx220.ofx").statements
    assert (bank.account, bank.bank_id, bank.currency) == (
        "DE69298765430011223344",
        "29876543",
        "EUR",
    )
    assert (bank.opening_minor, bank.closing_minor) == (300_000, 415_447)
    deposit, foreign, fee, dividend = bank.lines
    assert (deposit.amount_minor, deposit.kind, deposit.value_date) == (
        125_000,
        LineKind.TRANSFER,
        date(2024, 3, 6),
    )
    # CURRENCY: the amount was in USD; the statement's EUR amount is converted at CURRATE.
    assert (foreign.amount_minor, foreign.original_amount_minor) == (-9150, -10_000)
    assert (foreign.original_currency, foreign.exchange_rate) == ("USD", "0.9150")
    assert (fee.amount_minor, fee.kind) == (-490, LineKind.CHARGE)
    assert (dividend.amount_minor, dividend.kind) == (87, LineKind.INTEREST)
    assert (card.account, card.bank_id, card.where) == ("CC-7781-0042", "", "CCSTMTRS[1]")
    (purchase,) = card.lines
    assert (purchase.amount_minor, purchase.counterparty) == (-4200, "Corner Pharmacy Ltd")
    assert (card.opening_minor, card.closing_minor) == (0, -4200)


def test_qfx_reads_like_ofx():
    parsed = parse("statement.qfx")
    assert detect_format(sample("statement.qfx")) == "ofx"
    (statement,) = parsed.statements
    (transfer,) = statement.lines
    assert (transfer.amount_minor, transfer.reference) == (-120_000, "DISB-2024-0011")
    assert (statement.opening_minor, statement.closing_minor) == (721_141, 601_141)


# --- MT940 --------------------------------------------------------------------------------------


def test_mt940_reads_two_statements_with_line_numbers():
    first, second = parse("mt940_two_statements.sta").statements
    assert (first.account, first.currency, first.statement_id) == (
        "29876543/0012345678",
        "EUR",
        "STMT240331/00059/001",
    )
    assert (first.opening_minor, first.closing_minor) == (1_000_000, 1_113_750)
    assert (first.from_date, first.to_date, first.where) == (
        date(2024, 2, 29),
        date(2024, 3, 31),
        "line 2",
    )
    credit, payment, reversal, charge = first.lines
    assert (credit.amount_minor, credit.reference, credit.bank_reference) == (
        150_000,
        "ORD-2023-118",
        "FTB2403010001",
    )
    assert credit.description == "Restitution order 2023/118 County Court Funds Office"
    assert (payment.amount_minor, payment.reference) == (-25_000, "DISB-2024-0007")
    # RC: a reversal of a credit is money out; NONREF is no reference.
    assert (reversal.amount_minor, reversal.reversal, reversal.reference) == (-10_000, True, "")
    assert (charge.amount_minor, charge.kind) == (-1250, LineKind.CHARGE)
    assert [line.where for line in first.lines] == ["line 6", "line 8", "line 10", "line 13"]
    assert second.account == "DE84298765430087654321"
    assert (second.opening_minor, second.closing_minor) == (500_000, 533_717)
    sepa, interest, refund = second.lines
    # A structured :86: (German GVC): the end-to-end reference, the payer and the purpose.
    assert (sepa.reference, sepa.counterparty, sepa.description) == (
        "GVF-2024-0304-1",
        "Gelderland Victims Fund",
        "Entschaedigung Akte 2024/5",
    )
    assert (interest.amount_minor, interest.kind) == (412, LineKind.INTEREST)
    # RD: a reversal of a debit (a fee refunded) is money in; the closing :86: is not its text.
    assert (refund.amount_minor, refund.reversal, refund.kind) == (1250, True, LineKind.CHARGE)
    assert refund.description == "Refund of a fee charged in error"


def test_mt940_account_loses_the_currency_some_banks_append():
    data = sample("mt940_two_statements.sta").replace(
        b":25:DE84298765430087654321", b":25:DE84298765430087654321EUR"
    )
    assert parse_statement_file(data).statements[1].account == "DE84298765430087654321"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("NCHG", LineKind.CHARGE),
        ("FCHG", LineKind.CHARGE),
        ("NCOM", LineKind.CHARGE),
        ("NINT", LineKind.INTEREST),
        ("FINT", LineKind.INTEREST),
        ("NTRF", LineKind.TRANSFER),
        ("S103", LineKind.TRANSFER),
        ("NMSC", LineKind.OTHER),
        ("", LineKind.OTHER),
    ],
)
def test_swift_transaction_codes_map_to_kinds(code, kind):
    assert swift_code_kind(code) == kind


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_german_debit_credit_newest_first_is_read_oldest_first():
    (statement,) = parse(
        "csv_german_debit_credit.csv",
        mapping=GERMAN,
        account="DE45 2987 6543 0012 3456 78",
        currency="EUR",
    ).statements
    assert (statement.account, statement.currency) == ("DE45298765430012345678", "EUR")
    assert [line.amount_minor for line in statement.lines] == [150_000, -25_000, 92_000, -1250, 327]
    assert [line.where for line in statement.lines] == [f"line {n}" for n in (8, 7, 6, 5, 4)]
    assert (statement.opening_minor, statement.closing_minor) == (1_000_000, 1_216_077)
    assert (statement.from_date, statement.to_date) == (date(2024, 3, 4), date(2024, 3, 31))
    payment = statement.lines[1]
    assert payment.description == "Pflegeplan; März"
    assert payment.counterparty == "Brightwater Care Services Ltd"
    assert statement.lines[2].value_date == date(2024, 3, 18)
    assert statement.lines[3].description == "Kontoführung März"


def test_csv_signed_amount_column_with_a_bom():
    (statement,) = parse(
        "csv_signed_amount.csv", mapping=SIGNED, account="4401237788", currency="USD"
    ).statements
    assert [line.amount_minor for line in statement.lines] == [150_000, -25_000, -3500, 0, 107]
    first = statement.lines[0]
    assert (first.reference, first.bank_reference, first.counterparty) == (
        "ORD-2023-118",
        "TX-0001",
        "Northwind Insurance Co",
    )
    assert first.description == "Restitution, order 2023/118"
    assert (statement.opening_minor, statement.closing_minor) == (None, None)
    assert statement.lines[3].where == "line 6"  # the blank line 5 is skipped, not renumbered


def test_csv_negate_turns_the_sign():
    data = b"Date,Amount\n2024-03-01,12.50\n2024-03-02,-3.00\n"
    mapping = CsvMapping(date_column="Date", amount_column="Amount", negate=True)
    (statement,) = parse_statement_file(
        data, format="csv", mapping=mapping, account="X1", currency="EUR"
    ).statements
    assert [line.amount_minor for line in statement.lines] == [-1250, 300]


def test_csv_zero_decimal_currency():
    data = b'Date,Amount\n2024-03-01,"1,500"\n'
    mapping = CsvMapping(date_column="Date", amount_column="Amount")
    (statement,) = parse_statement_file(
        data, format="csv", mapping=mapping, account="X1", currency="JPY"
    ).statements
    assert statement.lines[0].amount_minor == 1500


@pytest.mark.parametrize(
    ("data", "mapping", "where", "words"),
    [
        (b"Date,Amount\n2024-03-01,12.505\n", SIGNED.__class__(date_column="Date", amount_column="Amount"), "line 2, column 'Amount'", "more than 2 decimal"),
        (b"Date,Amount\n2024-03-01,\"1,5\"\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 2, column 'Amount'", "decimal point"),
        (b"Date;Amount\n01.03.2024;12.50\n", CsvMapping(date_column="Date", amount_column="Amount", delimiter=";", decimal_comma=True, date_format="%d.%m.%Y"), "line 2, column 'Amount'", "decimal comma"),
        (b"Date,Amount\n2024-03-01,\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 2, column 'Amount'", "no amount"),
        (b"Date,Sum\n2024-03-01,1.00\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 1", "no column 'Amount'"),
        (b"Date,Debit,Credit\n2024-03-01,1.00,2.00\n", CsvMapping(date_column="Date", debit_column="Debit", credit_column="Credit"), "line 2", "both a debit"),
        (b"Date,Amount,Balance\n2024-03-01,1.00,11.00\n2024-03-02,1.00,13.00\n", CsvMapping(date_column="Date", amount_column="Amount", balance_column="Balance"), "line 3, column 'Balance'", "running balance"),
        (b"Date,Amount\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 1", "no rows"),
        (b"Date,Amount\n2024-03-01,1.00\n2024-03-02\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 3", "columns"),
        (b"Date,Amount\n2024-03-01,-1,50\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 2", "3 columns, the header 2"),
        (b"Date,Amount\n2024-03-01,\xff1.00\n", CsvMapping(date_column="Date", amount_column="Amount"), "line 2", "not utf-8"),
        (b"Date,Amount\n2024-03-01,1.00\n", CsvMapping(date_column="Date", amount_column="Amount", encoding="klingon"), "mapping", "unknown encoding"),
    ],
)  # fmt: skip
def test_csv_errors_name_the_line_and_column(data, mapping, where, words):
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data, format="csv", mapping=mapping, account="X1", currency="EUR")
    assert caught.value.where == where
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "minor"),
    [
        ("1.234,56", 123_456),
        ("1 234,56", 123_456),
        ("1\u00a0234,56 €", 123_456),
        ("- 12,50", -1250),
        ("12,50-", -1250),
        ("(7,00)", -700),
        ("EUR 3,00", 300),
        (",5", 50),
    ],
)
def test_csv_decimal_comma_amounts(cell, minor):
    data = f'Datum;Betrag\n01.03.2024;"{cell}"\n'.encode()
    mapping = CsvMapping(
        date_column="Datum",
        amount_column="Betrag",
        delimiter=";",
        decimal_comma=True,
        date_format="%d.%m.%Y",
    )
    (statement,) = parse_statement_file(
        data, format="csv", mapping=mapping, account="X1", currency="EUR"
    ).statements
    assert statement.lines[0].amount_minor == minor


def test_csv_needs_account_currency_and_mapping():
    data = sample("csv_signed_amount.csv")
    with pytest.raises(StatementFormatError, match="names no account"):
        parse_statement_file(data, mapping=SIGNED, currency="USD")
    with pytest.raises(StatementFormatError, match="names no currency"):
        parse_statement_file(data, mapping=SIGNED, account="4401237788")
    with pytest.raises(StatementFormatError, match="column mapping"):
        parse_statement_file(data, account="4401237788", currency="USD")


def test_csv_one_day_newest_first_is_ordered_by_the_balance():
    data = b"Date,Amount,Balance\n2024-03-01,5.00,20.00\n2024-03-01,10.00,15.00\n"
    mapping = CsvMapping(date_column="Date", amount_column="Amount", balance_column="Balance")
    (statement,) = parse_statement_file(
        data, format="csv", mapping=mapping, account="X1", currency="EUR"
    ).statements
    assert [line.amount_minor for line in statement.lines] == [1000, 500]
    assert (statement.opening_minor, statement.closing_minor) == (500, 2000)


# --- malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "where", "words"),
    [
        ("camt053_truncated.xml", {}, "line 207", "not well-formed XML"),
        ("camt053_bad_amount.xml", {}, "Stmt[1]/Ntry[2]/Amt", "'250,00' is not an amount"),
        ("camt053_bad_date.xml", {}, "Stmt[1]/Ntry[1]/BookgDt/Dt", "'2024-02-30' is not a date"),
        ("camt053_missing_account.xml", {}, "Stmt[2]/Acct/Id", "no account"),
        ("camt053_unbalanced.xml", {}, "Stmt[1]", "STMT-2024-03-001 does not add up"),
        ("camt053_xxe.xml", {}, "", "DTD"),
        ("ofx_bad_date.ofx", {}, "STMTRS[1]/BANKTRANLIST/STMTTRN[2]", "2024-01-09"),
        ("ofx_truncated.ofx", {}, "line 95", "truncated"),
        ("mt940_bad_tag.sta", {}, "line 26", ":61: cannot be read"),
        ("mt940_bad_date.sta", {}, "line 8", "month must be in 1..12"),
        ("mt940_missing_account.sta", {}, "line 18", "no :25: account"),
        ("mt940_unbalanced.sta", {}, "line 2", "STMT240331/00059/001 does not add up"),
        ("csv_bad_date.csv", {"mapping": GERMAN, "account": "DE45298765430012345678", "currency": "EUR"}, "line 6, column 'Buchungstag'", "'31.02.2024' is not a date"),
        ("csv_bad_amount.csv", {"mapping": SIGNED, "account": "4401237788", "currency": "USD"}, "line 3, column 'Amount'", "'-250,00' is not a number"),
    ],
)  # fmt: skip
def test_malformed_files_are_refused_naming_where(name, kwargs, where, words):
    with pytest.raises(StatementFormatError) as caught:
        parse(name, **kwargs)
    assert caught.value.where == where
    assert words in str(caught.value)


def test_an_external_entity_is_never_read():
    with pytest.raises(StatementFormatError) as caught:
        parse("camt053_xxe.xml")
    hostname = Path("/etc/hostname")
    if hostname.exists() and hostname.read_text().strip():
        assert hostname.read_text().strip() not in str(caught.value)


def test_an_entity_expansion_bomb_is_refused_at_once():
    entities = "".join(f'<!ENTITY e{n} "{(f"&e{n - 1};" if n else "ha") * 10}">' for n in range(10))
    data = (
        f'<?xml version="1.0"?><!DOCTYPE Document [{entities}]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        "<BkToCstmrStmt><Stmt><Id>&e9;</Id></Stmt></BkToCstmrStmt></Document>"
    ).encode()
    with pytest.raises(StatementFormatError):
        parse_statement_file(data)


def test_camt_amount_with_more_decimals_than_the_currency_is_refused():
    data = sample("camt053_v02.xml").replace(b">12.50<", b">12.505<")
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data)
    assert caught.value.where == "Stmt[1]/Ntry[4]/Amt"
    assert "more than 2 decimal places" in str(caught.value)


def test_camt_entry_in_another_currency_than_the_statement_is_refused():
    data = sample("camt053_v02.xml").replace(b'<Amt Ccy="EUR">3.27', b'<Amt Ccy="USD">3.27')
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data)
    assert caught.value.where == "Stmt[1]/Ntry[5]/Amt"


def test_camt_unsupported_version_is_refused():
    data = sample("camt053_v02.xml").replace(b"camt.053.001.02", b"camt.053.001.01")
    with pytest.raises(StatementFormatError, match=r"001\.01 is not supported"):
        parse_statement_file(data)


def test_camt_without_a_namespace_is_read():
    data = sample("camt054_v04.xml").replace(
        b' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"', b""
    )
    assert len(parse_statement_file(data, format="camt.054").statements) == 2


def test_camt_inside_an_envelope_is_read():
    inner = sample("camt054_v04.xml").split(b"?>", 1)[1]
    data = b"<Envelope><AppHdr/>" + inner + b"</Envelope>"
    assert parse_statement_file(data, format="camt.054").format == "camt.054"


def test_bad_credit_debit_indicator_names_the_element():
    data = sample("camt053_v08.xml").replace(
        b'<c:Amt Ccy="GBP">7.50</c:Amt>\n        <c:CdtDbtInd>DBIT',
        b'<c:Amt Ccy="GBP">7.50</c:Amt>\n        <c:CdtDbtInd>DEBIT',
    )
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data)
    assert caught.value.where == "Stmt[1]/Ntry[3]/CdtDbtInd"


# --- detection and the file as a whole ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("camt053_v02.xml", "camt.053"),
        ("camt053_v08.xml", "camt.053"),
        ("camt054_v04.xml", "camt.054"),
        ("ofx102.ofx", "ofx"),
        ("ofx220.ofx", "ofx"),
        ("statement.qfx", "ofx"),
        ("mt940_two_statements.sta", "mt940"),
        ("csv_german_debit_credit.csv", "csv"),
        ("csv_signed_amount.csv", "csv"),
    ],
)
def test_detect_format(name, expected):
    assert detect_format(sample(name)) == expected


def test_detect_format_in_utf16():
    data = sample("camt053_v02.xml").replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
    utf16 = data.decode().encode("utf-16")
    assert detect_format(utf16) == "camt.053"
    assert len(parse_statement_file(utf16).statements) == 2


@pytest.mark.parametrize(
    ("data", "kwargs", "words"),
    [
        (b"", {}, "empty"),
        (b" \r\n ", {}, "empty"),
        (b"x" * 101, {"max_bytes": 100}, "more than the 100"),
        (b":20:A\n:25:B\n", {"format": "pdf"}, "unknown format"),
        (sample("camt054_v04.xml"), {"format": "camt.053"}, "is a camt.054, not a camt.053"),
        (b":20:X\n:25:Y\n\x81\x8d\n", {}, "neither UTF-8 nor Windows-1252"),
        (b"{1:F01}{4:\n-}", {"format": "mt940"}, "no mt940 statement"),
        (sample("camt053_v02.xml").split(b"<Stmt>")[0].replace(b"<Stmt>", b"") + b"</BkToCstmrStmt></Document>", {}, "no camt.053 statement"),
    ],
)  # fmt: skip
def test_files_refused_as_a_whole(data, kwargs, words):
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data, **kwargs)
    assert words in str(caught.value)


def test_ofx_amount_that_is_not_a_number_names_the_element():
    data = sample("ofx220.ofx").replace(b"<TRNAMT>1250.00</TRNAMT>", b"<TRNAMT>1,250.00</TRNAMT>")
    with pytest.raises(StatementFormatError) as caught:
        parse_statement_file(data)
    assert caught.value.where == "STMTRS[1]/BANKTRANLIST/STMTTRN[1]/TRNAMT"


def test_ofx_correction_is_refused():
    data = sample("ofx220.ofx").replace(
        b"<FITID>FTB-OFX-240329-3</FITID>",
        b"<FITID>FTB-OFX-240329-3</FITID><CORRECTFITID>FTB-OFX-240312-2</CORRECTFITID>"
        b"<CORRECTACTION>DELETE</CORRECTACTION>",
    )
    with pytest.raises(StatementFormatError, match="correction") as caught:
        parse_statement_file(data)
    assert caught.value.where == "STMTRS[1]/BANKTRANLIST/STMTTRN[3]"


def test_ofx_status_error_without_a_statement_says_so():
    data = (
        b"OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
        b"CHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
        b"<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>7<STATUS><CODE>2000<SEVERITY>ERROR"
        b"<MESSAGE>Account unavailable</STATUS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    )
    with pytest.raises(StatementFormatError, match=r"status 2000 \(Account unavailable\)"):
        parse_statement_file(data)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(["camt.053", "ofx", "mt940", None]))
def test_any_bytes_give_a_statement_or_a_format_error(data, fmt):
    with contextlib.suppress(StatementFormatError):
        parse_statement_file(data, format=fmt)


@settings(max_examples=100, deadline=None)
@given(
    garbage=st.text(max_size=60),
    position=st.integers(min_value=0, max_value=4000),
    name=st.sampled_from(
        ["camt053_v08.xml", "ofx102.ofx", "ofx220.ofx", "mt940_two_statements.sta"]
    ),
)
def test_damaged_samples_give_a_statement_or_a_format_error(garbage, position, name):
    data = sample(name)
    position %= len(data)
    damaged = data[:position] + garbage.encode() + data[position:]
    with contextlib.suppress(StatementFormatError):
        parse_statement_file(damaged)


# --- a generated camt.053 round-trips exactly ---------------------------------------------------

_ENTRY = st.tuples(
    st.integers(min_value=0, max_value=10**9),  # minor units
    st.booleans(),  # credit
    st.booleans(),  # reversal
    st.lists(st.integers(min_value=1, max_value=10**6), max_size=4),  # batch parts' weights
)


def _amount(minor: int) -> str:
    return f"{Decimal(minor).scaleb(-2):.2f}"


def _camt053(version: str, opening: int, entries: list[tuple[int, bool, bool, list[int]]]) -> bytes:
    status = "<Sts>BOOK</Sts>" if version == "02" else "<Sts><Cd>BOOK</Cd></Sts>"
    closing = opening + sum(m if credit else -m for m, credit, _, _ in entries)
    body = []
    for number, (minor, credit, reversal, weights) in enumerate(entries, start=1):
        indicator = "CRDT" if credit else "DBIT"
        details = ""
        if len(weights) > 1 and minor >= len(weights):
            shares = [minor * w // sum(weights) for w in weights]
            shares[-1] += minor - sum(shares)
            details = (
                "<NtryDtls>"
                + "".join(
                    f"<TxDtls><Refs><EndToEndId>E{number}-{k}</EndToEndId></Refs>"
                    + (
                        f'<AmtDtls><TxAmt><Amt Ccy="EUR">{_amount(share)}</Amt></TxAmt></AmtDtls>'
                        if version == "02"
                        else f'<Amt Ccy="EUR">{_amount(share)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
                    )
                    + "</TxDtls>"
                    for k, share in enumerate(shares)
                )
                + "</NtryDtls>"
            )
        body.append(
            f'<Ntry><NtryRef>{number}</NtryRef><Amt Ccy="EUR">{_amount(minor)}</Amt>'
            f"<CdtDbtInd>{indicator}</CdtDbtInd>"
            f"{'<RvslInd>true</RvslInd>' if reversal else ''}{status}"
            f"<BookgDt><Dt>2024-05-{1 + number % 28:02d}</Dt></BookgDt>"
            f"<AcctSvcrRef>R{number}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>"
            f"</Domn></BkTxCd>{details}</Ntry>"
        )

    def balance(code: str, minor: int, day: str) -> str:
        return (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="EUR">{_amount(abs(minor))}</Amt>'
            f"<CdtDbtInd>{'CRDT' if minor >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>GEN</MsgId><CreDtTm>2024-06-01T00:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>GEN-1</Id><CreDtTm>2024-06-01T00:00:00</CreDtTm>"
        "<Acct><Id><IBAN>DE45298765430012345678</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        + balance("OPBD", opening, "2024-05-01")
        + balance("CLBD", closing, "2024-05-31")
        + "".join(body)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


@settings(max_examples=60, deadline=None)
@given(
    version=st.sampled_from(["02", "03", "04", "05", "06", "07", "08"]),
    opening=st.integers(min_value=-(10**9), max_value=10**9),
    entries=st.lists(_ENTRY, max_size=25),
)
def test_generated_camt053_round_trips_exactly(version, opening, entries):
    (statement,) = parse_statement_file(_camt053(version, opening, entries)).statements
    expected = [m if credit else -m for m, credit, _, _ in entries]
    assert [line.amount_minor for line in statement.lines] == expected
    assert [line.reversal for line in statement.lines] == [r for _, _, r, _ in entries]
    assert statement.opening_minor == opening
    assert statement.closing_minor == opening + sum(expected)
    for line in statement.lines:
        if line.parts:
            assert sum(part.amount_minor for part in line.parts) == line.amount_minor


@settings(max_examples=30, deadline=None)
@given(
    opening=st.integers(min_value=0, max_value=10**9),
    entries=st.lists(_ENTRY, min_size=1, max_size=10),
)
def test_generated_camt053_off_by_a_cent_is_refused(opening, entries):
    data = _camt053("08", opening, entries)
    closing = opening + sum(m if credit else -m for m, credit, _, _ in entries)
    wrong = _amount(abs(closing)).encode()
    marker = b'<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">' + wrong
    assert marker in data
    off = _amount(abs(closing) + 1).encode()
    data = data.replace(marker, marker[: -len(wrong)] + off)
    with pytest.raises(StatementFormatError, match="does not add up"):
        parse_statement_file(data)
