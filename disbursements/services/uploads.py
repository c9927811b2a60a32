"""What an uploaded supporting document must be before it is stored: recognised by its content,
a PDF with nothing in it that runs, opens or sends, and nothing else hidden in the same bytes (a
polyglot), or an image decoded and written again so that only its pixels are kept.

A caseworker's photo of a receipt can carry the GPS position where it was taken (a child's home or
shelter); a PDF can carry JavaScript, a program to launch or an attached file that a trustee's or
an auditor's reader would open. PDFs cannot be rewritten without risk of changing what they say,
so they are inspected and refused; images can, so they are cleaned. docs/security.md ("Uploads")
lists what is refused and why.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
    read_object,
)

from trust.errors import field_error

# What is accepted, recognised from the first bytes, never from the name a browser sends.
DOCUMENT_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}

# Images larger than this are refused before they are decoded (a few KiB of PNG can declare a
# gigapixel of zeros). 40 megapixels holds any phone photo a 10 MiB upload can carry, and
# decodes to at most 160 MB (RGBA). ``settings.UPLOAD_MAX_PIXELS`` overrides it.
MAX_PIXELS = 40_000_000
JPEG_QUALITY = 90

# The work an inspection of one PDF may do: objects parsed, values visited, and bytes
# decompressed from object streams. Real invoices and scans use a small fraction of each; a file
# built to make the inspection slow (or to inflate) is refused as too complex.
PDF_MAX_OBJECTS = 100_000
PDF_MAX_VALUES = 2_000_000
PDF_MAX_DECODED_BYTES = 64 * 1024 * 1024

# Names that make a PDF do something when opened, clicked or printed, or carry another file, and
# what to tell the sender. Looked for as dictionary keys and as name values, after pypdf has
# decoded ``#xx`` escapes (``/J#61vaScript`` is ``/JavaScript``).
PDF_ACTIVE_NAMES = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/OpenAction": "an action that runs when it is opened",
    "/AA": "actions that run by themselves (on opening, closing or printing, or on a page)",
    "/Launch": "an action that starts a program",
    "/EmbeddedFiles": "an attached file",
    "/EmbeddedFile": "an attached file",
    "/EF": "an attached file",
    "/FileAttachment": "an attached file",
    "/AcroForm": "a fillable form",
    "/XFA": "an XFA form",
    "/RichMedia": "embedded media",
    "/RichMediaExecute": "embedded media",
    "/Movie": "embedded media",
    "/Rendition": "embedded media",
    "/SubmitForm": "a form action that sends data",
    "/ImportData": "a form action that loads data",
    "/GoToR": "a link that opens another file",
    "/GoToE": "a link into an attached file",
}
# Of those, names long enough to look for in the raw bytes as well, so that an object no parser
# reaches (inside a broken or disguised region) still counts; too long to occur by chance in
# compressed data. Names with a harmless form (``/OpenAction`` as a destination, an empty
# ``/AcroForm``) are left to the parsed check.
_RAW_ACTIVE = re.compile(
    rb"/(JavaScript|Launch|EmbeddedFiles?|FileAttachment|RichMedia|SubmitForm|ImportData)"
    rb"(?=[\x00\t\n\x0c\r /<>\[\]()%{}]|$)"
)
_URI_SCHEMES_REFUSED = ("javascript:", "vbscript:", "file:", "data:")
# "12 0 obj" wherever it appears: objects of earlier revisions and objects no table lists.
_OBJECT_HEADER = re.compile(
    rb"(?<![0-9])[0-9]{1,10}[\x00\t\n\x0c\r ]+[0-9]{1,5}[\x00\t\n\x0c\r ]+obj"
)
# The filters an object stream may use: text, compressed as text.
_OBJECT_STREAM_FILTERS = {
    "/FlateDecode",
    "/LZWDecode",
    "/ASCII85Decode",
    "/ASCIIHexDecode",
    "/RunLengthDecode",
}
_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
# Markup a browser or a sniffing reader would run; long enough not to occur by chance.
_MARKUP = re.compile(
    rb"<(?:script|html|body|iframe|object|embed|svg)[\s/>]|<!doctype\s+html",
    re.IGNORECASE,
)
# How far into a file Acrobat looks for "%PDF-", and browsers look for markup when sniffing.
_SNIFFED = 1024


@dataclass(frozen=True)
class CleanUpload:
    """What is stored: the bytes (re-encoded for an image), their type and the file extension."""

    content: bytes
    content_type: str
    extension: str


def upload_clean(content: bytes) -> CleanUpload:
    """The document to store for ``content``: a PDF as sent, once inspected; a JPEG or PNG
    decoded and written again without its metadata or anything appended. Refuses (a
    ``ValidationError`` on ``file`` with a code) anything else: ``bad_type``; ``polyglot`` (a PDF
    that is also a ZIP, HTML, or has data after its end or before its header);
    ``pdf_unreadable``, ``pdf_encrypted``, ``pdf_active_content``, ``pdf_too_complex``;
    ``image_unreadable``, ``image_too_large``. Writes nothing."""
    guess = filetype.guess(content[:8192])
    mime = guess.mime if guess is not None else ""
    if mime == "application/pdf":
        pdf_inspect(content)
        return CleanUpload(content, mime, DOCUMENT_TYPES[mime])
    if mime in ("image/jpeg", "image/png"):
        return CleanUpload(image_reencode(content, mime=mime), mime, DOCUMENT_TYPES[mime])
    if b"%PDF-" in content[:_SNIFFED]:
        # Acrobat finds a header anywhere in the first KiB: what is before it is another format.
        raise _refusal(
            "polyglot", "The file has something else before its PDF header; it is not accepted."
        )
    raise field_error("file", "Only PDF, JPEG and PNG files are accepted.", code="bad_type")


# --- PDF ----------------------------------------------------------------------------------------


def pdf_inspect(content: bytes) -> None:
    """Refuse ``content`` unless it is one PDF and nothing else, readable, not encrypted, and
    free of active content anywhere in its objects (every revision, every object stream, every
    object the file holds whether or not anything refers to it)."""
    _pdf_refuse_polyglot(content)
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        encrypted = reader.is_encrypted
    except Exception as error:  # a parser of hostile bytes may raise anything
        raise _unreadable() from error
    if encrypted:
        raise _refusal(
            "pdf_encrypted",
            "The PDF is encrypted or password-protected, so it cannot be checked. Save or print an "
            "unprotected copy and upload that.",
        )
    found = _RAW_ACTIVE.search(content)
    if found is not None:
        raise _active(PDF_ACTIVE_NAMES["/" + found.group(1).decode()])
    inspection = _PdfInspection(reader, content)
    try:
        inspection.run()
    except ValidationError:
        raise
    except Exception as error:
        raise _unreadable() from error


def _pdf_refuse_polyglot(content: bytes) -> None:
    if _PDF_HEADER.match(content) is None:
        raise _refusal("polyglot", "The PDF does not start with its header; it is not accepted.")
    end = content.rfind(b"%%EOF")
    if end < 0:
        raise _unreadable()
    if content[end + 5 :].strip(_PDF_WHITESPACE):
        raise _refusal(
            "polyglot",
            "The PDF has data after its end (another file appended); it is not accepted.",
        )
    if _MARKUP.search(content) is not None:
        raise _refusal(
            "polyglot", "The PDF contains web page markup or script; it is not accepted."
        )
    if _is_zip(content):
        raise _refusal(
            "polyglot", "The PDF is also a ZIP archive (another file inside); it is not accepted."
        )


def _is_zip(content: bytes) -> bool:
    """Whether a ZIP reader would open ``content`` and find entries: readers look for the end
    record in the last 64 KiB, wherever the archive starts."""
    if b"PK\x05\x06" not in content[-(1 << 16) - 22 :]:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return bool(archive.infolist())
    except Exception:  # not an archive a reader could open
        return False


class _PdfInspection:
    """One walk over a PDF's objects, within the work caps; refuses at the first active content.

    Three sources, one seen-set: the document as a reader sees it (from the trailer, following
    references); every object the cross-reference tables list; and every ``N G obj`` in the bytes
    (earlier revisions, orphans), with the objects inside any object stream met on the way."""

    def __init__(self, reader: PdfReader, content: bytes) -> None:
        self.reader = reader
        self.content = content
        self.objects = 0
        self.values = 0
        self.decoded = 0
        self.seen: set[tuple[int, int]] = set()
        self.stack: list[Any] = []

    def run(self) -> None:
        root = self.reader.trailer.get("/Root")
        if not isinstance(root.get_object() if root is not None else None, DictionaryObject):
            raise _unreadable()
        self.stack.append(self.reader.trailer)
        self._drain()
        for generation, numbers in self.reader.xref.items():
            for number in numbers:
                self.stack.append(IndirectObject(number, generation, self.reader))
        for number in self.reader.xref_objStm:
            self.stack.append(IndirectObject(number, 0, self.reader))
        self._drain()
        raw = io.BytesIO(self.content)
        for match in _OBJECT_HEADER.finditer(self.content):
            self._count_object()
            raw.seek(match.end())
            try:
                found = _read_at(raw, self.reader)
            except Exception:  # noqa: S112 - a match inside binary stream data, not an object
                continue
            self.stack.append(found)
            self._drain()

    def _drain(self) -> None:
        while self.stack:
            value = self.stack.pop()
            self.values += 1
            if self.values > PDF_MAX_VALUES:
                raise _too_complex()
            if isinstance(value, IndirectObject):
                key = (value.idnum, value.generation)
                if key in self.seen:
                    continue
                self.seen.add(key)
                self._count_object()
                value = value.get_object()
            if isinstance(value, DictionaryObject):
                self._check_dictionary(value)
            elif isinstance(value, ArrayObject):
                self.stack.extend(value)
            elif isinstance(value, NameObject) and value in PDF_ACTIVE_NAMES:
                raise _active(PDF_ACTIVE_NAMES[value])

    def _check_dictionary(self, dictionary: DictionaryObject) -> None:
        for key, value in dictionary.items():
            if key in PDF_ACTIVE_NAMES and not _harmless(key, value):
                raise _active(PDF_ACTIVE_NAMES[key])
            if key == "/URI":
                target = str(value.get_object()).strip().lower()
                if target.startswith(_URI_SCHEMES_REFUSED):
                    raise _active("a link that runs a script or opens a local file")
            self.stack.append(value)
        if isinstance(dictionary, StreamObject) and dictionary.get("/Type") == "/ObjStm":
            self._object_stream(dictionary)

    def _object_stream(self, stream: StreamObject) -> None:
        filters = stream.get("/Filter")
        filters = filters.get_object() if filters is not None else []
        if not isinstance(filters, ArrayObject):
            filters = [filters]
        if any(str(one.get_object()) not in _OBJECT_STREAM_FILTERS for one in filters):
            # Image codecs make no sense for objects, and one (JBIG2) would run a program.
            raise _unreadable()
        data = stream.get_data()
        self.decoded += len(data)
        if self.decoded > PDF_MAX_DECODED_BYTES:
            raise _too_complex()
        count, first = int(stream["/N"]), int(stream["/First"])
        numbers = data[:first].split()
        offsets = [int(offset) for offset in numbers[1 : 2 * count : 2]]
        inner = io.BytesIO(data)
        for offset in offsets:
            self._count_object()
            inner.seek(first + offset)
            self.stack.append(_read_at(inner, self.reader))

    def _count_object(self) -> None:
        self.objects += 1
        if self.objects > PDF_MAX_OBJECTS:
            raise _too_complex()


def _read_at(stream: io.BytesIO, reader: PdfReader) -> Any:
    while (byte := stream.read(1)) and byte in _PDF_WHITESPACE:
        pass
    if byte:
        stream.seek(-1, 1)
    return read_object(stream, reader)


def _harmless(key: str, value: Any) -> bool:
    """The forms of an active name that do nothing: ``/OpenAction`` as a destination or a go-to
    (open at a page: LibreOffice and LaTeX write one into every export; what a ``/Next`` chains
    to is still walked), an empty ``/AA``, and an ``/AcroForm`` with no fields and no XFA (left
    behind by tools that flatten or sign)."""
    value = value.get_object()
    if key == "/OpenAction":
        return isinstance(value, ArrayObject) or (
            isinstance(value, DictionaryObject) and value.get("/S") == "/GoTo"
        )
    if key == "/AA":
        return isinstance(value, DictionaryObject) and not value
    if key == "/AcroForm":
        if not isinstance(value, DictionaryObject) or "/XFA" in value:
            return False
        fields = value.get("/Fields")
        fields = fields.get_object() if fields is not None else None
        return fields is None or (isinstance(fields, ArrayObject) and not fields)
    return False


# --- images -------------------------------------------------------------------------------------


def image_reencode(content: bytes, *, mime: str) -> bytes:
    """``content`` (a JPEG or PNG) decoded and written again: the pixels, turned upright as its
    EXIF orientation said, and nothing else (no EXIF, GPS, ICC profile, comments or text chunks,
    nothing appended after the image). Deterministic: the same bytes in give the same bytes out
    with the same Pillow. Refuses images above the pixel limit before decoding them."""
    expected = {"image/jpeg": ("JPEG", "MPO"), "image/png": ("PNG",)}[mime]
    limit = getattr(settings, "UPLOAD_MAX_PIXELS", MAX_PIXELS)
    try:
        with Image.open(io.BytesIO(content), formats=["JPEG", "PNG"]) as image:
            if image.format not in expected:
                raise _image_unreadable()
            width, height = image.size
            if width * height > limit:
                raise _image_too_large(limit)
            image.load()
            transparency = image.info.get("transparency")
            upright = ImageOps.exif_transpose(image) or image
            return _image_encode(upright, mime=mime, transparency=transparency)
    except ValidationError:
        raise
    except Image.DecompressionBombError as error:
        raise _image_too_large(limit) from error
    except Exception as error:  # a decoder of hostile bytes may raise anything
        raise _image_unreadable() from error


def _image_encode(image: Image.Image, *, mime: str, transparency: Any) -> bytes:
    out = io.BytesIO()
    if mime == "image/jpeg":
        clean = image if image.mode in ("L", "RGB") else image.convert("RGB")
        clean = clean.copy()
        clean.info = {}
        clean.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()
    if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA")
    clean = image.copy()
    clean.info = {}
    options: dict[str, Any] = {}
    if transparency is not None and clean.mode in ("L", "P", "RGB"):
        options["transparency"] = transparency
    clean.save(out, format="PNG", **options)
    return out.getvalue()


# --- refusals -----------------------------------------------------------------------------------


def _refusal(code: str, message: str) -> ValidationError:
    return field_error("file", message, code=code)


def _unreadable() -> ValidationError:
    return _refusal(
        "pdf_unreadable", "The PDF could not be read, so it cannot be checked; it is not accepted."
    )


def _too_complex() -> ValidationError:
    return _refusal(
        "pdf_too_complex",
        "The PDF is too complex to check; print it to a new PDF or scan it, and upload that.",
    )


def _active(what: str) -> ValidationError:
    return _refusal(
        "pdf_active_content",
        f"The PDF contains {what}, which is not accepted. Print it to a new PDF or scan it, "
        "and upload that.",
    )


def _image_unreadable() -> ValidationError:
    return _refusal("image_unreadable", "The image could not be read; it is not accepted.")


def _image_too_large(limit: int) -> ValidationError:
    return _refusal(
        "image_too_large",
        f"The image has more than {limit // 1_000_000} million pixels; send a smaller photo.",
    )
