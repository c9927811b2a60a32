"""Encryption of identifying data (trust/crypto.py): tokens, context binding, rotation, blind index.

Every name here is invented. Keys are made per test; nothing depends on the configured ones except
the tests that say they read settings.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings

from trust import checks
from trust.crypto import (
    DecryptionError,
    KeyConfigurationError,
    Keyring,
    blind_index,
    decrypt_text,
    encrypt_text,
    keyring_from_settings,
    normalise_for_index,
    parse_key,
    rotate_token,
    token_is_current,
    token_key_id,
)
from trust.services.keys import encrypted_models, rotate_encrypted_fields

NAME = "Zorabelle Quintaro-Fenwick"
CONTEXT = "beneficiary-identity:42"


def new_key() -> str:
    return Fernet.generate_key().decode()


def kid_of(key: str) -> str:
    return hashlib.sha256(base64.urlsafe_b64decode(key)).hexdigest()[:8]


@pytest.fixture
def old_key() -> str:
    return new_key()


@pytest.fixture
def primary_key() -> str:
    return new_key()


@pytest.fixture
def old_ring(old_key: str) -> Keyring:
    return Keyring([old_key])


@pytest.fixture
def rotated_ring(primary_key: str, old_key: str) -> Keyring:
    """The keyring after a new key is added in front of the old one."""
    return Keyring([primary_key, old_key])


# --- encrypt / decrypt --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        NAME,
        "Ñiñarë Ẓelvorrë-Ågströmsky",
        "渡辺 架空子",
        "Лиана Вымыслова",
        "Ngọc Thảo Giảđịnh",
        "guardian: +00 000 0000 (invented) 🌱",
        "",
    ],
)
def test_round_trip_keeps_text_exactly(plaintext, old_ring):
    token = encrypt_text(plaintext, context=CONTEXT, keyring=old_ring)
    assert decrypt_text(token, context=CONTEXT, keyring=old_ring) == plaintext


def test_token_has_documented_format(old_ring, old_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    assert re.fullmatch(r"v1:[0-9a-f]{8}:[A-Za-z0-9_\-]+=*", token)
    assert token_key_id(token) == kid_of(old_key) == old_ring.primary_key_id
    assert NAME not in token


def test_token_differs_each_time(old_ring):
    first = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    second = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    assert first != second
    assert decrypt_text(second, context=CONTEXT, keyring=old_ring) == NAME


@pytest.mark.parametrize(
    "other_context",
    ["beneficiary-identity:43", "beneficiary-identity:4", "beneficiary-identity:420", "x"],
)
def test_wrong_context_fails(other_context, old_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    with pytest.raises(DecryptionError, match="does not belong to context") as caught:
        decrypt_text(token, context=other_context, keyring=old_ring)
    assert NAME not in str(caught.value)


def test_empty_context_is_refused(old_ring):
    with pytest.raises(ValueError, match="context must not be empty"):
        encrypt_text(NAME, context="", keyring=old_ring)


def tamper(token: str, position: int) -> str:
    prefix, body = token[:12], token[12:]
    swapped = "A" if body[position] != "A" else "B"
    return prefix + body[:position] + swapped + body[position + 1 :]


@pytest.mark.parametrize("position", [0, 10, 40, 80, -5])
def test_tampered_token_fails(position, old_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    with pytest.raises(DecryptionError, match=r"failed authentication|not a v1 token"):
        decrypt_text(tamper(token, position), context=CONTEXT, keyring=old_ring)


def test_truncated_token_fails(old_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    with pytest.raises(DecryptionError):
        decrypt_text(token[:-8], context=CONTEXT, keyring=old_ring)


def test_token_relabelled_with_another_key_id_fails(rotated_ring, old_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    relabelled = token.replace(old_ring.primary_key_id, rotated_ring.primary_key_id, 1)
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_text(relabelled, context=CONTEXT, keyring=rotated_ring)


@pytest.mark.parametrize("token", ["", NAME, "v2:00000000:abc", "v1:XYZ:abc", "v1:0a0b0c0d:"])
def test_malformed_token_fails(token, old_ring):
    with pytest.raises(DecryptionError, match="not a v1 token"):
        decrypt_text(token, context=CONTEXT, keyring=old_ring)


def test_non_string_token_fails(old_ring):
    with pytest.raises(DecryptionError, match="must be a string"):
        decrypt_text(b"v1:00000000:abc", context=CONTEXT, keyring=old_ring)  # type: ignore[arg-type]


def test_lone_surrogate_is_refused_without_echoing_it(old_ring):
    secret = "Quillon Vexmoor \ud800"
    with pytest.raises(ValueError, match="not valid Unicode") as caught:
        encrypt_text(secret, context=CONTEXT, keyring=old_ring)
    assert "Quillon" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- rotation -----------------------------------------------------------------------------------


def test_old_key_still_decrypts_after_new_key_is_added(old_ring, rotated_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    assert decrypt_text(token, context=CONTEXT, keyring=rotated_ring) == NAME


def test_new_tokens_use_the_first_key(rotated_ring, primary_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=rotated_ring)
    assert token_key_id(token) == kid_of(primary_key)
    assert token_is_current(token, keyring=rotated_ring)


def test_rotate_token_moves_to_primary_key(old_ring, rotated_ring, primary_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    assert not token_is_current(token, keyring=rotated_ring)
    rotated = rotate_token(token, context=CONTEXT, keyring=rotated_ring)
    assert token_key_id(rotated) == kid_of(primary_key)
    assert token_is_current(rotated, keyring=rotated_ring)
    # The old key can now go: the primary key alone decrypts the rotated token.
    assert decrypt_text(rotated, context=CONTEXT, keyring=Keyring([primary_key])) == NAME


def test_rotate_token_keeps_original_timestamp(old_ring, rotated_ring, old_key, primary_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    rotated = rotate_token(token, context=CONTEXT, keyring=rotated_ring)
    before = Fernet(old_key.encode()).extract_timestamp(token.split(":", 2)[2].encode())
    after = Fernet(primary_key.encode()).extract_timestamp(rotated.split(":", 2)[2].encode())
    assert before == after


def test_rotate_token_refuses_wrong_context(old_ring, rotated_ring):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    with pytest.raises(DecryptionError, match="does not belong to context"):
        rotate_token(token, context="beneficiary-identity:7", keyring=rotated_ring)


def test_token_under_removed_key_fails_clearly(old_ring, old_key, primary_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    with pytest.raises(DecryptionError, match=f"key id {kid_of(old_key)}.*not configured"):
        decrypt_text(token, context=CONTEXT, keyring=Keyring([primary_key]))


def test_settings_keys_encrypt_with_first_and_decrypt_with_all(old_key, primary_key):
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key], BLIND_INDEX_KEY=None):
        token = encrypt_text(NAME, context=CONTEXT)
        assert token_key_id(token) == kid_of(old_key)
    with override_settings(FIELD_ENCRYPTION_KEYS=[primary_key, old_key], BLIND_INDEX_KEY=None):
        assert decrypt_text(token, context=CONTEXT) == NAME
        assert token_key_id(rotate_token(token, context=CONTEXT)) == kid_of(primary_key)
        assert keyring_from_settings().key_ids == (kid_of(primary_key), kid_of(old_key))


# --- errors carry no plaintext and no key -------------------------------------------------------


def test_decryption_errors_never_contain_the_plaintext(old_ring, rotated_ring, primary_key):
    token = encrypt_text(NAME, context=CONTEXT, keyring=old_ring)
    attempts = [
        lambda: decrypt_text(token, context="beneficiary-identity:1", keyring=old_ring),
        lambda: decrypt_text(tamper(token, 30), context=CONTEXT, keyring=old_ring),
        lambda: decrypt_text(token, context=CONTEXT, keyring=Keyring([primary_key])),
        lambda: rotate_token(token, context="implicated-person:1", keyring=rotated_ring),
    ]
    for attempt in attempts:
        with pytest.raises(DecryptionError) as caught:
            attempt()
        text = f"{caught.value!s} {caught.value!r}"
        assert NAME not in text and "Zorabelle" not in text
        assert caught.value.__cause__ is None


def test_keys_are_never_echoed(primary_key):
    ring = Keyring([primary_key])
    assert primary_key not in repr(ring)
    bad = "this-is-not-a-key-but-a-secret-phrase"
    with pytest.raises(KeyConfigurationError) as caught:
        Keyring([primary_key, bad])
    assert bad not in str(caught.value)
    assert "#2" in str(caught.value)


@pytest.mark.parametrize(
    "key",
    ["", "short", "not base64 at all!", base64.urlsafe_b64encode(b"x" * 16).decode(), "🔑" * 44],
)
def test_parse_key_refuses_malformed_keys(key):
    with pytest.raises(KeyConfigurationError):
        parse_key(key)


def test_keyring_needs_a_list_of_keys(primary_key):
    with pytest.raises(KeyConfigurationError, match="at least one"):
        Keyring([])
    with pytest.raises(KeyConfigurationError, match="at least one"):
        Keyring(primary_key)


# --- blind index --------------------------------------------------------------------------------


def test_blind_index_ignores_case_accents_and_spacing(old_ring):
    assert blind_index("  Jósefa  DELA Quorvan", purpose="implicated", keyring=old_ring) == (
        blind_index("josefa dela quorvan", purpose="implicated", keyring=old_ring)
    )
    assert normalise_for_index("  Jósefa\tDELA\n Quorvan ") == "josefa dela quorvan"


def test_blind_index_tells_different_names_apart(old_ring):
    assert blind_index("Josefa Quorvan", purpose="implicated", keyring=old_ring) != blind_index(
        "Josefa Quorvin", purpose="implicated", keyring=old_ring
    )


def test_blind_index_is_hex_sha256(old_ring):
    assert re.fullmatch(r"[0-9a-f]{64}", blind_index(NAME, purpose="p", keyring=old_ring))


def test_blind_index_differs_across_purposes(old_ring):
    assert blind_index(NAME, purpose="implicated", keyring=old_ring) != blind_index(
        NAME, purpose="payee", keyring=old_ring
    )


def test_blind_index_differs_across_keys(old_ring, primary_key):
    assert blind_index(NAME, purpose="implicated", keyring=old_ring) != blind_index(
        NAME, purpose="implicated", keyring=Keyring([primary_key])
    )


def test_configured_index_key_survives_field_key_rotation(old_key, primary_key):
    index_key = new_key()
    before = Keyring([old_key], blind_index_key=index_key)
    after = Keyring([primary_key, old_key], blind_index_key=index_key)
    assert blind_index(NAME, purpose="p", keyring=before) == blind_index(
        NAME, purpose="p", keyring=after
    )


def test_derived_index_key_follows_primary_key(old_ring, rotated_ring):
    # The documented limit: without BLIND_INDEX_KEY, a new primary key changes every index.
    assert blind_index(NAME, purpose="p", keyring=old_ring) != blind_index(
        NAME, purpose="p", keyring=rotated_ring
    )


def test_blind_index_reads_settings(old_key):
    index_key = new_key()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key], BLIND_INDEX_KEY=index_key):
        from_settings = blind_index(NAME, purpose="p")
    assert from_settings == blind_index(
        NAME, purpose="p", keyring=Keyring([new_key()], blind_index_key=index_key)
    )


@pytest.mark.parametrize("value", ["", "   ", "\u0301"])
def test_blind_index_refuses_empty_value(value, old_ring):
    with pytest.raises(ValueError, match="empty"):
        blind_index(value, purpose="implicated", keyring=old_ring)


def test_blind_index_refuses_empty_purpose(old_ring):
    with pytest.raises(ValueError, match="purpose"):
        blind_index(NAME, purpose="", keyring=old_ring)


# --- system checks ------------------------------------------------------------------------------


def check_ids(*, deploy: bool = False) -> list[str]:
    check = (
        checks.field_encryption_keys_deploy_check if deploy else checks.field_encryption_keys_check
    )
    return [message.id for message in check(None)]


def test_check_passes_with_valid_keys(primary_key, old_key):
    with override_settings(
        FIELD_ENCRYPTION_KEYS=[primary_key, old_key], FIELD_ENCRYPTION_KEYS_DERIVED=False
    ):
        assert check_ids() == []


def test_check_errors_on_malformed_key_without_echoing_it(primary_key):
    bad = "not-a-fernet-key-secret-value"
    with override_settings(FIELD_ENCRYPTION_KEYS=[primary_key, bad]):
        messages = checks.field_encryption_keys_check(None)
    assert [m.id for m in messages] == ["trust.E001"]
    assert messages[0].is_serious()
    assert "#2" in messages[0].msg and bad not in messages[0].msg


def test_check_errors_on_no_keys():
    with override_settings(FIELD_ENCRYPTION_KEYS=[]):
        assert check_ids() == ["trust.E001"]


def test_check_errors_on_derived_keys_in_production_mode():
    with override_settings(FIELD_ENCRYPTION_KEYS_DERIVED=True, SECRETS_REQUIRED=True):
        assert "trust.E002" in check_ids()
        assert "trust.W001" not in check_ids(deploy=True)


def test_check_errors_on_malformed_blind_index_key(primary_key):
    with override_settings(FIELD_ENCRYPTION_KEYS=[primary_key], BLIND_INDEX_KEY="nope"):
        assert check_ids() == ["trust.E003"]


def test_deploy_check_warns_on_derived_keys():
    with override_settings(
        FIELD_ENCRYPTION_KEYS_DERIVED=True, SECRETS_REQUIRED=False, BLIND_INDEX_KEY=None
    ):
        assert check_ids() == []
        assert check_ids(deploy=True) == ["trust.W001", "trust.W002"]


def test_deploy_check_is_quiet_with_configured_keys(primary_key):
    with override_settings(
        FIELD_ENCRYPTION_KEYS=[primary_key],
        FIELD_ENCRYPTION_KEYS_DERIVED=False,
        BLIND_INDEX_KEY=new_key(),
    ):
        assert check_ids(deploy=True) == []


# --- discovery of encrypted models --------------------------------------------------------------


def test_discovery_finds_only_models_declaring_encrypted_fields():
    for model in encrypted_models():
        assert model.ENCRYPTED_FIELDS  # type: ignore[attr-defined]
        assert not model._meta.proxy


def test_rotation_of_no_models_does_nothing():
    assert rotate_encrypted_fields(models=[]) == {}
