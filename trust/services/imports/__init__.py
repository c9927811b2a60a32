"""Bulk work from CSV files: an order's lines, and receipts, all or nothing.

Both services take the file's text (a text stream, a ``str``, or UTF-8 ``bytes`` as a web upload
gives them), check every row before writing anything, and then write through the ordinary services
(``order_create``/``order_amend``, ``receipts_record``), so an import obeys exactly the rules a
trustee typing the same data would. A bad file changes nothing, and the error names the row as a
spreadsheet shows it (the header is row 1) and the column: ``row 12, amount: ...``.

``orders`` imports an order's lines (``order_import``), ``receipts`` imports receipts
(``receipts_import``), ``csv_rows`` reads the file and parses its cells for both, and ``locks``
lets one import of a kind run per trust at a time, so that a file imported twice at once is
recorded once and both runs say so truthfully. The file format is described for users in
``docs/imports.md``.
"""

from trust.services.imports.csv_rows import (
    CsvImportError,
    ImportResult,
    RecordedBefore,
    parse_amount,
    parse_currency,
    parse_date,
)
from trust.services.imports.orders import order_import
from trust.services.imports.receipts import import_summary, receipts_import

__all__ = [
    "CsvImportError",
    "ImportResult",
    "RecordedBefore",
    "import_summary",
    "order_import",
    "parse_amount",
    "parse_currency",
    "parse_date",
    "receipts_import",
]
