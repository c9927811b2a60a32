"""Reading the bank's statement files: camt.053/camt.054, OFX/QFX, MT940 and mapped CSV.

``parse_statement_file`` reads a whole file or raises ``StatementFormatError`` naming the line or
element at fault; it never returns part of a file and never lets a library's own exception out.
Pure Python (no Django): ``trust.bank.services`` stores what it returns.
"""

from __future__ import annotations

import codecs
import re

from .base import CsvMapping, ParsedFile, StatementFormatError
from .camt import parse_camt
from .csvmap import parse_csv
from .mt940 import parse_mt940
from .ofx import parse_ofx

__all__ = [
    "FORMATS",
    "MAX_FILE_BYTES",
    "detect_format",
    "parse_statement_file",
]

FORMATS = ("camt.053", "camt.054", "ofx", "mt940", "csv")
MAX_FILE_BYTES = 50 * 1024 * 1024
_ALIASES = {"qfx": "ofx", "camt": "camt", "camt053": "camt.053", "camt054": "camt.054"}
_HEAD = 64 * 1024
_CAMT_053 = re.compile(r"camt\.053\.001\.|<(\w+:)?BkToCstmrStmt[\s>]")
_CAMT_054 = re.compile(r"camt\.054\.001\.|<(\w+:)?BkToCstmrDbtCdtNtfctn[\s>]")
_OFX = re.compile(r"OFXHEADER\s*[:=]|<OFX>", re.IGNORECASE)
_MT940_STATEMENT = re.compile(r"^:20:", re.MULTILINE)
_MT940_ACCOUNT = re.compile(r"^:25:", re.MULTILINE)


def detect_format(data: bytes) -> str:
    """The format of a statement file by its content: "camt.053", "camt.054", "ofx", "mt940",
    or "csv" when it is none of the others."""
    head = data[:_HEAD]
    for bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if head.startswith(bom):
            head = head.decode("utf-16", "replace").encode("utf-8", "replace")
            break
    # Latin-1 maps every byte, so markup and tags show whatever the file's encoding.
    text = head.replace(b"\x00", b"").decode("latin-1").removeprefix("\xef\xbb\xbf")
    if _OFX.search(text):
        return "ofx"
    if _CAMT_053.search(text):
        return "camt.053"
    if _CAMT_054.search(text):
        return "camt.054"
    if _MT940_STATEMENT.search(text) and _MT940_ACCOUNT.search(text):
        return "mt940"
    return "csv"


def parse_statement_file(
    data: bytes,
    *,
    format: str | None = None,
    mapping: CsvMapping | None = None,
    account: str = "",
    currency: str = "",
    max_bytes: int = MAX_FILE_BYTES,
) -> ParsedFile:
    """Read every statement in ``data``, detecting the format unless ``format`` names it.

    A CSV file needs the ``mapping`` saved for the bank account, and the ``account`` and
    ``currency`` it is for (a CSV names neither); the other formats name their own. Refuses an
    empty file, one over ``max_bytes``, one holding no statement, and anything that is not the
    format, with a ``StatementFormatError`` that names the line or element at fault.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise StatementFormatError("the file must be given as bytes.")
    data = bytes(data)
    if not data.strip():
        raise StatementFormatError("the file is empty.")
    if len(data) > max_bytes:
        raise StatementFormatError(
            f"the file is {len(data):,} bytes, more than the {max_bytes:,} accepted."
        )
    detected = detect_format(data)
    wanted = _ALIASES.get((format or "").strip().lower(), (format or "").strip().lower())
    if wanted and wanted not in (*FORMATS, "camt"):
        raise StatementFormatError(
            f"unknown format {format!r}: one of {', '.join(FORMATS)} (or qfx)."
        )
    fmt = wanted or detected
    if fmt == "camt":
        fmt = detected if detected.startswith("camt.") else "camt.053"
    if fmt.startswith("camt.") and detected.startswith("camt.") and detected != fmt:
        raise StatementFormatError(f"the file is a {detected}, not a {fmt}.")
    try:
        parsed = _parse(data, fmt, mapping, account, currency)
    except StatementFormatError:
        raise
    except Exception as exc:  # a library's own error: never let it out raw
        raise StatementFormatError(
            f"the file cannot be read as {fmt} ({type(exc).__name__}: {exc})."
        ) from exc
    if wanted.startswith("camt.") and parsed.format != wanted:
        raise StatementFormatError(f"the file is a {parsed.format}, not a {wanted}.")
    if not parsed.statements:
        raise StatementFormatError(f"the file holds no {parsed.format} statement.")
    return parsed


def _parse(
    data: bytes, fmt: str, mapping: CsvMapping | None, account: str, currency: str
) -> ParsedFile:
    if fmt.startswith("camt."):
        return parse_camt(data)
    if fmt == "ofx":
        return parse_ofx(data)
    if fmt == "mt940":
        return parse_mt940(data)
    if mapping is None:
        raise StatementFormatError(
            "this looks like a CSV file: it needs the column mapping saved for the bank account."
        )
    return parse_csv(data, mapping, account=account, currency=currency)
