"""Files encrypted at rest, streamed: a document is never whole in memory to be sealed or opened.

Format (``docs/security.md``): ``b"TLSEAL1\\n"`` (8 bytes), a random 7-byte nonce prefix, then
segments of AES-256-GCM, each the encryption of up to 64 KiB of the file with the 12-byte nonce
``prefix + segment number (4 bytes, big-endian) + last flag (1 byte)`` and the header plus the
caller's context as associated data. The last segment is always shorter than a full one (it may be
empty), and is the only one flagged last: a file cut, extended, reordered or spliced from another
file, or opened under another context, fails to open. The key is one the caller derives (a
child's data key's subkey for the document), so erasing the child's key erases the file too.

This module imports nothing of Django.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trust.crypto import DecryptionError

MAGIC = b"TLSEAL1\n"
SEGMENT = 64 * 1024
_TAG = 16
_PREFIX = 7
_MAX_SEGMENTS = 2**32 - 1


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number > _MAX_SEGMENTS:
        raise ValueError("file too large to seal")
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def _chunks(source: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """The source's bytes in pieces of exactly ``SEGMENT`` (the last one shorter, maybe empty)."""
    if hasattr(source, "read"):
        pieces: Iterable[bytes] = iter(lambda: source.read(SEGMENT), b"")  # type: ignore[union-attr]
    else:
        pieces = source  # type: ignore[assignment]
    buffer = b""
    for piece in pieces:
        buffer += piece
        while len(buffer) >= SEGMENT:
            yield buffer[:SEGMENT]
            buffer = buffer[SEGMENT:]
    yield buffer  # shorter than a segment, possibly empty: the last


def seal(source: BinaryIO | Iterable[bytes], *, key: bytes, context: str) -> Iterator[bytes]:
    """The sealed form of ``source`` (a binary file or an iterable of bytes), piece by piece."""
    aead = AESGCM(key)
    prefix = os.urandom(_PREFIX)
    header = MAGIC + prefix
    associated = header + context.encode("utf-8")
    yield header
    number = 0
    pending: bytes | None = None
    for chunk in _chunks(source):
        if pending is not None:
            yield aead.encrypt(_nonce(prefix, number, False), pending, associated)
            number += 1
        pending = chunk
    # ``_chunks`` always ends with a short (maybe empty) piece: it is the last segment.
    yield aead.encrypt(_nonce(prefix, number, True), pending or b"", associated)


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def unseal(source: BinaryIO, *, key: bytes, context: str) -> Iterator[bytes]:
    """The plaintext of a sealed file, piece by piece; ``DecryptionError`` as soon as anything
    does not authenticate (nothing after a bad segment is returned)."""
    header = source.read(len(MAGIC) + _PREFIX)
    if len(header) != len(MAGIC) + _PREFIX or not header.startswith(MAGIC):
        raise DecryptionError("not a sealed file")
    prefix = header[len(MAGIC) :]
    associated = header + context.encode("utf-8")
    aead = AESGCM(key)
    number = 0
    while True:
        segment = _read_exactly(source, SEGMENT + _TAG)
        last = len(segment) < SEGMENT + _TAG
        try:
            plain = aead.decrypt(_nonce(prefix, number, last), segment, associated)
        except InvalidTag:
            raise DecryptionError(
                "a sealed file failed authentication: altered, truncated, or another file's"
            ) from None
        yield plain
        if last:
            return
        number += 1


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    parts = []
    wanted = size
    while wanted:
        piece = source.read(wanted)
        if not piece:
            break
        parts.append(piece)
        wanted -= len(piece)
    return b"".join(parts)
