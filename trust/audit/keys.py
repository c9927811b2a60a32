"""Keys of the audit trail: the Ed25519 key that signs checkpoints (from settings, never the
database), the public keys trusted to verify them (current and earlier ones), and the statement
a checkpoint signs."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from trust.audit.canonical import VERSION, canonical


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=4)
def _private_key(encoded: str) -> Ed25519PrivateKey:
    raw = _b64decode(encoded)
    if len(raw) != 32:
        raise ValueError("TRUST_AUDIT_SIGNING_KEY must be 32 bytes, base64url-encoded")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.AUDIT_SIGNING_KEY)


def public_key_bytes() -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def trusted_public_keys() -> list[bytes]:
    """The current public key, then those of earlier signing keys (settings)."""
    return [public_key_bytes(), *(_b64decode(k) for k in settings.AUDIT_PREVIOUS_PUBLIC_KEYS)]


def key_fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def verify_signature(public_key: bytes, signature: bytes, statement: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, statement)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- checkpoints ---------------------------------------------------------------------------
def tree_head_statement(size: int, root: bytes, signed_at: datetime) -> bytes:
    """The bytes a checkpoint signs."""
    return canonical(
        {
            "log": settings.AUDIT_LOG_ID,
            "size": size,
            "root": root.hex(),
            "time": signed_at,
            "v": VERSION,
        }
    )
