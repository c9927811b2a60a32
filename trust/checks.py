"""Django system checks (``manage.py check``) on the encryption keys; not the ledger check.

Messages name a key by its position, never by its value. Registered by ``TrustConfig.ready``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from trust.crypto import KeyConfigurationError, parse_key


@register(Tags.security)
def field_encryption_keys_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Malformed or missing keys, and derived keys in production mode, are errors."""
    messages: list[CheckMessage] = []
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None)
    if isinstance(keys, str) or not keys:
        messages.append(
            Error(
                "FIELD_ENCRYPTION_KEYS must be a non-empty list of keys.",
                hint="Set TRUST_FIELD_ENCRYPTION_KEYS (comma-separated); see docs/security.md.",
                id="trust.E001",
            )
        )
        keys = []
    for position, key in enumerate(keys, start=1):
        try:
            parse_key(key)
        except KeyConfigurationError as exc:
            messages.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS key #{position} is malformed: {exc}.",
                    hint="Each key is urlsafe base64 of 32 bytes, as Fernet.generate_key() makes.",
                    id="trust.E001",
                )
            )
    if getattr(settings, "FIELD_ENCRYPTION_KEYS_DERIVED", False) and getattr(
        settings, "SECRETS_REQUIRED", False
    ):
        messages.append(
            Error(
                "Field encryption keys are derived from SECRET_KEY in production mode "
                "(DJANGO_REQUIRE_SECRET_KEY is on).",
                hint="Set TRUST_FIELD_ENCRYPTION_KEYS to keys of their own; see docs/security.md.",
                id="trust.E002",
            )
        )
    index_key = getattr(settings, "BLIND_INDEX_KEY", None)
    if index_key:
        try:
            parse_key(index_key)
        except KeyConfigurationError as exc:
            messages.append(
                Error(
                    f"BLIND_INDEX_KEY is malformed: {exc}.",
                    hint="Set TRUST_BLIND_INDEX_KEY to urlsafe base64 of 32 bytes.",
                    id="trust.E003",
                )
            )
    return messages


@register(Tags.security, deploy=True)
def field_encryption_keys_deploy_check(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """``check --deploy``: warn about keys that are derived rather than configured."""
    messages: list[CheckMessage] = []
    derived = getattr(settings, "FIELD_ENCRYPTION_KEYS_DERIVED", False)
    if derived and not getattr(settings, "SECRETS_REQUIRED", False):  # else trust.E002 says it
        messages.append(
            Warning(
                "Field encryption keys are derived from SECRET_KEY.",
                hint="Set TRUST_FIELD_ENCRYPTION_KEYS; see docs/security.md.",
                id="trust.W001",
            )
        )
    if not getattr(settings, "BLIND_INDEX_KEY", None):
        messages.append(
            Warning(
                "BLIND_INDEX_KEY is derived from the primary field key, so rotating that key "
                "would change every blind index.",
                hint="Set TRUST_BLIND_INDEX_KEY before any blind index is stored.",
                id="trust.W002",
            )
        )
    return messages
