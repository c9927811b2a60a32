"""Re-encrypting stored tokens under a new primary key (trust/services/keys.py, rotate_field_keys).

Independent of the models that hold identifying data: the auth user's ``first_name`` stands in
for an encrypted field, declared for the test only. Every name here is invented.
"""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from trust.crypto import Keyring, decrypt_text, encrypt_text, token_key_id
from trust.services import keys as keys_service
from trust.services.keys import rotate_encrypted_fields

User = get_user_model()
NAMES = ["Ilvane Orrow", "Teodric Malp", "Sunniva Qell", "Oskel Varn", "Bryth Amolen"]


def context_of(user) -> str:  # type: ignore[no-untyped-def]
    return f"user:{user.username}"


@pytest.fixture
def keys() -> tuple[str, str]:
    """(new primary key, old key)."""
    return Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def users(db, monkeypatch, keys):  # type: ignore[no-untyped-def]
    """Five users whose first name is a token: three under the old key, one already under the new
    key, and one empty."""
    new, old = keys
    monkeypatch.setattr(User, "ENCRYPTED_FIELDS", {"first_name": context_of}, raising=False)
    old_ring, new_ring = Keyring([old]), Keyring([new])
    rows = []
    for number, name in enumerate(NAMES):
        username = f"u{number}"
        ring = new_ring if number == 3 else old_ring
        token = "" if number == 4 else encrypt_text(name, context=f"user:{username}", keyring=ring)
        rows.append(User.objects.create(username=username, first_name=token))
    return rows


def stored_tokens() -> dict[str, str]:
    return dict(User.objects.order_by("username").values_list("username", "first_name"))


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_rotation_reencrypts_only_tokens_under_old_keys(users, keys, batch_size):
    new, old = keys
    before = stored_tokens()
    results = rotate_encrypted_fields(
        models=[User], batch_size=batch_size, keyring=Keyring([new, old])
    )
    result = results[User._meta.label]
    assert (result.rows, result.rotated, result.failures) == (5, 3, [])
    after = stored_tokens()
    assert after["u3"] == before["u3"] and after["u4"] == ""
    only_new = Keyring([new])
    for number, name in enumerate(NAMES[:4]):
        username = f"u{number}"
        assert decrypt_text(after[username], context=f"user:{username}", keyring=only_new) == name


def test_second_rotation_finds_nothing_to_do(users, keys):
    from trust.models import AuditEvent

    ring = Keyring(list(keys))
    rotate_encrypted_fields(models=[User], keyring=ring)
    assert rotate_encrypted_fields(models=[User], keyring=ring)[User._meta.label].rotated == 0
    # The rotation is a configuration change in the audit trail; the run that did nothing is not.
    [event] = AuditEvent.objects.filter(action="config.field_key_rotated")
    assert event.object_type == User._meta.label and b'"rows":3' in bytes(event.data)


def test_dry_run_counts_and_writes_nothing(users, keys):
    before = stored_tokens()
    results = rotate_encrypted_fields(models=[User], dry_run=True, keyring=Keyring(list(keys)))
    assert results[User._meta.label].rotated == 3
    assert stored_tokens() == before


def test_token_of_another_row_is_reported_and_left_alone(users, keys):
    copied = User.objects.get(username="u0").first_name
    User.objects.filter(username="u1").update(first_name=copied)
    result = rotate_encrypted_fields(models=[User], keyring=Keyring(list(keys)))[User._meta.label]
    assert result.rotated == 2
    assert len(result.failures) == 1 and "pk=" in result.failures[0]
    assert "does not belong to context" in result.failures[0]
    assert NAMES[0] not in result.failures[0]
    assert User.objects.get(username="u1").first_name == copied


def test_command_prints_counts_per_model(users, keys, monkeypatch):
    monkeypatch.setattr(keys_service, "encrypted_models", lambda: [User])
    out = io.StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=list(keys)):
        call_command("rotate_field_keys", "--dry-run", stdout=out)
        assert "auth.User: 3 of 5 rows would be re-encrypted" in out.getvalue()
        call_command("rotate_field_keys", "--batch-size", "2", stdout=out)
    assert "auth.User: 3 of 5 rows re-encrypted" in out.getvalue()
    new_kid = Keyring([keys[0]]).primary_key_id
    assert {token_key_id(t) for t in stored_tokens().values() if t} == {new_kid}


def test_command_exits_1_on_a_token_that_does_not_decrypt(users, keys, monkeypatch):
    monkeypatch.setattr(keys_service, "encrypted_models", lambda: [User])
    User.objects.filter(username="u2").update(first_name="v1:0a0b0c0d:not-a-token")
    err = io.StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=list(keys)), pytest.raises(SystemExit) as exit:
        call_command("rotate_field_keys", stdout=io.StringIO(), stderr=err)
    assert exit.value.code == 1
    assert "NOT DECRYPTED auth.User pk=" in err.getvalue()


def test_command_with_no_encrypted_models_says_so(db, monkeypatch):
    monkeypatch.setattr(keys_service, "encrypted_models", lambda: [])
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "No model declares ENCRYPTED_FIELDS" in out.getvalue()
