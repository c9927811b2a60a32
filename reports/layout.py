"""A small, fast PDF layout engine for the trust's court documents (beneficiary statements, the
trustee's account to the court and its schedules, remittance advices, order status, the audit
certificate). Pure module: the standard library and reportlab only, no Django.

Why not platypus: its flowables are general and too slow for documents printed thousands at a
time, which need only headings, paragraphs, tables, one kind of chart and a signature block. So
this module lays the blocks out itself and writes each page's content stream in one piece
(``Canvas.addLiteral``): measured on the development VM, about 4 us a table cell against about
30 us for ``Canvas.drawString``, which builds a text object and re-encodes the string per call.

It works in three passes:

1. measure: every block becomes a list of unbreakable *units* (a heading, a paragraph line, a
   table row, a chart, a signature line) with a height, the space wanted above it and whether it
   must stay on the same page as the next unit (a heading with what follows, a table's header
   with its first rows, a last row with the total);
2. paginate: units are placed top to bottom, page by page; a table's header row is repeated at the
   top of each page it continues on; a row is never split (unless it is taller than a page);
3. draw: now that the page count is known ("Page X of Y"), each page gets its header, its units
   and its footer.

Text uses the base-14 fonts Helvetica and Helvetica-Bold in WinAnsiEncoding (cp1252): nothing is
embedded, text stays extractable, and anything that cp1252 cannot encode (Thai, Khmer, emoji) is
printed as "?" rather than failing. Helvetica's digits all have the same width, so right-aligned
amounts printed in one format line up digit under digit. Output is byte-identical for identical inputs
(``invariant=1``); ``DocumentMeta.generated_at`` is printed but changes nothing else.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, date, datetime

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "A4",
    "CREATOR",
    "LETTER",
    "Block",
    "Chart",
    "Column",
    "DocumentMeta",
    "Heading",
    "PageBreak",
    "Paragraph",
    "Rendered",
    "Row",
    "SignatureBlock",
    "Spacer",
    "Table",
    "render",
]

CREATOR = "restitution-trust-ledger"

# Page compression is off by default, because it was measured to cost more than it saves here
# (reportlab 5.1, Python 3.11, no rl_accel, on the 2-vCPU development VM; medians of 200 runs,
# on and off interleaved, while other test runs loaded the VM). The benchmark statement (12-row
# summary, 40-row table, 92-day chart: two pages) took 2.4-4.9 ms without compression and
# 3.8-6.7 ms with it (fastest single runs 2.2 and 3.2 ms); a 4,600-row table (103 pages) 1.2-1.9
# ms a page without and 1.9-3.1 ms with. Without compression, reportlab re-encodes every
# character of the page stream through a Python-level codec (about 40 ns a character); with it,
# it deflates the stream (cheap) and then ASCII85-encodes the result in pure Python
# (dearer). The files are 2.5-3.5 times larger uncompressed (15 kB against 6 kB for the
# benchmark, 0.9 MB against 0.26 MB for the long table); ``render(..., compress=True)`` is there
# for copies where size matters more than time.

# ---------------------------------------------------------------------------------------------
# Public blocks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentMeta:
    """What every page of a document says about itself: the header (title, caption, court and
    case number, subject, period) and the footer (page numbers, generation time, verification
    code, audit checkpoint). ``generated_at`` and everything after it are keyword-only."""

    title: str
    caption: str
    court: str
    case_number: str
    period_label: str
    subject_label: str = ""
    _: KW_ONLY
    generated_at: datetime
    verification_code: str = ""
    checkpoint_label: str = ""
    notice: str = ""
    page_size: tuple[float, float] = LETTER


@dataclass(frozen=True)
class Heading:
    """A bold heading (level 1 to 3); it always stays on the page of the block that follows."""

    text: str
    level: int = 1


@dataclass(frozen=True)
class Paragraph:
    """Text wrapped to the frame width; newlines in ``text`` are kept as line breaks. ``small``
    prints it in a smaller size (notes, legal boilerplate)."""

    text: str
    small: bool = False


@dataclass(frozen=True)
class Spacer:
    """Vertical space in points. It is dropped at the top of a page that a page overflow
    started (but kept on the first page and after an explicit ``PageBreak``)."""

    height: float


@dataclass(frozen=True)
class Column:
    """A table column: ``width`` is a fraction of the frame width (a table's fractions sum to
    1); ``align`` is "left", "right" (amounts) or "center"."""

    title: str
    width: float
    align: str = "left"


@dataclass(frozen=True)
class Row:
    """A table row. ``indent`` indents the first cell by levels (sub-items of a schedule);
    ``rule_above`` draws a thin rule above it (subtotals); ``shade`` gives it a light grey
    background."""

    cells: Sequence[str]
    bold: bool = False
    rule_above: bool = False
    indent: int = 0
    shade: bool = False


@dataclass(frozen=True)
class Table:
    """A table that may run over many pages: the header row is repeated at the top of each page
    it continues on, long cells wrap inside their column (the row grows), a row is never split
    across pages, ``total`` is drawn after the last row in bold with a rule above, and an empty
    table prints ``empty_text``. Rows may be ``Row`` objects or plain sequences of strings;
    a row with fewer cells than columns leaves the rest blank."""

    columns: Sequence[Column]
    rows: Sequence[Row | Sequence[str]]
    header: bool = True
    empty_text: str = "None."
    total: Row | None = None

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("a table needs at least one column")
        for column in self.columns:
            if column.align not in _ALIGNS:
                raise ValueError(f"column {column.title!r}: align must be left, right or center")
            if not column.width > 0:
                raise ValueError(f"column {column.title!r}: width must be a positive fraction")
        total = math.fsum(column.width for column in self.columns)
        if abs(total - 1) > 1e-3:
            raise ValueError(f"the columns' width fractions sum to {total:g}, not 1")


@dataclass(frozen=True)
class Chart:
    """A small step-line chart of a balance over a period: x is the date, y an integer amount in
    minor units. The y axis is labelled with the minimum and maximum (``value_label`` formats
    them), the x axis with the first and last dates. ``height`` (points) excludes the title."""

    points: Sequence[tuple[date, int]]
    title: str
    value_label: Callable[[int], str]
    height: float = 110


@dataclass(frozen=True)
class SignatureBlock:
    """A statement followed, per field, by a line to sign or write on and its label ("Signature
    of the trustee", "Date", "Name"). Kept on one page when it fits on one."""

    statement: str
    fields: Sequence[str]


@dataclass(frozen=True)
class PageBreak:
    """Start a new page (ignored at the top of a page that is still empty)."""


Block = Heading | Paragraph | Spacer | Table | Chart | SignatureBlock | PageBreak


@dataclass(frozen=True)
class Rendered:
    """The PDF bytes and the number of pages."""

    pdf: bytes
    pages: int


# ---------------------------------------------------------------------------------------------
# Text: cp1252 cleaning, PDF escaping, widths, wrapping
# ---------------------------------------------------------------------------------------------

_REGULAR, _BOLD = 0, 1
_FONT_NAMES = ("Helvetica", "Helvetica-Bold")
_ALIGNS = ("left", "right", "center")

# Control characters that survive line splitting become "?" (a tab becomes a space).
_CONTROLS = {code: "?" for code in (*range(32), 127)} | {9: " "}


def _width_table(font_name: str) -> dict[str, float]:
    """Glyph widths (in units of the font size) of every character cp1252 can encode, from the
    font's own WinAnsiEncoding metrics: ``sum(map(table.__getitem__, text)) * size`` is
    ``pdfmetrics.stringWidth`` without its per-call encoding work."""
    font = pdfmetrics.getFont(font_name)
    assert font.encoding.name == "WinAnsiEncoding"
    widths = font.widths
    table = {}
    for code in range(256):
        try:
            char = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            continue
        table[char] = widths[code] / 1000
    return table


_WIDTHS = tuple(_width_table(name) for name in _FONT_NAMES)
_MAX_WIDTH = tuple(max(table.values()) for table in _WIDTHS)

# str.translate table from cleaned text to the inside of a PDF string literal: the three special
# characters escaped, everything outside printable ASCII as an octal cp1252 byte, so that the
# content stream is pure ASCII whatever reportlab later does with it.
_PDF_ESCAPES: dict[int, str] = {ord("("): "\\(", ord(")"): "\\)", ord("\\"): "\\\\"}
for _char in _WIDTHS[0]:
    _code = _char.encode("cp1252")[0]
    if _code < 32 or _code > 126:
        _PDF_ESCAPES[ord(_char)] = f"\\{_code:03o}"
del _char, _code


def _clean(text: str) -> str:
    """``text`` (one line) reduced to what the fonts can print: composed (NFC), control
    characters and anything outside cp1252 replaced with "?". Plain ASCII passes untouched."""
    if text.isascii() and text.isprintable():
        return text
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.translate(_CONTROLS).encode("cp1252", "replace").decode("cp1252")


def _one_line(text: str) -> str:
    """A header or footer field on one line: whitespace runs (newlines too) become one space."""
    return _clean(" ".join(text.split()))


def _width(text: str, font: int, size: float) -> float:
    """Width in points of cleaned ``text``."""
    return sum(map(_WIDTHS[font].__getitem__, text)) * size


def _wrap_line(text: str, font: int, size: float, avail: float) -> list[str]:
    """Cleaned ``text`` broken at spaces into lines no wider than ``avail``; a word longer than
    a line is broken between characters."""
    if len(text) * _MAX_WIDTH[font] * size <= avail:  # cannot be too wide: skip measuring
        return [text]
    table = _WIDTHS[font]
    if sum(map(table.__getitem__, text)) * size <= avail:
        return [text]
    limit = avail / size + 1e-9  # work in units of the font size
    space = table[" "]
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    for word in text.split():
        word_width = sum(map(table.__getitem__, word))
        if word_width > limit:  # too long for any line: flush, then break by characters
            if current:
                lines.append(" ".join(current))
            start, used = 0, 0.0
            for index, char in enumerate(word):
                if used + table[char] > limit and index > start:
                    lines.append(word[start:index])
                    start, used = index, 0.0
                used += table[char]
            current = [word[start:]]
        elif current and used + space + word_width <= limit:
            current.append(word)
            used += space + word_width
        else:
            if current:
                lines.append(" ".join(current))
            current, used = [word], word_width
    if current:
        lines.append(" ".join(current))
    return lines or [""]


def _wrap(text: str, font: int, size: float, avail: float) -> list[str]:
    """Any ``text`` (newlines are line breaks) cleaned and wrapped to ``avail`` points."""
    if text.isascii() and text.isprintable():
        return _wrap_line(text, font, size, avail)
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        lines.extend(_wrap_line(_clean(line), font, size, avail))
    return lines


def _esc(text: str) -> str:
    """Cleaned ``text`` as the inside of a PDF string literal."""
    if text.isascii() and "(" not in text and ")" not in text and "\\" not in text:
        return text  # the common case; translate() goes character by character
    return text.translate(_PDF_ESCAPES)


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _date_label(day: date) -> str:
    """The date as "1 July 2026", without the locale (``%B`` would depend on it)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


# ---------------------------------------------------------------------------------------------
# Units: what the measure pass produces and the draw pass prints
# ---------------------------------------------------------------------------------------------

# A unit's text is compiled once, when it is measured, into PDF text operators relative to its
# first piece (``Td`` moves), so that drawing it is one ``Tm`` plus that string; its graphics are
# compiled relative to its top edge, drawn under a ``cm`` translation. The pieces it is compiled
# from are (font, size, grey, x, dy, cleaned text), dy being the baseline's distance below the
# unit's top.
_Piece = tuple[int, float, float, float, float, str]
_State = tuple[int, float, float]  # font, size, grey
_Code = tuple[float, float, _State, str, _State]  # x, dy of the first piece, start, code, end

_FLOW, _ROW, _SPACER, _BREAK = 0, 1, 2, 3


class _Unit:
    """An unbreakable piece of a page, ``height`` points tall: ``kind`` is _FLOW, _ROW (a table
    row: ``header`` is its table's header unit, repeated when the row starts a page), _SPACER or
    _BREAK; ``keep_next`` keeps it on the page of the next unit."""

    __slots__ = ("gfx", "header", "height", "keep_next", "kind", "space_before", "text")

    def __init__(
        self,
        height: float,
        text: _Code | None = None,
        gfx: str = "",
        *,
        kind: int = _FLOW,
        keep_next: bool = False,
    ) -> None:
        self.height = height
        self.text = text
        self.gfx = gfx
        self.kind = kind
        self.space_before = 0.0
        self.keep_next = keep_next
        self.header: _Unit | None = None


def _line(x1: float, dy1: float, x2: float, dy2: float, width: float, grey: float) -> str:
    """A stroked line, in coordinates relative to the unit's top (y = -dy)."""
    return f"{width:g} w {grey:g} G {x1:.2f} {0 - dy1:.2f} m {x2:.2f} {0 - dy2:.2f} l S"


def _dashed(x1: float, dy: float, x2: float, width: float, grey: float) -> str:
    """A dashed horizontal line (chart grid)."""
    return f"[2 2] 0 d {_line(x1, dy, x2, dy, width, grey)} [] 0 d"


def _fill(x: float, dy: float, width: float, height: float, grey: float) -> str:
    """A filled rectangle whose top edge is ``dy`` below the unit's top."""
    return f"{grey:g} g {x:.2f} {0 - dy - height:.2f} {width:.2f} {height:.2f} re f"


def _polyline(path: list[int], width: float, grey: float) -> str:
    """A stroked polyline with round joins (the chart's step line), its vertices flattened and
    in tenths of a point (under a 0.1 scale): whole numbers format several times faster than
    floats, and a chart's vertices are most of its work."""
    count = len(path) // 2
    vertices = ("%d %d m " + "%d %d l " * (count - 1)) % tuple(path)
    return f"q 0.1 0 0 0.1 0 0 cm 1 j {width * 10:g} w {grey:g} G {vertices}S Q"


# Sizes in points.
_MARGIN_X = 54.0
_MARGIN_TOP = 36.0
_MARGIN_BOTTOM = 30.0
_ASCENT = 0.85  # first baseline below a line box's top, in font sizes (centres Helvetica)

_CELL_SIZE = 8.0
_CELL_LEADING = 9.6
_CELL_PAD_X = 3.0
_CELL_PAD_Y = 2.0
_INDENT = 10.0
_HEADER_SHADE = 0.88
_ROW_SHADE = 0.94

_BODY = (9.0, 12.0)  # paragraph size, leading
_SMALL = (7.5, 9.5)
# Heading level: size, leading, space before, space after.
_HEADINGS = {1: (12.5, 15.0, 14.0, 5.0), 2: (10.5, 13.0, 11.0, 4.0), 3: (9.5, 12.0, 9.0, 3.0)}


def _pieces(
    lines: Sequence[str], font: int, size: float, leading: float, x: float, dy: float, grey=0.0
) -> list[_Piece]:
    """Left-aligned pieces for cleaned ``lines``, the first baseline ``dy`` below the top."""
    return [(font, size, grey, x, dy + i * leading, line) for i, line in enumerate(lines)]


class _Layout:
    """One document's page geometry, its header and footer, and the three passes."""

    def __init__(self, meta: DocumentMeta, fonts: tuple[str, str]) -> None:
        self.meta = meta
        self.fonts = fonts  # the PDF resource names of _REGULAR and _BOLD
        self.page_width, self.page_height = meta.page_size
        self.x0 = _MARGIN_X
        self.width = self.page_width - 2 * _MARGIN_X
        self.first_header = self._first_header()
        self.later_header = self._later_header()
        self.footer, self.footer_baseline = self._footer()
        self.bottom = _MARGIN_BOTTOM + self.footer.height + 10
        self.top_first = self.page_height - _MARGIN_TOP - self.first_header.height - 12
        self.top_later = self.page_height - _MARGIN_TOP - self.later_header.height - 12
        if self.top_later - self.bottom < 100:
            raise ValueError("the page is too small for its header and footer")

    def _compile(self, pieces: Sequence[_Piece]) -> _Code | None:
        """Text operators for ``pieces``, relative to the first one (see ``_Code``)."""
        if not pieces:
            return None
        fonts = self.fonts
        font, size, grey, x0, dy0, _ = pieces[0]
        start = state = (font, size, grey)
        x0, dy0 = round(x0, 2), round(dy0, 2)
        last_x, last_dy = x0, dy0
        parts = []
        for font, size, grey, x, dy, text in pieces:
            if (font, size) != state[:2]:
                parts.append(f"{fonts[font]} {size:g} Tf")
            if grey != state[2]:
                parts.append(f"{grey:g} g")
            state = (font, size, grey)
            x, dy = round(x, 2), round(dy, 2)
            if x != last_x or dy != last_dy:
                parts.append(f"{x - last_x:.2f} {last_dy - dy:.2f} Td")
                last_x, last_dy = x, dy
            parts.append(f"({_esc(text)}) Tj")
        return x0, dy0, start, " ".join(parts), state

    # -- page furniture ----------------------------------------------------------------------

    def _pair(
        self,
        pieces: list[_Piece],
        dy: float,
        left: str,
        left_font: int,
        left_size: float,
        right: str,
        right_size: float,
        leading: float,
        grey: float = 0.0,
    ) -> float:
        """``left`` (wrapped) and ``right`` (right-aligned) on one line when both fit, else
        ``right`` on a line of its own; returns the next baseline's ``dy``."""
        x0, width = self.x0, self.width
        right_width = _width(right, _REGULAR, right_size) if right else 0.0
        fits = _width(left, left_font, left_size) + 18 + right_width <= width
        lines = _wrap_line(left, left_font, left_size, width) if left else []
        pieces.extend(_pieces(lines, left_font, left_size, leading, x0, dy, grey))
        if right:
            if not fits or not lines:
                dy += len(lines) * leading
                lines = [right]
            pieces.append((_REGULAR, right_size, grey, x0 + width - right_width, dy, right))
        return dy + len(lines) * leading

    def _first_header(self) -> _Unit:
        """Page 1: title, caption, court and case number, subject, period, then the notice."""
        meta, x0, width = self.meta, self.x0, self.width
        title = _wrap_line(_one_line(meta.title), _BOLD, 14, width)
        pieces = _pieces(title, _BOLD, 14, 17, x0, 14 * _ASCENT)
        dy = len(title) * 17 + 2
        for text, size, leading in (
            (meta.caption, 10.5, 13.0),
            (f"{meta.court} · Case No. {meta.case_number}", 9.0, 11.5),
            (meta.subject_label, 9.0, 11.5),
            (meta.period_label, 9.0, 11.5),
        ):
            if text := _one_line(text):
                lines = _wrap_line(text, _REGULAR, size, width)
                pieces.extend(_pieces(lines, _REGULAR, size, leading, x0, dy + size * _ASCENT))
                dy += len(lines) * leading
        dy += 4
        gfx = [_line(x0, dy, x0 + width, dy, 0.8, 0.0)]
        if notice := _one_line(meta.notice):
            dy += 8
            lines = _wrap_line(notice, _BOLD, 9, width - 12)
            box = len(lines) * 11.5 + 8
            gfx.append(_fill(x0, dy, width, box, 0.9))
            gfx.append(_line(x0 + 1, dy, x0 + 1, dy + box, 2.0, 0.35))
            pieces.extend(_pieces(lines, _BOLD, 9, 11.5, x0 + 8, dy + 4 + 9 * _ASCENT))
            dy += box
        return _Unit(dy, self._compile(pieces), " ".join(gfx))

    def _later_header(self) -> _Unit:
        """Pages 2 and later, compact: title and subject; caption, case number and period."""
        meta = self.meta
        pieces: list[_Piece] = []
        title, subject = _one_line(meta.title), _one_line(meta.subject_label)
        dy = self._pair(pieces, 10 * _ASCENT, title, _BOLD, 10, subject, 8.5, 12.5)
        caption = _one_line(f"{meta.caption} · Case No. {meta.case_number}")
        period = _one_line(meta.period_label)
        dy = self._pair(pieces, dy, caption, _REGULAR, 8.5, period, 8.5, 11.0)
        dy -= 11.0 - 5  # just under the last line's descenders
        rule = _line(self.x0, dy, self.x0 + self.width, dy, 0.6, 0.0)
        return _Unit(dy, self._compile(pieces), rule)

    def _footer(self) -> tuple[_Unit, float]:
        """The footer without its page number; returns it and the first baseline's ``dy``,
        where "Page X of Y" goes, right-aligned."""
        meta, x0, width = self.meta, self.x0, self.width
        generated = meta.generated_at
        if generated.tzinfo is None:
            generated = generated.replace(tzinfo=UTC)
        generated = generated.astimezone(UTC)
        code = _one_line(meta.verification_code)
        generated_label = f"Generated {generated:%Y-%m-%d %H:%M} UTC"
        checkpoint = _one_line(meta.checkpoint_label)
        first = 8 + 7.5 * _ASCENT
        # The first line's left part: the verification code, else the generation time.
        avail = width - _width("Page 9999 of 9999", _REGULAR, 8) - 18
        left = f"Verification code: {code}" if code else generated_label
        lines = _wrap_line(left, _REGULAR, 7.5, avail)
        pieces = _pieces(lines, _REGULAR, 7.5, 9.5, x0, first, 0.15)
        dy = first + len(lines) * 9.5
        if code:
            self._pair(pieces, dy, generated_label, _REGULAR, 7, checkpoint, 7, 9.0, 0.3)
        elif checkpoint:
            self._pair(pieces, dy, checkpoint, _REGULAR, 7, "", 7, 9.0, 0.3)
        # A constant height, whether or not the checkpoint label needed a line of its own.
        height = first + (len(lines) + 2) * 9.5
        rule = _line(x0, 0.0, x0 + width, 0.0, 0.5, 0.4)
        return _Unit(height, self._compile(pieces), rule), first

    # -- measure -----------------------------------------------------------------------------

    def measure(self, blocks: Sequence[Block]) -> list[_Unit]:
        """Every block as units; the space between two blocks is the larger of the first's
        space after and the second's space before."""
        units: list[_Unit] = []
        after = 0.0
        for block in blocks:
            if isinstance(block, Table):
                new, before, next_after = self._table(block), 8.0, 10.0
            elif isinstance(block, Paragraph):
                new, before, next_after = self._paragraph(block), 3.0, 6.0
            elif isinstance(block, Heading):
                new, before, next_after = self._heading(block)
            elif isinstance(block, Chart):
                new, before, next_after = [self._chart(block)], 8.0, 10.0
            elif isinstance(block, SignatureBlock):
                new, before, next_after = self._signature(block), 12.0, 10.0
            elif isinstance(block, Spacer):
                units.append(_Unit(max(0.0, float(block.height)), kind=_SPACER))
                continue
            elif isinstance(block, PageBreak):
                units.append(_Unit(0.0, kind=_BREAK))
                after = 0.0
                continue
            else:
                raise TypeError(f"not a layout block: {block!r}")
            if new:
                new[0].space_before = max(after, before)
                after = next_after
                units.extend(new)
        return units

    def _heading(self, block: Heading) -> tuple[list[_Unit], float, float]:
        size, leading, before, after = _HEADINGS[min(max(block.level, 1), 3)]
        lines = _wrap(block.text, _BOLD, size, self.width)
        pieces = _pieces(lines, _BOLD, size, leading, self.x0, size * _ASCENT)
        return [_Unit(len(lines) * leading, self._compile(pieces), keep_next=True)], before, after

    def _paragraph(self, block: Paragraph) -> list[_Unit]:
        """One unit per line: the first two and the last two lines stay together (no orphan or
        widow line)."""
        size, leading = _SMALL if block.small else _BODY
        lines = _wrap(block.text, _REGULAR, size, self.width)
        last = len(lines) - 1
        x0, dy = self.x0, size * _ASCENT
        return [
            _Unit(
                leading,
                self._compile([(_REGULAR, size, 0.0, x0, dy, line)]),
                keep_next=last > 0 and index in (0, last - 1),
            )
            for index, line in enumerate(lines)
        ]

    def _signature(self, block: SignatureBlock) -> list[_Unit]:
        """The statement, then per field a line to write on and its label; all chained so that
        the block stays on one page when it fits on one."""
        units = self._paragraph(Paragraph(block.statement)) if block.statement.strip() else []
        x0, line_width = self.x0, min(self.width, max(220.0, self.width * 0.55))
        for field in block.fields:
            label = [(_REGULAR, 7.5, 0.2, x0, 31 + 7.5 * _ASCENT, _one_line(field))]
            rule = _line(x0, 28.0, x0 + line_width, 28.0, 0.6, 0.0)
            units.append(_Unit(40.0, self._compile(label), rule))
        for unit in units[:-1]:
            unit.keep_next = True
        return units

    def _table(self, table: Table) -> list[_Unit]:
        """The header unit (kept with the first two rows), the rows, then the total (kept with
        the last row)."""
        x0, width = self.x0, self.width
        scale = width / math.fsum(column.width for column in table.columns)
        columns = []  # per column: the left and right edges of its text, and its alignment
        left = x0
        for column in table.columns:
            right = left + column.width * scale
            columns.append((left + _CELL_PAD_X, right - _CELL_PAD_X, _ALIGNS.index(column.align)))
            left = right
        # A row may not be taller than an empty later page minus the repeated header.
        limit = self.top_later - self.bottom
        row = self._row

        header = None
        units: list[_Unit] = []
        if table.header:
            titles = [column.title for column in table.columns]
            header = row(titles, columns, True, False, 0, _HEADER_SHADE, limit)[0]
            rule = _line(x0, header.height, x0 + width, header.height, 0.6, 0.2)
            header.gfx = f"{header.gfx} {rule}"
            header.keep_next = True
            limit -= header.height
            units.append(header)

        count = 0
        for cells in table.rows:
            count += 1
            if isinstance(cells, Row):
                shade = _ROW_SHADE if cells.shade else 0.0
                units += row(cells.cells, columns, cells.bold, cells.rule_above, cells.indent,
                             shade, limit)  # fmt: skip
            elif isinstance(cells, str):
                raise TypeError("a table row is a Row or a sequence of strings, not a string")
            else:
                units += row(cells, columns, False, False, 0, 0.0, limit)
        if not count:
            spanning = [(x0 + _CELL_PAD_X, x0 + width - _CELL_PAD_X, 0)]
            units += row([table.empty_text], spanning, False, False, 0, 0.0, limit)
        if (total := table.total) is not None:
            units[-1].keep_next = True
            shade = _ROW_SHADE if total.shade else 0.0
            units += row(total.cells, columns, True, True, total.indent, shade, limit)
        body = units[1:] if header else units
        if header and len(body) > 1:
            body[0].keep_next = True  # the header and the first two rows, or the table moves on
        for unit in body:
            unit.kind = _ROW
            unit.header = header
        return units

    def _row(
        self,
        cells: Sequence[str],
        columns: list[tuple[float, float, int]],
        bold: bool,
        rule_above: bool,
        indent: int,
        shade: float,
        limit: float,
    ) -> list[_Unit]:
        """One row as one unit; as several only if it is taller than ``limit`` (a cell longer
        than a page, the one case where a row has to be split).

        This is the hot path (a long schedule has thousands of rows), so it avoids work: a cell
        is measured only when it is right-aligned, centred or might be too wide (its length
        times the widest glyph), and the row's text operators are written here directly, each
        cell a ``Td`` move from the previous one."""
        if len(cells) > len(columns):
            raise ValueError(f"a row has {len(cells)} cells for {len(columns)} columns: {cells!r}")
        if indent:
            left, right, align = columns[0]
            columns = [(min(left + indent * _INDENT, right - 10), right, align), *columns[1:]]
        font = _BOLD if bold else _REGULAR
        widths = _WIDTHS[font].__getitem__
        size = _CELL_SIZE
        fast = _MAX_WIDTH[font] * size
        first = _CELL_PAD_Y + size * _ASCENT
        parts: list[str] = []
        origin = None
        last_x = last_dy = first
        lines_max = 1
        for cell, (left, right, align) in zip(cells, columns, strict=False):
            if not cell:
                continue
            if type(cell) is not str:
                cell = str(cell)
            x = -1.0  # stays negative if the cell needs the general path (wrapping, cp1252)
            if cell.isascii() and cell.isprintable():
                if align == 0 and len(cell) * fast <= right - left:
                    x = left
                else:
                    width = sum(map(widths, cell)) * size
                    if width <= right - left:
                        x = (left, right - width, (left + right - width) / 2)[align]
            if x >= 0:
                if "(" in cell or ")" in cell or "\\" in cell:
                    cell = _esc(cell)
                if origin is None:
                    origin = x
                    parts.append(f"({cell}) Tj")
                elif last_dy == first:
                    parts.append(f"{x - last_x:.2f} 0 Td ({cell}) Tj")
                else:
                    parts.append(f"{x - last_x:.2f} {last_dy - first:.2f} Td ({cell}) Tj")
                    last_dy = first
                last_x = x
                continue
            lines = _wrap(cell, font, size, right - left)
            if len(lines) > lines_max:
                lines_max = len(lines)
            dy = first
            for line in lines:
                if align == 0:
                    x = left
                elif align == 1:
                    x = right - sum(map(widths, line)) * size
                else:
                    x = (left + right - sum(map(widths, line)) * size) / 2
                if origin is None:
                    origin = x
                    parts.append(f"({_esc(line)}) Tj")
                else:
                    parts.append(f"{x - last_x:.2f} {last_dy - dy:.2f} Td ({_esc(line)}) Tj")
                last_x, last_dy = x, dy
                dy += _CELL_LEADING
        height = lines_max * _CELL_LEADING + 2 * _CELL_PAD_Y
        if height > limit:
            return self._split_row(cells, columns, font, rule_above, shade, limit)
        x0 = self.x0
        gfx = _fill(x0, 0.0, self.width, height, shade) if shade else ""
        if rule_above:
            rule = _line(x0, 0.0, x0 + self.width, 0.0, 0.6, 0.2)
            gfx = f"{gfx} {rule}" if gfx else rule
        if origin is None:
            return [_Unit(height, None, gfx)]
        state = (font, size, 0.0)
        return [_Unit(height, (origin, first, state, " ".join(parts), state), gfx)]

    def _split_row(
        self,
        cells: Sequence[str],
        columns: list[tuple[float, float, int]],
        font: int,
        rule_above: bool,
        shade: float,
        limit: float,
    ) -> list[_Unit]:
        """A row taller than a page as several units, each as many lines as a page holds."""
        size, leading = _CELL_SIZE, _CELL_LEADING
        first = _CELL_PAD_Y + size * _ASCENT
        pieces: list[tuple[int, float, str]] = []  # line number, x, text
        for cell, (left, right, align) in zip(cells, columns, strict=False):
            for number, line in enumerate(_wrap(str(cell or ""), font, size, right - left)):
                free = right - left - _width(line, font, size)
                pieces.append((number, left + free * (0, 1, 0.5)[align], line))
        count = max(number for number, _, _ in pieces) + 1
        per_unit = max(1, int((limit - 2 * _CELL_PAD_Y) // leading))
        units = []
        for start in range(0, count, per_unit):
            part = [
                (font, size, 0.0, x, first + (number - start) * leading, line)
                for number, x, line in pieces
                if start <= number < start + per_unit and line
            ]
            height = min(per_unit, count - start) * leading + 2 * _CELL_PAD_Y
            gfx = [_fill(self.x0, 0.0, self.width, height, shade)] if shade else []
            if rule_above and not start:
                gfx.append(_line(self.x0, 0.0, self.x0 + self.width, 0.0, 0.6, 0.2))
            units.append(_Unit(height, self._compile(part), " ".join(gfx)))
        return units

    def _chart(self, chart: Chart) -> _Unit:
        """Title, axes, dashed min/max lines and their labels, the step line, first/last dates."""
        x0, width = self.x0, self.width
        title = _wrap(chart.title, _BOLD, 9, width)
        pieces = _pieces(title, _BOLD, 9, 11.5, x0, 9 * _ASCENT)
        top = len(title) * 11.5 + 3
        height = min(max(float(chart.height), 40.0), self.top_later - self.bottom - top - 10)
        plot_top, plot_bottom = top, top + height - 13  # room below for the dates
        points = sorted(chart.points, key=lambda point: point[0])
        values = [int(value) for _, value in points]
        low, high = (min(values), max(values)) if values else (0, 0)
        labels = {}
        if points:
            labels = {high: _one_line(chart.value_label(high))}
            labels[low] = _one_line(chart.value_label(low))
        label_width = max((_width(text, _REGULAR, 7) for text in labels.values()), default=0)
        plot_left, plot_right = x0 + label_width + 6, x0 + width
        gfx = [
            _line(plot_left, plot_top, plot_left, plot_bottom, 0.5, 0.45),
            _line(plot_left, plot_bottom, plot_right, plot_bottom, 0.5, 0.45),
        ]
        if not points:
            message = "No data for the period."
            x = (plot_left + plot_right - _width(message, _REGULAR, 7.5)) / 2
            pieces.append((_REGULAR, 7.5, 0.35, x, (plot_top + plot_bottom) / 2 + 3, message))
            return _Unit(top + height, self._compile(pieces), " ".join(gfx))

        inner_top, inner_bottom = plot_top + 5, plot_bottom - 5
        span = high - low

        def y_of(value: int) -> float:
            if not span:
                return (inner_top + inner_bottom) / 2
            return inner_top + (high - value) / span * (inner_bottom - inner_top)

        for value, text in labels.items():
            y = y_of(value)
            gfx.append(_dashed(plot_left, y, plot_right, 0.4, 0.6))
            x = plot_left - 4 - _width(text, _REGULAR, 7)
            pieces.append((_REGULAR, 7, 0.25, x, y + 2.5, text))
        if low < 0 < high:
            gfx.append(_line(plot_left, y_of(0), plot_right, y_of(0), 0.5, 0.45))

        first_day, last_day = points[0][0], points[-1][0]
        days = (last_day - first_day).days
        inner_left, inner_right = plot_left + 2, plot_right - 2
        # The step line, in tenths of a point, relative to the unit's top (y = -dy).
        if span:
            ratio = (inner_bottom - inner_top) / span * 10
            ys = [round(-10 * inner_top - (high - value) * ratio) for value in values]
        else:
            ys = [round(-10 * y_of(low))] * len(values)
        if not days:  # one date: a level line across the plot
            path = [round(inner_left * 10), ys[-1], round(inner_right * 10), ys[-1]]
        else:
            # x snapped to half a point: the days sharing one merge into a single vertical run
            step = (inner_right - inner_left) / days * 2
            origin = first_day.toordinal()
            xs = [
                round(inner_left * 2 + (day.toordinal() - origin) * step) * 5 for day, _ in points
            ]
            path = _step_path(xs, ys)
        gfx.append(_polyline(path, 1.1, 0.0))
        date_dy = plot_bottom + 3 + 7 * _ASCENT
        pieces.append((_REGULAR, 7, 0.25, plot_left, date_dy, _date_label(first_day)))
        if days:
            end = _date_label(last_day)
            pieces.append((_REGULAR, 7, 0.25, plot_right - _width(end, _REGULAR, 7), date_dy, end))
        return _Unit(top + height, self._compile(pieces), " ".join(gfx))

    # -- paginate ----------------------------------------------------------------------------

    def paginate(self, units: list[_Unit]) -> list[list[tuple[_Unit, float]]]:
        """Units placed on pages as (unit, top y). A unit moves to the next page when it does not
        fit, or when the chain of units it must stay with does not fit but would on a new page;
        a row that starts a page is preceded by its table's header."""
        bottom = self.bottom
        pages: list[list[tuple[_Unit, float]]] = [[]]
        placed = pages[0]
        y = self.top_first
        has_content = False
        overflowed = False  # this page was started by an overflow (not page 1, not a PageBreak)
        count = len(units)

        def chain(index: int) -> float:
            """The height of the units that must stay with units[index]."""
            extra = 0.0
            while units[index].keep_next:
                index += 1
                while index < count and units[index].kind == _SPACER:
                    extra += units[index].height
                    index += 1
                if index >= count or units[index].kind == _BREAK:
                    break
                extra += units[index].space_before + units[index].height
            return extra

        for index, unit in enumerate(units):
            kind = unit.kind
            if kind in (_BREAK, _SPACER):
                if kind == _SPACER and (has_content or not overflowed):
                    if y - unit.height >= bottom:
                        y -= unit.height
                        has_content = True
                        continue
                elif kind == _SPACER or not has_content:
                    continue  # a spacer at the top of an overflow page, a break on an empty one
                placed = []
                pages.append(placed)
                y, has_content, overflowed = self.top_later, False, kind == _SPACER
                continue
            before = unit.space_before if has_content else 0.0
            needed = before + unit.height
            fits = y - needed >= bottom
            if has_content and not (
                fits and (not unit.keep_next or y - needed - chain(index) >= bottom)
            ):
                # It does not fit, or what must stay with it does not: move on, unless that
                # would not fit on an empty page either (then it breaks where it has to).
                room = self.top_later - bottom
                if kind == _ROW and unit.header is not None:
                    room -= unit.header.height
                if not fits or unit.height + chain(index) <= room:
                    placed = []
                    pages.append(placed)
                    y, has_content, overflowed = self.top_later, False, True
                    before, needed = 0.0, unit.height
            if not has_content and kind == _ROW and unit.header is not None:
                placed.append((unit.header, y))
                y -= unit.header.height
            placed.append((unit, y - before))
            y -= needed
            has_content = True
        return pages

    # -- draw --------------------------------------------------------------------------------

    def draw(self, canvas: Canvas, pages: list[list[tuple[_Unit, float]]]) -> None:
        """Every page's content stream, written with ``addLiteral``: graphics first (shading
        under the text), then one text object with all the text of the page."""
        total = len(pages)
        page_top = self.page_height - _MARGIN_TOP
        footer_top = _MARGIN_BOTTOM + self.footer.height
        right = self.x0 + self.width
        for number, placed in enumerate(pages, start=1):
            writer = _PageWriter(self.fonts)
            writer.unit(self.first_header if number == 1 else self.later_header, page_top)
            for unit, top in placed:
                writer.unit(unit, top)
            writer.unit(self.footer, footer_top)
            label = f"Page {number} of {total}"
            x = right - _width(label, _REGULAR, 8)
            writer.unit(_Unit(0, self._compile([(_REGULAR, 8, 0.0, x, 0.0, label)])),
                        footer_top - self.footer_baseline)  # fmt: skip
            canvas.addLiteral(writer.stream())
            canvas.showPage()


def _step_path(xs: list[int], ys: list[int]) -> list[int]:
    """The vertices (flattened x, y, x, y...) of a step line through (xs[i], ys[i]), level until
    the next x then vertical, without redundant vertices: an unchanged value adds none, and the
    values sharing one x are reduced to their first, lowest, highest and last, so that years of
    daily points still make a path of a few hundred vertices."""
    columns_x: list[int] = []
    columns_y: list[list[int]] = []
    for x, y in zip(xs, ys, strict=True):
        if columns_x and columns_x[-1] == x:
            columns_y[-1].append(y)
        else:
            columns_x.append(x)
            columns_y.append([y])
    level = ys[0]
    path = [xs[0], level]
    for x, column in zip(columns_x, columns_y, strict=True):
        if len(column) > 2:
            column = [column[0], min(column), max(column), column[-1]]
        for y in column:
            if y != level:
                if path[-2] != x:
                    path += (x, level)
                path += (x, y)
                level = y
    if path[-2] != columns_x[-1]:
        path += (columns_x[-1], level)
    return path


class _PageWriter:
    """Collects one page's operators; tracks the text state (font, size, grey) across units so
    that a run of rows sets the font once."""

    __slots__ = ("fonts", "gfx", "ops", "state")

    def __init__(self, fonts: tuple[str, str]) -> None:
        self.fonts = fonts
        self.gfx: list[str] = []
        self.ops: list[str] = ["BT"]
        self.state: _State | None = None

    def unit(self, unit: _Unit, top: float) -> None:
        """Print ``unit`` with its top edge at ``top``."""
        if unit.gfx:
            self.gfx.append(f"q 1 0 0 1 0 {top:.2f} cm {unit.gfx} Q")
        if unit.text is None:
            return
        x, dy, start, code, end = unit.text
        state = self.state
        if state != start:
            if state is None or state[:2] != start[:2]:
                self.ops.append(f"{self.fonts[start[0]]} {start[1]:g} Tf")
            if state is None or state[2] != start[2]:
                self.ops.append(f"{start[2]:g} g")
        self.ops.append(f"1 0 0 1 {x:.2f} {top - dy:.2f} Tm {code}")
        self.state = end

    def stream(self) -> str:
        """The page's operators: graphics, then text."""
        self.ops.append("ET")
        return "\n".join(self.gfx) + "\n" + "\n".join(self.ops)


def render(meta: DocumentMeta, blocks: Sequence[Block], *, compress: bool = False) -> Rendered:
    """Lay ``blocks`` out under ``meta``'s header and footer and return the PDF. Identical inputs
    give identical bytes. ``compress`` deflates the page streams: files about 3 times smaller,
    rendering about 1.4 times slower (measured: see the comment at the top of the module)."""
    buffer = io.BytesIO()
    compression = 1 if compress else 0
    canvas = Canvas(buffer, pagesize=meta.page_size, invariant=1, pageCompression=compression)
    canvas.setTitle(_one_line(meta.title))
    canvas.setSubject(_one_line(f"{meta.caption} · Case No. {meta.case_number}"))
    canvas.setCreator(CREATOR)
    # Registering the fonts gives their page resource names ("/F1"): the call Canvas.setFont
    # makes, without the operators setFont would add to the page.
    fonts = (
        canvas._doc.getInternalFontName(_FONT_NAMES[_REGULAR]),
        canvas._doc.getInternalFontName(_FONT_NAMES[_BOLD]),
    )
    layout = _Layout(meta, fonts)
    pages = layout.paginate(layout.measure(blocks))
    layout.draw(canvas, pages)
    canvas.save()
    return Rendered(pdf=buffer.getvalue(), pages=len(pages))
