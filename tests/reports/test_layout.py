"""The PDF layout engine (reports/layout.py): what every page prints, pagination (headers repeated,
rows whole, headings kept with what follows), determinism, cp1252 fallback, charts, and a raster
check that the document really draws something. Pure: no database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pypdf
import pypdfium2 as pdfium
import pytest

from reports.layout import (
    A4,
    CREATOR,
    Chart,
    Column,
    DocumentMeta,
    Heading,
    PageBreak,
    Paragraph,
    Rendered,
    Row,
    SignatureBlock,
    Spacer,
    Table,
    render,
)

META = DocumentMeta(
    "Beneficiary statement",
    "United States v. Example",
    "United States District Court for the District of Example",
    "1:24-cr-00123",
    "1 July 2026 to 30 September 2026",
    "Beneficiary: MV-1",
    generated_at=datetime(2026, 12, 2, 10, 15, tzinfo=UTC),
    verification_code="3F9A-0C21-77B0-19DE",
    checkpoint_label="Audit checkpoint: 1,234 events, root 9f2c1a0b",
)

COLUMNS = [
    Column("Date", 0.15),
    Column("Description", 0.45),
    Column("Reference no.", 0.15),
    Column("Amount", 0.25, "right"),
]


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100:,}.{abs(minor) % 100:02d}"


def rows(count: int) -> list[list[str]]:
    return [
        [f"2026-07-{i % 28 + 1:02d}", f"Allocation of receipt R-{1000 + i}", f"TX-{9000 + i}",
         money(i * 7919)]
        for i in range(count)
    ]  # fmt: skip


def page_texts(rendered: Rendered) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(rendered.pdf))
    assert len(reader.pages) == rendered.pages
    return [page.extract_text() for page in reader.pages]


def dark_pixels(rendered: Rendered, page: int = 0) -> int:
    image = pdfium.PdfDocument(rendered.pdf)[page].render(scale=1).to_pil().convert("L")
    return sum(image.histogram()[:128])


def baseline(rendered: Rendered, text: str, page: int = 0) -> tuple[float, float]:
    """(right edge, bottom) of the last character of the first occurrence of ``text``."""
    textpage = pdfium.PdfDocument(rendered.pdf)[page].get_textpage()
    found = textpage.search(text, match_case=True).get_next()
    assert found is not None, f"{text!r} not on page {page + 1}"
    index, count = found
    _left, bottom, right, _top = textpage.get_charbox(index + count - 1)
    return right, bottom


def page_of(texts: list[str], needle: str) -> int:
    pages = [number for number, text in enumerate(texts) if needle in text]
    assert pages, f"{needle!r} not printed"
    return pages[0]


# --- every page ---------------------------------------------------------------------------------


def test_every_page_has_its_header_and_footer() -> None:
    table = Table(COLUMNS, rows(150), total=Row(["", "Total", "", money(123456789)]))
    rendered = render(META, [Heading("Schedule A: receipts"), table])
    texts = page_texts(rendered)
    count = rendered.pages
    assert count >= 3
    assert (
        "United States District Court for the District of Example · Case No. 1:24-cr-00123"
        in (texts[0])
    )
    for number, text in enumerate(texts, start=1):
        for printed in (
            "Beneficiary statement",
            "United States v. Example",
            "Case No. 1:24-cr-00123",
            "1 July 2026 to 30 September 2026",
            "Beneficiary: MV-1",
            f"Page {number} of {count}",
            "Verification code: 3F9A-0C21-77B0-19DE",
            "Generated 2026-12-02 10:15 UTC",
            "Audit checkpoint: 1,234 events, root 9f2c1a0b",
        ):
            assert printed in text, (number, printed)
        # The table's header row is repeated on every page it continues on.
        assert "Reference no." in text, number
    assert "Schedule A: receipts" in texts[0]
    assert "Allocation of receipt R-1000" in texts[0]
    assert "Allocation of receipt R-1149" in texts[-1]
    assert "Total" in texts[-1] and "1,234,567.89" in texts[-1]


def test_page_x_of_y_and_repeated_header_order() -> None:
    rendered = render(META, [Table(COLUMNS, rows(120))])
    texts = page_texts(rendered)
    assert [f"Page {n} of {rendered.pages}" in text for n, text in enumerate(texts, 1)] == [
        True
    ] * rendered.pages
    second = texts[1]
    first_row_on_page_2 = next(f"R-{1000 + i}" for i in range(120) if f"R-{1000 + i}" in second)
    assert second.index("Reference no.") < second.index(first_row_on_page_2)
    # Every row is printed exactly once: none is lost or repeated at a page break.
    everything = "\n".join(texts)
    for i in range(120):
        assert everything.count(f"TX-{9000 + i}\n") + everything.count(f"TX-{9000 + i} ") == 1


def test_three_pages_say_page_2_of_3() -> None:
    # Grow the table until the document has exactly three pages.
    for count in range(60, 200, 5):
        rendered = render(META, [Table(COLUMNS, rows(count))])
        if rendered.pages == 3:
            break
    assert rendered.pages == 3
    texts = page_texts(rendered)
    assert "Page 1 of 3" in texts[0]
    assert "Page 2 of 3" in texts[1]
    assert "Page 3 of 3" in texts[2]


def test_document_info_and_notice() -> None:
    meta = DocumentMeta(
        "Account of the trustee",
        "United States v. Example",
        "District Court",
        "1:24-cr-00123",
        "As at 2 December 2026",
        generated_at=datetime(2026, 12, 2, 10, 15),  # naive: taken as UTC
        notice="PROVISIONAL: the period is open",
    )
    rendered = render(meta, [Table(COLUMNS, rows(80))])
    reader = pypdf.PdfReader(io.BytesIO(rendered.pdf))
    info = reader.metadata
    assert info.title == "Account of the trustee"
    assert info.subject == "United States v. Example · Case No. 1:24-cr-00123"
    assert info.creator == CREATOR
    texts = page_texts(rendered)
    assert "PROVISIONAL: the period is open" in texts[0]
    assert all("PROVISIONAL" not in text for text in texts[1:])
    assert "Generated 2026-12-02 10:15 UTC" in texts[0]
    assert "Verification code" not in texts[0]  # none given: no empty label


def test_a4_page_size() -> None:
    meta = DocumentMeta(
        "Order status", "United States v. Example", "Court", "1", "As at 2 December 2026",
        generated_at=META.generated_at, page_size=A4,
    )  # fmt: skip
    rendered = render(meta, [Paragraph("Body.")])
    box = pypdf.PdfReader(io.BytesIO(rendered.pdf)).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4)


# --- determinism and raster ---------------------------------------------------------------------


def sample_blocks() -> list:
    points = [
        (date(2026, 7, 1) + timedelta(days=i), 100_000 + (i * 7919) % 50_000) for i in range(92)
    ]
    return [
        Heading("Summary"),
        Table([Column("Item", 0.7), Column("Amount", 0.3, "right")],
              [Row([f"Line {i}", money(i * 12345)], shade=i % 2 == 1) for i in range(12)],
              total=Row(["Closing balance", money(999_999)])),
        Heading("Transactions", level=2),
        Table(COLUMNS, rows(40)),
        Chart(points, "Balance over the period", money),
        Paragraph("The trustee certifies this statement. " * 8, small=True),
        SignatureBlock("Signed for the trustee.", ["Signature of the trustee", "Date", "Name"]),
    ]  # fmt: skip


def test_identical_inputs_give_identical_bytes() -> None:
    first = render(META, sample_blocks())
    second = render(META, sample_blocks())
    assert first.pdf == second.pdf
    assert first.pdf.startswith(b"%PDF-")
    other_code = DocumentMeta(**{**META.__dict__, "verification_code": "0000-0000-0000-0000"})
    assert render(other_code, sample_blocks()).pdf != first.pdf


def test_first_page_renders_to_a_non_blank_image(tmp_path) -> None:
    rendered = render(META, sample_blocks())
    image = pdfium.PdfDocument(rendered.pdf)[0].render(scale=1).to_pil()
    path = tmp_path / "page-1.png"
    image.save(path)
    assert path.stat().st_size > 0
    grey = image.convert("L")
    assert grey.getextrema()[0] < 64  # something is printed in (near) black
    assert sum(grey.histogram()[:128]) > 2000  # and it is more than a speck


# --- tables -------------------------------------------------------------------------------------


def test_long_cell_wraps_inside_its_column_and_grows_the_row() -> None:
    long_text = " ".join(f"word{i}" for i in range(60))
    short = render(META, [Table(COLUMNS, [["2026-07-01", "Short", "A", "1.00"],
                                          ["2026-07-02", "NEXTROW", "B", "2.00"]])])  # fmt: skip
    wrapped = render(META, [Table(COLUMNS, [["2026-07-01", long_text, "A", "1.00"],
                                            ["2026-07-02", "NEXTROW", "B", "2.00"]])])  # fmt: skip
    _, short_y = baseline(short, "NEXTROW")
    _, wrapped_y = baseline(wrapped, "NEXTROW")
    assert short_y - wrapped_y > 2 * 9  # the long row is several lines taller
    text = page_texts(wrapped)[0]
    for i in range(60):
        assert f"word{i}" in text  # nothing cut off
    # The wrapped text stays inside its column: no line runs into "Reference no.".
    textpage = pdfium.PdfDocument(wrapped.pdf)[0].get_textpage()
    column_right = 54 + 504 * 0.60
    for i in range(60):
        index, count = textpage.search(
            f"word{i}", match_case=True, match_whole_word=True
        ).get_next()
        assert textpage.get_charbox(index + count - 1)[2] <= column_right


def test_a_word_longer_than_its_column_is_broken() -> None:
    rendered = render(META, [Table(COLUMNS, [["x", "A" * 200, "y", "1.00"]])])
    text = page_texts(rendered)[0]
    assert text.count("A") >= 200


def test_amounts_are_right_aligned_and_line_up() -> None:
    amounts = ["1.00", "12.34", "1,234,567.89", "-5.00"]
    rendered = render(META, [Table(COLUMNS, [["d", "x", "r", a] for a in amounts])])
    rights = [baseline(rendered, amount)[0] for amount in amounts]
    assert max(rights) - min(rights) < 0.6
    assert min(rights) > 54 + 504 - 10  # at the right edge of the frame


def test_empty_table_prints_its_empty_text() -> None:
    rendered = render(META, [Table(COLUMNS, [], empty_text="No remittances in the period.")])
    text = page_texts(rendered)[0]
    assert "No remittances in the period." in text
    assert "Reference no." in text
    assert "None." in page_texts(render(META, [Table(COLUMNS, [], header=False)]))[0]


def test_row_styles_and_total() -> None:
    table = Table(
        COLUMNS,
        [Row(["2026-07-01", "Receipt", "R", "10.00"]),
         Row(["", "Sub-item", "", "4.00"], indent=2, shade=True),
         Row(["", "Subtotal", "", "10.00"], bold=True, rule_above=True)],
        total=Row(["", "Total for the period", "", "10.00"]),
    )  # fmt: skip
    text = page_texts(render(META, [table]))[0]
    for printed in ("Receipt", "Sub-item", "Subtotal", "Total for the period"):
        assert printed in text


def test_table_validation() -> None:
    with pytest.raises(ValueError, match="sum"):
        Table([Column("A", 0.5), Column("B", 0.4)], [])
    with pytest.raises(ValueError, match="align"):
        Table([Column("A", 1.0, "justify")], [])
    with pytest.raises(ValueError, match="cells"):
        render(META, [Table([Column("A", 1.0)], [["one", "two"]])])
    with pytest.raises(TypeError):
        render(META, [Table([Column("A", 1.0)], ["not a row"])])


def test_a_row_taller_than_a_page_is_split_rather_than_lost() -> None:
    huge = " ".join(f"w{i}" for i in range(3000))
    rendered = render(META, [Table([Column("Text", 0.5), Column("Amount", 0.5, "right")],
                                   [[huge, "1.00"], ["after", "2.00"]])])  # fmt: skip
    assert rendered.pages >= 2
    everything = "\n".join(page_texts(rendered))
    assert "w0" in everything and "w2999" in everything and "after" in everything


# --- text ---------------------------------------------------------------------------------------


def test_text_outside_cp1252_prints_question_marks() -> None:
    meta = DocumentMeta(
        "Statement 🙂", "United States v. Example", "Court", "1", "As at 2 December 2026",
        "Beneficiary: สมชาย", generated_at=META.generated_at,
    )  # fmt: skip
    blocks = [
        Heading("Khmer: សុខ"),
        Paragraph("Emoji 🙂 and Zoë paid €5 (five) \\ back\nsecond line\ttab"),
        Table(COLUMNS, [["2026-07-01", "สมชาย", "Zoë", "€5.00"]]),
        Chart([(date(2026, 7, 1), 1)], "Balance 🙂", lambda v: f"{v} ฿"),
        SignatureBlock("Statement 🙂", ["Name 🙂"]),
    ]
    rendered = render(meta, blocks)
    text = page_texts(rendered)[0]
    assert "Beneficiary: ?????" in text
    assert "?????" in text  # the Thai cell
    assert "Zoë" in text and "€5.00" in text
    assert "Emoji ? and Zoë paid €5 (five) \\ back" in text
    assert "second line" in text
    assert "Statement ?" in text
    assert dark_pixels(rendered) > 1000


def test_decomposed_accents_are_composed() -> None:
    text = page_texts(render(META, [Paragraph("Zoe\u0308")]))[0]
    assert "Zoë" in text


# --- charts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 92, 2000])
def test_chart_draws_with_any_number_of_points(count: int) -> None:
    start = date(2024, 1, 1)
    points = [(start + timedelta(days=i), (i * 7919) % 50_000 - 10_000) for i in range(count)]
    rendered = render(META, [Chart(points, "Balance held", money)])
    text = page_texts(rendered)[0]
    assert "Balance held" in text
    if count == 0:
        assert "No data for the period." in text
    else:
        values = [value for _, value in points]
        assert money(max(values)) in text and money(min(values)) in text
        assert "1 January 2024" in text
    if count > 1:
        last = points[-1][0]
        assert f"{last.day} " in text and str(last.year) in text
    assert dark_pixels(rendered) > 500


def test_chart_with_equal_values_and_unsorted_points() -> None:
    points = [(date(2026, 9, 30), 500), (date(2026, 7, 1), 500), (date(2026, 8, 1), 500)]
    rendered = render(META, [Chart(points, "Flat", money)])
    text = page_texts(rendered)[0]
    assert "1 July 2026" in text and "30 September 2026" in text and "5.00" in text


# --- pagination ---------------------------------------------------------------------------------


def test_heading_is_never_left_alone_at_the_bottom_of_a_page() -> None:
    moved = 0
    for height in range(380, 640, 4):
        blocks = [Spacer(height), Heading("Schedule B: disbursements"), Table(COLUMNS, rows(30))]
        texts = page_texts(render(META, blocks))
        heading_page = page_of(texts, "Schedule B: disbursements")
        assert heading_page == page_of(texts, "R-1000"), height
        assert heading_page == page_of(texts, "R-1001"), height
        moved += heading_page == 1
    assert moved  # some spacer heights did push the heading and its table to page 2


def test_paragraph_heading_is_kept_with_its_first_lines() -> None:
    for height in range(450, 640, 6):
        blocks = [Spacer(height), Heading("Notes"), Paragraph("First line of the notes. " * 30)]
        texts = page_texts(render(META, blocks))
        assert page_of(texts, "Notes") == page_of(texts, "First line of the notes."), height


def test_table_whose_first_rows_do_not_fit_starts_on_the_next_page() -> None:
    for height in range(480, 640, 4):
        texts = page_texts(render(META, [Spacer(height), Table(COLUMNS, rows(30))]))
        header_page = page_of(texts, "Reference no.")
        assert header_page == page_of(texts, "R-1000") == page_of(texts, "R-1001"), height


def test_total_is_kept_with_the_last_row() -> None:
    for count in range(25, 60):
        table = Table(COLUMNS, rows(count), total=Row(["", "Grand total", "", "9.99"]))
        texts = page_texts(render(META, [table]))
        assert page_of(texts, "Grand total") == page_of(texts, f"R-{1000 + count - 1}")


def test_page_break_and_signature_block() -> None:
    blocks = [
        PageBreak(),  # on an empty page: ignored
        Paragraph("Before the break."),
        PageBreak(),
        PageBreak(),  # the page is still empty: no blank page
        SignatureBlock(
            "I certify that this account is true and complete.",
            ["Signature of the trustee", "Date", "Name"],
        ),
    ]
    rendered = render(META, blocks)
    texts = page_texts(rendered)
    assert rendered.pages == 2
    assert "Before the break." in texts[0]
    for printed in ("I certify", "Signature of the trustee", "Date", "Name"):
        assert printed in texts[1]


def test_signature_block_stays_together() -> None:
    for height in range(400, 620, 10):
        block = SignatureBlock("Signed.", ["Signature of the trustee", "Date", "Name"])
        texts = page_texts(render(META, [Spacer(height), block]))
        assert page_of(texts, "Signed.") == page_of(texts, "Name") == page_of(texts, "Date")


def test_empty_document_is_one_page_with_header_and_footer() -> None:
    rendered = render(META, [])
    assert rendered.pages == 1
    text = page_texts(rendered)[0]
    assert "Beneficiary statement" in text and "Page 1 of 1" in text


def test_fonts_are_the_standard_ones_and_not_embedded() -> None:
    pdf = render(META, sample_blocks()).pdf
    assert b"/BaseFont /Helvetica" in pdf and b"/BaseFont /Helvetica-Bold" in pdf
    assert b"/FontFile" not in pdf


def test_compressed_output_is_also_deterministic_and_extractable() -> None:
    first = render(META, sample_blocks(), compress=True)
    assert first.pdf == render(META, sample_blocks(), compress=True).pdf
    assert len(first.pdf) < len(render(META, sample_blocks()).pdf)
    text = page_texts(first)[0]
    assert "Beneficiary statement" in text and f"Page 1 of {first.pages}" in text
