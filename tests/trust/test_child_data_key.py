"""Each child's data key and what it encrypts (trust/crypto.py DataKey, trust/filecrypt.py,
Beneficiary.seal_text): the date of birth, a request's purpose, budget-override reason and
events' reasons, document titles and files, none of them readable in the database or on disk, all
still readable through the application, through a field-key rotation that may be interrupted.
Every value here is invented.
"""

from __future__ import annotations

import io
import os
from datetime import date
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from disbursements.models import DisbursementRequest, RequestDocument
from disbursements.services import request_document_add, request_reject
from disbursements.services.documents import document_seal_stored, document_stream
from tests.disbursements.test_requests import World, make_world, submitted
from tests.factories import TrustFactory, clean_pdf, stored_plaintext
from trust import crypto, filecrypt
from trust.crypto import DataKey, DecryptionError, Keyring
from trust.models import Beneficiary, BeneficiaryIdentity
from trust.services.keys import rotate_encrypted_fields
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    beneficiary_update,
)

PURPOSE = "Invented purpose: dental care at the Orrowmere clinic"
REASON = "Invented reason: the Qellbrook quote is out of date"
TITLE = "Invented invoice from Varnhollow school"
BORN = date(2014, 2, 28)


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def table_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return repr(cursor.fetchall())


# --- sealed files ------------------------------------------------------------------------------


SIZES = [
    0,
    1,
    filecrypt.SEGMENT - 1,
    filecrypt.SEGMENT,
    filecrypt.SEGMENT + 1,
    3 * filecrypt.SEGMENT,
]


@pytest.mark.parametrize("size", SIZES)
def test_a_sealed_file_opens_to_what_was_sealed_and_holds_none_of_it(size: int) -> None:
    key, plain = os.urandom(32), os.urandom(size)
    sealed = b"".join(filecrypt.seal(io.BytesIO(plain), key=key, context="doc:1"))
    assert sealed.startswith(filecrypt.MAGIC)
    if size >= 32:
        assert plain[:32] not in sealed
    assert b"".join(filecrypt.unseal(io.BytesIO(sealed), key=key, context="doc:1")) == plain


@given(st.binary(max_size=3 * 1024), st.integers(min_value=1, max_value=5000))
@hypothesis_settings(max_examples=60, deadline=None)
def test_sealing_does_not_depend_on_how_the_source_is_cut(plain: bytes, cut: int) -> None:
    key = b"k" * 32
    pieces = [plain[i : i + cut] for i in range(0, len(plain), cut)]
    sealed = b"".join(filecrypt.seal(pieces, key=key, context="c"))
    assert b"".join(filecrypt.unseal(io.BytesIO(sealed), key=key, context="c")) == plain


def _unseal(sealed: bytes, key: bytes, context: str = "doc:1") -> bytes:
    return b"".join(filecrypt.unseal(io.BytesIO(sealed), key=key, context=context))


def test_an_altered_cut_reordered_or_misplaced_file_does_not_open() -> None:
    key = os.urandom(32)
    plain = os.urandom(2 * filecrypt.SEGMENT + 100)
    sealed = b"".join(filecrypt.seal(io.BytesIO(plain), key=key, context="doc:1"))
    header = len(filecrypt.MAGIC) + 7
    full = filecrypt.SEGMENT + 16
    flipped = bytearray(sealed)
    flipped[header + 5] ^= 1
    segments = [sealed[header + i * full : header + (i + 1) * full] for i in range(3)]
    bad = {
        "a bit flipped": bytes(flipped),
        "cut at a segment's end": sealed[: header + full],
        "cut inside a segment": sealed[:-1],
        "two segments swapped": sealed[:header] + segments[1] + segments[0] + segments[2],
        "extended": sealed + b"\x00" * 16,
        "not sealed": plain,
    }
    for what, altered in bad.items():
        with pytest.raises(DecryptionError):
            _unseal(altered, key)
            pytest.fail(what)
    with pytest.raises(DecryptionError):
        _unseal(sealed, key, context="doc:2")  # another document's place
    with pytest.raises(DecryptionError):
        _unseal(sealed, os.urandom(32))  # another child's key


def test_a_data_key_unwraps_only_in_its_own_place_and_tokens_do_not_cross_children() -> None:
    key = DataKey.generate()
    wrapped = key.wrap(context="beneficiary-key:a")
    assert DataKey.unwrap(wrapped, context="beneficiary-key:a").subkey("x") == key.subkey("x")
    with pytest.raises(DecryptionError):
        DataKey.unwrap(wrapped, context="beneficiary-key:b")
    token = key.encrypt_text("Invented Name", context="c")
    with pytest.raises(DecryptionError, match="does not belong"):
        DataKey.generate().decrypt_text(token, context="c")
    assert key.subkey("doc:1") != key.subkey("doc:2")
    assert "Invented" not in repr(key) and key.subkey("x") not in repr(key).encode()


# --- what is encrypted in the database --------------------------------------------------------


@pytest.fixture
def world(db: Any) -> World:
    return make_world()


def test_the_date_of_birth_is_stored_encrypted_under_the_childs_key(db: Any) -> None:
    trust = TrustFactory()
    child = beneficiary_create(trust=trust, pseudonym="MV-9", date_of_birth=BORN)
    stored = raw_column("trust_beneficiary", "dob_token", child.pk)
    assert (
        stored and "2014" not in stored and BORN.isoformat() not in table_text("trust_beneficiary")
    )
    fresh = Beneficiary.objects.get(pk=child.pk)
    assert fresh.date_of_birth == BORN
    assert fresh.majority_date(18) == date(2032, 2, 28)
    # Each child has a key of its own: the token does not open under another's.
    other = beneficiary_create(trust=trust, pseudonym="MV-10", date_of_birth=BORN)
    assert other.data_key_token != fresh.data_key_token
    Beneficiary.objects.filter(pk=other.pk).update(dob_token=stored)
    with pytest.raises(DecryptionError):
        _ = Beneficiary.objects.get(pk=other.pk).date_of_birth


def test_changing_the_date_of_birth_keeps_it_encrypted(db: Any) -> None:
    trust = TrustFactory()
    child = beneficiary_create(trust=trust, pseudonym="MV-9")
    assert child.date_of_birth is None and child.dob_token == ""
    beneficiary_update(beneficiary=child, actor=None, date_of_birth=BORN)
    assert "2014" not in raw_column("trust_beneficiary", "dob_token", child.pk)
    assert Beneficiary.objects.get(pk=child.pk).date_of_birth == BORN


def test_request_texts_and_document_titles_are_stored_encrypted(world: World) -> None:
    request = submitted(world, purpose=PURPOSE)
    request_document_add(
        request=request, actor=world.caseworker, kind="quote", content=clean_pdf(), title=TITLE
    )
    request_reject(request=request, actor=world.trustee, reason=REASON)
    fresh = DisbursementRequest.objects.get(pk=request.pk)
    assert fresh.purpose == PURPOSE
    assert fresh.events.get(action="rejected").reason == REASON
    assert fresh.documents.get().title == TITLE
    for table in (
        "disbursements_request",
        "disbursements_request_event",
        "disbursements_request_document",
        "trust_audit_event",
    ):
        dumped = table_text(table)
        for secret in ("Orrowmere", "Qellbrook", "Varnhollow"):
            assert secret not in dumped, (secret, table)


def test_a_stored_document_is_sealed_and_opens_only_through_the_application(
    world: World,
) -> None:
    pdf = clean_pdf(title="Invented Qellbrook letter")
    document = request_document_add(
        request=submitted(world), actor=world.caseworker, kind="quote", content=pdf
    )
    on_disk = open(document.file.path, "rb").read()  # noqa: SIM115
    assert document.sealed and on_disk.startswith(filecrypt.MAGIC)
    assert b"Qellbrook" not in on_disk and b"%PDF" not in on_disk
    assert stored_plaintext(document) == pdf
    assert document.file.name.endswith(".sealed")
    # Altered on disk: refused as a whole, before a byte is given out.
    with open(document.file.path, "r+b") as handle:
        handle.seek(len(on_disk) - 3)
        handle.write(b"\x00\x00\x00")
    with pytest.raises(DecryptionError):
        document_stream(document)


# --- rotation -------------------------------------------------------------------------------


def test_after_a_rotation_and_the_old_key_removed_everything_still_opens(world: World) -> None:
    beneficiary_identity_set(
        beneficiary=world.mv1, actor=world.trustee, legal_name="Invented Child Name"
    )
    beneficiary_update(beneficiary=world.mv1, actor=world.trustee, date_of_birth=BORN)
    request = submitted(world, purpose=PURPOSE)
    pdf = clean_pdf()
    document = request_document_add(
        request=request, actor=world.caseworker, kind="quote", content=pdf, title=TITLE
    )
    old = list(settings.FIELD_ENCRYPTION_KEYS)
    new = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, *old]):
        results = rotate_encrypted_fields(batch_size=1)
    assert results["trust.Beneficiary"].rotated == 2 and not results["trust.Beneficiary"].failures
    new_kid = Keyring([new]).primary_key_id
    for child in Beneficiary.objects.all():
        assert crypto.token_key_id(child.data_key_token) == new_kid
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        child = Beneficiary.objects.get(pk=world.mv1.pk)
        assert child.date_of_birth == BORN
        revealed = beneficiary_identity_reveal(
            beneficiary=child, actor=world.trustee, purpose="Check after rotation"
        )
        assert revealed["legal_name"] == "Invented Child Name"
        fresh = DisbursementRequest.objects.get(pk=request.pk)
        assert fresh.purpose == PURPOSE
        doc = RequestDocument.objects.get(pk=document.pk)
        assert doc.title == TITLE and stored_plaintext(doc) == pdf


def test_an_interrupted_rotation_run_again_finishes_the_job(world: World, monkeypatch: Any) -> None:
    for number in range(3, 8):
        beneficiary_create(trust=world.trust, pseudonym=f"MV-{number}", date_of_birth=BORN)
    old = list(settings.FIELD_ENCRYPTION_KEYS)
    new = Fernet.generate_key().decode()
    ring = Keyring([new, *old])
    calls = {"n": 0}
    real = crypto.rotate_token

    def dies_on_the_fourth(token: str, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(token, **kwargs)

    monkeypatch.setattr("trust.services.keys.rotate_token", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        rotate_encrypted_fields(batch_size=2, keyring=ring)
    kids = [
        crypto.token_key_id(t) for t in Beneficiary.objects.values_list("data_key_token", flat=True)
    ]
    assert 0 < kids.count(ring.primary_key_id) < len(kids)  # part done, each batch whole
    monkeypatch.setattr("trust.services.keys.rotate_token", real)
    rotate_encrypted_fields(batch_size=2, keyring=ring)
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        for child in Beneficiary.objects.all():
            assert crypto.token_key_id(child.data_key_token) == Keyring([new]).primary_key_id
            assert child.date_of_birth in (None, BORN)


def test_a_document_stored_in_clear_is_sealed_by_the_rotation_and_can_be_again(
    world: World,
) -> None:
    pdf = clean_pdf(title="Invented Orrowmere letter")
    document = request_document_add(
        request=submitted(world), actor=world.caseworker, kind="quote", content=pdf
    )
    # As stored before documents were encrypted: the plain file, not sealed.
    clear_name = document.file.storage.save("requests/legacy.pdf", ContentFile(pdf))
    RequestDocument.objects.filter(pk=document.pk).update(file=clear_name, sealed=False)
    legacy = RequestDocument.objects.get(pk=document.pk)
    assert stored_plaintext(legacy) == pdf  # still served while waiting
    results = rotate_encrypted_fields()
    assert results["disbursements.RequestDocument files"].rotated == 1
    sealed = RequestDocument.objects.get(pk=document.pk)
    assert sealed.sealed and sealed.file.name != clear_name
    assert not sealed.file.storage.exists(clear_name)
    assert b"Orrowmere" not in sealed.file.storage.open(sealed.file.name).read()
    assert stored_plaintext(sealed) == pdf
    # Run again (or by a second process that read the row before): nothing changes.
    assert (
        document_seal_stored(legacy) is False
        or RequestDocument.objects.get(pk=document.pk).file.name == sealed.file.name
    )
    assert rotate_encrypted_fields()["disbursements.RequestDocument files"].rows == 0


def test_identity_tokens_are_under_the_childs_key_not_the_field_keys(world: World) -> None:
    beneficiary_identity_set(beneficiary=world.mv1, actor=world.trustee, legal_name="Invented X")
    token = BeneficiaryIdentity.objects.get(beneficiary=world.mv1).token
    ring = crypto.keyring_from_settings()
    assert crypto.token_key_id(token) not in ring.key_ids
    with pytest.raises(DecryptionError):
        crypto.decrypt_text(token, context=f"beneficiary-identity:{world.mv1.pk}")
