"""Encryption of identifying data at rest, with key rotation, and blind indexes (docs/security.md).

Children's legal names, guardians' contacts and implicated persons' names are stored only as tokens
made here (DOMAIN.md rule 11). A token reads ``v1:<kid>:<fernet token>``:

- ``v1`` names this format;
- ``<kid>`` is the first 8 hex digits of SHA-256 of the 32 raw bytes of the key that made it, so that
  ``rotate_field_keys`` can tell which tokens are not yet under the primary key without decrypting;
- the Fernet token (AES-128-CBC with HMAC-SHA256, urlsafe base64) encrypts
  ``len(context) as 2 bytes big-endian + context + plaintext``, all UTF-8. Decryption checks that the
  context inside equals the one the caller expects, so a token copied to another row (another
  context, e.g. ``beneficiary-identity:42``) fails instead of showing that row someone else's name.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (the first encrypts, every one decrypts) unless a
``Keyring`` is passed. No function here logs, and no exception carries a plaintext or a key. This
module imports no Django models; it reads ``django.conf.settings`` only inside
``keyring_from_settings``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = "v1"
_TOKEN_RE = re.compile(r"^v1:(?P<kid>[0-9a-f]{8}):(?P<fernet>[A-Za-z0-9_\-]+=*)$")
_BLIND_INDEX_INFO = b"restitution-trust-ledger blind-index v1"
_MAX_CONTEXT_BYTES = 0xFFFF


class DecryptionError(Exception):
    """A token could not be decrypted: malformed, altered, wrong context, or its key is gone."""


class KeyConfigurationError(ValueError):
    """A configured key is not usable (the message names its position, never its value)."""


def parse_key(key: str | bytes) -> bytes:
    """Return the 32 raw bytes of a urlsafe-base64 Fernet key, or raise ``KeyConfigurationError``."""
    if isinstance(key, str):
        key = key.strip().encode("ascii", errors="replace")
    if not isinstance(key, bytes):
        raise KeyConfigurationError(f"a key must be a string, not {type(key).__name__}")
    try:
        raw = base64.b64decode(key, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigurationError("a key is not urlsafe base64") from None
    if len(raw) != 32:
        raise KeyConfigurationError(f"a key must decode to 32 bytes, not {len(raw)}")
    return raw


def key_id(raw_key: bytes) -> str:
    """The short, public name of a key: first 8 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_key).hexdigest()[:8]


class Keyring:
    """Field keys (the first is primary) and the blind-index key; built once, never printed."""

    def __init__(
        self, keys: Sequence[str | bytes], *, blind_index_key: str | bytes | None = None
    ) -> None:
        if isinstance(keys, str | bytes) or not keys:
            raise KeyConfigurationError("at least one field encryption key is needed (a list)")
        raws: list[bytes] = []
        for position, key in enumerate(keys):
            try:
                raw = parse_key(key)
            except KeyConfigurationError as exc:
                raise KeyConfigurationError(f"field key #{position + 1}: {exc}") from None
            if raw not in raws:
                raws.append(raw)
        self.key_ids: tuple[str, ...] = tuple(key_id(raw) for raw in raws)
        self._fernets: dict[str, list[Fernet]] = {}
        for kid, raw in zip(self.key_ids, raws, strict=True):
            # Two keys sharing a kid (1 in 4 billion) are both tried.
            self._fernets.setdefault(kid, []).append(Fernet(base64.urlsafe_b64encode(raw)))
        self._primary = self._fernets[self.key_ids[0]][0]
        if blind_index_key:
            try:
                self._index_key = parse_key(blind_index_key)
            except KeyConfigurationError as exc:
                raise KeyConfigurationError(f"blind index key: {exc}") from None
        else:
            self._index_key = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=_BLIND_INDEX_INFO
            ).derive(raws[0])

    def __repr__(self) -> str:
        return f"<Keyring primary={self.primary_key_id} keys={len(self.key_ids)}>"

    @property
    def primary_key_id(self) -> str:
        return self.key_ids[0]

    def encrypt(self, payload: bytes) -> str:
        return f"{FORMAT_VERSION}:{self.primary_key_id}:{self._primary.encrypt(payload).decode()}"

    def decrypt(self, token: str) -> tuple[bytes, int]:
        """Return the payload and Fernet timestamp of a token, trying only the key it names."""
        kid, fernet_token = _split_token(token)
        fernets = self._fernets.get(kid)
        if not fernets:
            raise DecryptionError(
                f"token is under key id {kid}, which is not configured in FIELD_ENCRYPTION_KEYS "
                "(was that key removed before its tokens were rotated?)"
            )
        for fernet in fernets:
            try:
                return fernet.decrypt(fernet_token), fernet.extract_timestamp(fernet_token)
            except InvalidToken:
                continue
        raise DecryptionError(
            f"token failed authentication under key id {kid}: altered, truncated or not made here"
        )

    def reencrypt(self, payload: bytes, timestamp: int) -> str:
        """Encrypt under the primary key keeping the original timestamp (``MultiFernet.rotate``)."""
        token = self._primary.encrypt_at_time(payload, timestamp).decode()
        return f"{FORMAT_VERSION}:{self.primary_key_id}:{token}"

    def _index_key_for(self, purpose: str) -> bytes:
        """A subkey per purpose, so that equal values under two purposes do not match."""
        return hmac.digest(self._index_key, b"purpose:" + purpose.encode("utf-8"), "sha256")


@lru_cache(maxsize=8)
def _cached_keyring(keys: tuple[str, ...], blind_index_key: str | None) -> Keyring:
    return Keyring(keys, blind_index_key=blind_index_key)


def keyring_from_settings() -> Keyring:
    """The keyring of ``FIELD_ENCRYPTION_KEYS`` and ``BLIND_INDEX_KEY``, cached per configuration."""
    from django.conf import settings

    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or ()
    if isinstance(keys, str):
        keys = [keys]
    return _cached_keyring(tuple(keys), getattr(settings, "BLIND_INDEX_KEY", None) or None)


def _split_token(token: str) -> tuple[str, bytes]:
    if not isinstance(token, str):
        raise DecryptionError(f"a token must be a string, not {type(token).__name__}")
    match = _TOKEN_RE.match(token)
    if match is None:
        raise DecryptionError(f"not a {FORMAT_VERSION} token (expected v1:<key id>:<fernet token>)")
    return match["kid"], match["fernet"].encode("ascii")


def _encode(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # The exception would carry the whole string: raise one that does not.
        raise ValueError(f"{what} is not valid Unicode text (a lone surrogate)") from None


def _context_bytes(context: str) -> bytes:
    raw = _encode(context, "context")
    if not raw:
        raise ValueError("context must not be empty")
    if len(raw) > _MAX_CONTEXT_BYTES:
        raise ValueError("context is longer than 65535 bytes")
    return raw


def _unwrap(payload: bytes, context: str) -> bytes:
    """Check the context inside a decrypted payload and return the plaintext bytes after it."""
    expected = _context_bytes(context)
    if len(payload) < 2:
        raise DecryptionError("token payload is malformed")
    (length,) = struct.unpack(">H", payload[:2])
    found = payload[2 : 2 + length]
    if len(found) != length or not hmac.compare_digest(found, expected):
        raise DecryptionError(
            f"token does not belong to context {context!r} (copied from another row?)"
        )
    return payload[2 + length :]


def encrypt_text(plaintext: str, *, context: str, keyring: Keyring | None = None) -> str:
    """Encrypt ``plaintext`` under the primary key, bound to ``context``; return the token to store."""
    ctx = _context_bytes(context)
    body = _encode(plaintext, "plaintext")
    keyring = keyring or keyring_from_settings()
    return keyring.encrypt(struct.pack(">H", len(ctx)) + ctx + body)


def decrypt_text(token: str, *, context: str, keyring: Keyring | None = None) -> str:
    """Decrypt a token made for ``context``; raise ``DecryptionError`` for anything else."""
    keyring = keyring or keyring_from_settings()
    payload, _timestamp = keyring.decrypt(token)
    try:
        return _unwrap(payload, context).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("token payload is not UTF-8 text") from None


def rotate_token(token: str, *, context: str, keyring: Keyring | None = None) -> str:
    """Re-encrypt a token under the primary key, after checking it decrypts for ``context``.

    Like ``MultiFernet.rotate``: any configured key may have made it, and the new token keeps its
    original timestamp. Always returns a fresh token, even when the token was already current.
    """
    keyring = keyring or keyring_from_settings()
    payload, timestamp = keyring.decrypt(token)
    _unwrap(payload, context)
    return keyring.reencrypt(payload, timestamp)


def token_key_id(token: str) -> str:
    """The key id a token names (no key needed); ``DecryptionError`` if it is not a token."""
    return _split_token(token)[0]


def token_is_current(token: str, *, keyring: Keyring | None = None) -> bool:
    """Whether a token is already under the primary key (``rotate_field_keys`` skips it)."""
    keyring = keyring or keyring_from_settings()
    return token_key_id(token) == keyring.primary_key_id


def normalise_for_index(value: str) -> str:
    """Casefold, strip accents (NFKD, drop combining marks) and collapse whitespace."""
    _encode(value, "value")  # refuses a non-string or a lone surrogate, without echoing it
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.split())


def blind_index(value: str, *, purpose: str, keyring: Keyring | None = None) -> str:
    """HMAC-SHA256 (hex) of the normalised value, under a key of its own per ``purpose``.

    Lets equal values be found by equality ("is this payee an implicated person?") without
    decrypting. Refuses a value that normalises to nothing, which would match every blank.
    """
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("purpose must be a non-empty string")
    normalised = normalise_for_index(value)
    if not normalised:
        raise ValueError("value is empty after normalisation")
    keyring = keyring or keyring_from_settings()
    return hmac.new(
        keyring._index_key_for(purpose), normalised.encode("utf-8"), "sha256"
    ).hexdigest()


# --- a child's own data key (crypto-shredding) -------------------------------------------------

_DATA_KEY_INFO = b"restitution-trust-ledger data-key v1:"


class DataKey:
    """One beneficiary's own 32-byte key: it encrypts everything identifying about that child
    (identity, date of birth, request purposes and notes, documents), and is itself stored only
    wrapped by the field keys. Destroying the wrapped copy erases all of it at once
    (crypto-shredding), while the rows that held it, the ledger and the audit trail stay."""

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise KeyConfigurationError("a data key is 32 bytes")
        self._raw = raw
        self.keyring = Keyring([base64.urlsafe_b64encode(raw)])

    def __repr__(self) -> str:
        return f"<DataKey {self.keyring.primary_key_id}>"

    @classmethod
    def generate(cls) -> DataKey:
        import os

        return cls(os.urandom(32))

    def wrap(self, *, context: str, keyring: Keyring | None = None) -> str:
        """The token to store: this key encrypted under the primary field key, bound to
        ``context`` (rotated by ``rotate_field_keys`` like any other token)."""
        return encrypt_text(
            base64.urlsafe_b64encode(self._raw).decode("ascii"), context=context, keyring=keyring
        )

    @classmethod
    def unwrap(cls, token: str, *, context: str, keyring: Keyring | None = None) -> DataKey:
        text = decrypt_text(token, context=context, keyring=keyring)
        try:
            return cls(base64.urlsafe_b64decode(text.encode("ascii")))
        except (binascii.Error, ValueError, KeyConfigurationError):
            raise DecryptionError("a wrapped data key is malformed") from None

    def encrypt_text(self, plaintext: str, *, context: str) -> str:
        return encrypt_text(plaintext, context=context, keyring=self.keyring)

    def decrypt_text(self, token: str, *, context: str) -> str:
        if token_key_id(token) != self.keyring.primary_key_id:
            raise DecryptionError(
                "token does not belong to this child's data key (copied from another row?)"
            )
        return decrypt_text(token, context=context, keyring=self.keyring)

    def subkey(self, purpose: str) -> bytes:
        """A 32-byte key of its own for one purpose (e.g. one document), derived with HKDF."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=_DATA_KEY_INFO + _context_bytes(purpose),
        ).derive(self._raw)
