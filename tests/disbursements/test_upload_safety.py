"""Supporting documents that cannot carry an attack: PDFs with anything that runs, opens, sends
or carries another file are refused, as are files that are a PDF and something else (polyglots);
images are stored re-encoded, without their metadata (a photo's GPS position is where a child
lives) or anything appended; downloads are attachments, and each is recorded."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from disbursements.models import RequestDocument
from disbursements.services import request_document_add, uploads
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import clean_image, clean_pdf, stored_plaintext
from trust.models import AuditEvent
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


def add(w: World, content: bytes, **extra: Any) -> RequestDocument:
    return request_document_add(
        request=extra.pop("request", None) or submitted(w),
        actor=w.caseworker,
        kind="quote",
        content=content,
        title=extra.pop("title", "Quote"),
    )


def stored_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def refused(w: World, content: bytes) -> str:
    """Upload ``content``; assert it is refused with nothing written; return the refusal's code."""
    request = submitted(w)
    before = (RequestDocument.objects.count(), AuditEvent.objects.count(), len(stored_files()))
    with pytest.raises(ValidationError) as info:
        add(w, content, request=request)
    assert (
        RequestDocument.objects.count(),
        AuditEvent.objects.count(),
        len(stored_files()),
    ) == before
    return info.value.error_dict["file"][0].code


# --- PDFs built for the tests -------------------------------------------------------------------


def writer_pdf(change: Any) -> bytes:
    """A one-page PDF from pypdf's writer, after ``change(writer)``."""
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def name(text: str) -> NameObject:
    return NameObject(text)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def hand_pdf(*objects: bytes, unlisted: bytes = b"") -> bytes:
    """A PDF written by hand: object 1 the catalog, 2 the pages, 3 the page, then ``objects[3:]``
    as given; a correct cross-reference table. ``unlisted`` is one more object (number 99) that
    the table does not list and nothing refers to: a reader never sees it, a repairing one may."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    if unlisted:
        out += b"99 0 obj\n%s\nendobj\n" % unlisted
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)


def plain(
    catalog: bytes = CATALOG, *more: bytes, page: bytes = PAGE, unlisted: bytes = b""
) -> bytes:
    """Catalog, pages and one page, then ``more`` (objects 4, 5...)."""
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return hand_pdf(catalog, pages, page, *more, unlisted=unlisted)


# ``#xx`` escapes spell the same names (``/J#61vaScript`` is ``/JavaScript``): a search of the
# raw bytes misses them, a parser does not.
HIDDEN_JS = b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>"


def with_updated_catalog(original: bytes) -> bytes:
    """``original`` with an incremental update that replaces its catalog by a clean one: a
    reader that follows the newest table no longer sees the first catalog."""
    previous = original.rindex(b"\nxref\n") + 1
    start = len(original)
    update = b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    table = start + len(update)
    update += b"xref\n0 1\n0000000000 65535 f \n1 1\n%010d 00000 n \n" % start
    update += b"trailer\n<< /Size 4 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        previous,
        table,
    )
    return original + update


def object_stream(*inner: bytes, codec: bytes = b"/FlateDecode") -> bytes:
    """An object stream (compressed: nothing of it readable in the raw bytes) holding
    ``inner`` as objects 50, 51..."""
    header = b" ".join(b"%d %d" % (50 + i, sum(map(len, inner[:i]))) for i in range(len(inner)))
    header += b" "
    data = zlib.compress(header + b"".join(inner))
    dictionary = b"<< /Type /ObjStm /N %d /First %d /Filter %s /Length %d >>" % (
        len(inner),
        len(header),
        codec,
        len(data),
    )
    return dictionary + b"\nstream\n" + data + b"\nendstream"


def launch(writer: PdfWriter) -> None:
    writer.root_object[name("/OpenAction")] = DictionaryObject(
        {name("/S"): name("/Launch"), name("/F"): TextStringObject("calc.exe")}
    )


def form(writer: PdfWriter) -> None:
    field = DictionaryObject(
        {
            name("/FT"): name("/Tx"),
            name("/T"): TextStringObject("name"),
            name("/V"): TextStringObject(""),
        }
    )
    writer.root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject([field])}
    )


def xfa(writer: PdfWriter) -> None:
    writer.root_object[name("/AcroForm")] = DictionaryObject(
        {name("/Fields"): ArrayObject(), name("/XFA"): TextStringObject("<xdp:xdp/>")}
    )


def annotation_js(writer: PdfWriter) -> None:
    writer.pages[0][name("/Annots")] = ArrayObject(
        [
            DictionaryObject(
                {
                    name("/Type"): name("/Annot"),
                    name("/Subtype"): name("/Link"),
                    name("/Rect"): ArrayObject([NumberObject(0)] * 4),
                    name("/A"): DictionaryObject(
                        {
                            name("/S"): name("/JavaScript"),
                            name("/JS"): TextStringObject("app.alert(1)"),
                        }
                    ),
                }
            )
        ]
    )


def uri(writer: PdfWriter) -> None:
    writer.add_uri(0, "javascript:app.alert(1)", [0, 0, 10, 10])


ACTIVE = {
    "open action JavaScript": writer_pdf(lambda w: w.add_open_action(JavaScript("app.alert(1)"))),
    "launch": writer_pdf(launch),
    "embedded file": writer_pdf(lambda w: w.add_attachment("readme.txt", b"hello")),
    "form": writer_pdf(form),
    "XFA form": writer_pdf(xfa),
    "JavaScript in an annotation's action": writer_pdf(annotation_js),
    "javascript: link": writer_pdf(uri),
    "JavaScript spelt with escapes": plain(
        CATALOG,
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A 5 0 R >>",
        HIDDEN_JS,
        page=b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>",
    ),
    "go to, then JavaScript, on opening": plain(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /GoTo /D [3 0 R /Fit] /Next 4 0 R >> >>",
        HIDDEN_JS,
    ),
    "page additional actions": plain(
        CATALOG,
        b"<< /S /GoTo /D [3 0 R /Fit] >>",
        page=b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /AA << /O 4 0 R >> >>",
    ),
    "submit form": plain(
        b"<< /Type /Catalog /Pages 2 0 R /Names << /Dests 4 0 R >> >>",
        b"<< /S /Subm#69tForm /F (https://example.invalid/) >>",
    ),
    "in an earlier revision": with_updated_catalog(
        plain(b"<< /Type /Catalog /Pages 2 0 R /Op#65nAction " + HIDDEN_JS + b" >>")
    ),
    "in an object nothing lists": plain(unlisted=HIDDEN_JS),
    "in an object stream nothing lists": plain(
        unlisted=object_stream(b"<< /Type /Catalog >>", HIDDEN_JS)
    ),
}


@pytest.mark.parametrize("content", ACTIVE.values(), ids=ACTIVE.keys())
def test_a_pdf_with_active_content_is_refused(world: World, content: bytes) -> None:
    assert refused(world, content) == "pdf_active_content"


def test_the_refusal_says_what_was_found_and_what_to_do(world: World) -> None:
    with pytest.raises(ValidationError) as info:
        add(world, ACTIVE["launch"])
    message = info.value.error_dict["file"][0].message
    assert "starts a program" in message and "Print it to a new PDF" in message


def test_an_earlier_revision_is_invisible_to_a_reader_but_still_refused(world: World) -> None:
    from pypdf import PdfReader

    content = ACTIVE["in an earlier revision"]
    assert "/OpenAction" not in PdfReader(io.BytesIO(content)).trailer["/Root"]
    assert refused(world, content) == "pdf_active_content"


HARMLESS = {
    "open at a page": plain(b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>"),
    "go to a page on opening": plain(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /GoTo /D [3 0 R /Fit] >> >>"
    ),
    "empty form left by a tool": plain(
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] >> >>"
    ),
    "empty additional actions": plain(b"<< /Type /Catalog /Pages 2 0 R /AA << >> >>"),
    "a web link": writer_pdf(lambda w: w.add_uri(0, "https://example.invalid/", [0, 0, 10, 10])),
}


@pytest.mark.parametrize("content", HARMLESS.values(), ids=HARMLESS.keys())
def test_forms_of_those_names_that_do_nothing_are_accepted(world: World, content: bytes) -> None:
    assert stored_plaintext(add(world, content)) == content


def test_an_encrypted_pdf_is_refused(world: World) -> None:
    content = writer_pdf(lambda w: w.encrypt("secret", algorithm="AES-128"))
    assert refused(world, content) == "pdf_encrypted"
    owner_only = writer_pdf(lambda w: w.encrypt("", "owner", algorithm="AES-128"))
    assert refused(world, owner_only) == "pdf_encrypted"


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        clean_pdf()[:200] + b"\n%%EOF\n",
        b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n",
        clean_pdf().replace(b"%%EOF", b"%%EOD"),
    ],
    ids=["no cross-reference table", "truncated", "garbage", "no end"],
)
def test_a_pdf_that_does_not_parse_is_refused(world: World, content: bytes) -> None:
    assert refused(world, content) == "pdf_unreadable"


def test_an_object_stream_in_an_image_codec_is_not_decoded(world: World) -> None:
    # JBIG2 would make pypdf run the jbig2dec program, on bytes an attacker chose.
    content = plain(unlisted=object_stream(b"<< /Type /Catalog >>", codec=b"/JBIG2Decode"))
    assert refused(world, content) == "pdf_unreadable"


def test_a_pdf_too_complex_to_check_is_refused(world: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(uploads, "PDF_MAX_OBJECTS", 3)
    assert refused(world, clean_pdf()) == "pdf_too_complex"


# --- polyglots ----------------------------------------------------------------------------------


def a_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Main-Class: Payload\n")
    return out.getvalue()


POLYGLOTS = {
    "ZIP appended": clean_pdf() + a_zip(),
    "ZIP before the last end marker": clean_pdf() + a_zip() + b"\n%%EOF\n",
    "anything appended": clean_pdf() + b"MZ\x90\x00 not whitespace",
    "HTML first, PDF header later": b"<html><script>alert(1)</script>\n" + clean_pdf(),
    "junk before the header": b"\x00\x00\x00\x00" + clean_pdf(),
    "HTML inside": clean_pdf().replace(b"%PDF-1.3\n", b"%PDF-1.3\n%<script>alert(1)</script>\n"),
}


@pytest.mark.parametrize("content", POLYGLOTS.values(), ids=POLYGLOTS.keys())
def test_a_pdf_that_is_also_another_format_is_refused(world: World, content: bytes) -> None:
    assert refused(world, content) == "polyglot"


def test_whitespace_after_the_end_is_not_another_file(world: World) -> None:
    document = add(world, clean_pdf() + b"\r\n\x00 \n")
    assert document.content_type == "application/pdf"


# --- images -------------------------------------------------------------------------------------


def gps_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Phone maker"
    exif[0x8825] = {1: "N", 2: (14.0, 35.0, 12.5), 3: "E", 4: (121.0, 0.0, 3.25)}
    return exif.tobytes()


def test_a_jpeg_is_stored_without_its_gps_position_or_what_was_appended(world: World) -> None:
    sent = clean_image("JPEG", exif=gps_exif(), comment=b"Taken at the shelter") + a_zip()
    document = add(world, sent)
    stored = stored_plaintext(document)
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (8, 8)
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert b"Exif" not in stored and b"shelter" not in stored and b"MANIFEST" not in stored
    assert not zipfile.is_zipfile(io.BytesIO(stored))
    assert stored.endswith(b"\xff\xd9")  # ends where the image ends
    assert document.sha256 == hashlib.sha256(stored).hexdigest()
    assert document.size == len(stored) and document.content_type == "image/jpeg"


def test_a_png_is_stored_without_its_text_chunks_or_what_follows_its_end(world: World) -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "MV-1 at home")
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS 14.58 N</x:xmpmeta>")
    sent = clean_image("PNG", pnginfo=text, exif=gps_exif()) + b"<script>alert(1)</script>"
    stored = stored_plaintext(add(world, sent))
    image = Image.open(io.BytesIO(stored))
    assert image.format == "PNG" and not image.info and not image.getexif()
    assert b"MV-1" not in stored and b"xmpmeta" not in stored and b"script" not in stored
    assert stored.endswith(b"IEND\xaeB`\x82")


def test_a_photo_is_turned_upright_before_its_exif_is_dropped(world: World) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone on its side
    sent = clean_image("JPEG", size=(40, 20), exif=exif.tobytes())
    image = Image.open(io.BytesIO(stored_plaintext(add(world, sent))))
    assert image.size == (20, 40)


def test_the_same_photo_is_one_document_with_or_without_its_metadata(world: World) -> None:
    request = submitted(world)
    bare = clean_image("JPEG")
    first = add(world, bare, request=request)
    assert add(world, bare, request=request).pk == first.pk
    assert add(world, clean_image("JPEG", exif=gps_exif()), request=request).pk == first.pk
    assert RequestDocument.objects.count() == 1 and len(stored_files()) == 1


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb:
    a few bytes that would decode to gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(world: World) -> None:
    assert refused(world, png_declaring(8000, 6000)) == "image_too_large"  # 48 Mpx: ours
    assert refused(world, png_declaring(100_000, 100_000)) == "image_too_large"  # Pillow's


def test_pillows_own_bomb_check_is_a_refusal_too(world: World, settings: Any) -> None:
    settings.UPLOAD_MAX_PIXELS = 10**12
    assert refused(world, png_declaring(100_000, 100_000)) == "image_too_large"


@pytest.mark.parametrize(
    "content",
    [clean_image("JPEG", size=(64, 64))[:300], b"\x89PNG\r\n\x1a\n" + b"\x00" * 64],
    ids=["truncated jpeg", "png without chunks"],
)
def test_an_image_that_does_not_decode_is_refused(world: World, content: bytes) -> None:
    assert refused(world, content) == "image_unreadable"


# --- clean files --------------------------------------------------------------------------------


def test_a_clean_pdf_is_stored_as_sent(world: World) -> None:
    document = add(world, clean_pdf())
    assert stored_plaintext(document) == clean_pdf()
    assert document.sha256 == hashlib.sha256(clean_pdf()).hexdigest()


def test_a_clean_jpeg_is_accepted(world: World) -> None:
    document = add(world, clean_image("JPEG"))
    assert Image.open(io.BytesIO(stored_plaintext(document))).format == "JPEG"
    assert len(stored_files()) == 1


# --- the page and the API both refuse -----------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_refuses_a_pdf_with_javascript(world: World) -> None:
    request = submitted(world)
    upload = SimpleUploadedFile("invoice.pdf", ACTIVE["open action JavaScript"])
    response = signed_in(world.caseworker).post(
        reverse("request-document-add", args=[request.pk]), {"kind": "invoice", "file": upload}
    )
    assert response.status_code == 400
    assert "contains JavaScript" in response.content.decode()
    assert not RequestDocument.objects.exists() and not stored_files()


def test_the_api_refuses_a_pdf_with_javascript(world: World) -> None:
    request = submitted(world)
    _, raw = token_create(actor=world.caseworker, name="upload test", scope="write")
    upload = SimpleUploadedFile("invoice.pdf", ACTIVE["open action JavaScript"])
    response = Client(HTTP_AUTHORIZATION=f"Token {raw}").post(
        f"/api/v1/requests/{request.pk}/documents/", {"kind": "invoice", "file": upload}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "pdf_active_content"
    assert not RequestDocument.objects.exists() and not stored_files()


# --- downloads ----------------------------------------------------------------------------------


def assert_one_download_recorded(document: RequestDocument, actor: Any, before: int) -> None:
    # The download, and the view of the child it is (docs/security.md, "Who saw this child").
    assert AuditEvent.objects.count() == before + 2
    event, viewed = AuditEvent.objects.order_by("-id")[:2][::-1]
    assert (event.action, event.object_type, event.object_id) == (
        "document.downloaded",
        "request_document",
        str(document.uid),
    )
    assert (viewed.action, viewed.object_type, viewed.object_id) == (
        "beneficiary.viewed",
        "beneficiary",
        str(document.request.beneficiary_id),
    )
    for recorded in (event, viewed):
        assert recorded.actor_id == actor.pk and recorded.trust_id == document.request.trust_id
        assert b"MV-1" not in bytes(recorded.data) and b"Grace" not in bytes(recorded.data)


def assert_attachment(response: Any, document: RequestDocument) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == document.content_type
    assert b"".join(response.streaming_content) == stored_plaintext(document)


def test_a_download_on_the_page_is_an_attachment_and_recorded(world: World) -> None:
    document = add(world, clean_image("PNG"), title="Receipt for Grace, MV-1")
    trustee = signed_in(world.trustee)  # a sign-in is recorded too: count after it
    before = AuditEvent.objects.count()
    response = trustee.get(reverse("document-download", args=[document.uid]))
    assert_attachment(response, document)
    assert_one_download_recorded(document, world.trustee, before)


def test_a_download_through_the_api_is_an_attachment_and_recorded(world: World) -> None:
    document = add(world, clean_pdf(), title="Invoice for Grace, MV-1")
    _, raw = token_create(actor=world.trustee, name="download test", scope="read")
    client = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    before = AuditEvent.objects.count()
    response = client.get(f"/api/v1/documents/{document.uid}/")
    assert_attachment(response, document)
    assert_one_download_recorded(document, world.trustee, before)


def test_a_document_one_may_not_see_is_not_found_and_nothing_is_recorded(world: World) -> None:
    document = add(world, clean_pdf())
    outsider = signed_in(make_world("-other").caseworker)
    before = AuditEvent.objects.count()
    response = outsider.get(reverse("document-download", args=[document.uid]))
    assert response.status_code == 404
    assert AuditEvent.objects.count() == before


# --- whatever the bytes -------------------------------------------------------------------------


KNOWN_CODES = {
    "bad_type",
    "polyglot",
    "pdf_unreadable",
    "pdf_encrypted",
    "pdf_active_content",
    "pdf_too_complex",
    "image_unreadable",
    "image_too_large",
}


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([clean_pdf(), ACTIVE["launch"], clean_image("JPEG"), clean_image("PNG")]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=8)), max_size=6),
)
def test_damaged_files_are_accepted_or_refused_with_a_code_never_an_error(
    base: bytes, edits: list[tuple[int, bytes]]
) -> None:
    content = bytearray(base)
    for at, replacement in edits:
        at %= len(content) or 1
        content[at : at + len(replacement)] = replacement
    try:
        uploads.upload_clean(bytes(content))
    except ValidationError as error:
        assert error.error_dict["file"][0].code in KNOWN_CODES
