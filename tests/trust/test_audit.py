"""The audit trail: events written in their change's transaction, sealed into per-trust hash
chains, signed checkpoints, and verification that catches every kind of tampering, on SQLite and
(in the PostgreSQL pass) on PostgreSQL with the triggers switched off the way an insider would."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.test import RequestFactory

from tests.factories import TrustFactory, appoint
from tests.trust.test_receipts_concurrency import run_together
from trust.audit.canonical import canonical
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.events import audit_record
from trust.audit.keys import public_key_bytes, verify_signature
from trust.audit.sealing import audit_seal_pending
from trust.audit.signin import username_digest
from trust.audit.verify import audit_verify
from trust.db import ledger_guard_suspended
from trust.models import AuditChain, AuditCheckpoint, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def record(trust_id: int | None, n: int, action: str = "test.event") -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(
                action=action,
                actor=None,
                trust_id=trust_id,
                object_type="thing",
                object_id=i,
                changes={"n": i},
                reason="testing",
            )


@contextlib.contextmanager
def insider() -> Iterator[None]:
    """Someone with full access who switches the guards off (a superuser on PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    else:
        with ledger_guard_suspended():
            yield


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def problems() -> list[str]:
    return [str(p) for p in audit_verify().problems]


@pytest.fixture
def log() -> dict[str, int]:
    """Two trusts and the global chain, a checkpoint, then a few events after it."""
    a, b = TrustFactory(), TrustFactory()
    record(a.pk, 4)
    record(b.pk, 3)
    record(None, 2)
    audit_checkpoint()
    record(a.pk, 2)
    return {"a": a.pk, "b": b.pk}


def event(trust_id: int | None, n: int) -> AuditEvent:
    """The ``n``-th test event of a chain (a trust's chain starts with its creation)."""
    events = AuditEvent.objects.filter(action="test.event").order_by("id")
    if trust_id:
        return events.filter(trust_id=trust_id)[n - 1]
    return events.filter(trust_id__isnull=True)[n - 1]


# --- what is written ------------------------------------------------------------------------


def test_events_are_chained_per_trust_and_verify(log: dict[str, int]) -> None:
    report = audit_verify()
    assert report.ok, report.problems
    # Two events written after the checkpoint wait for the sealer.
    assert (report.events, report.leaves, report.pending, report.checkpoints) == (13, 11, 2, 1)
    assert event(log["a"], 6).hash is None
    assert audit_seal_pending() == 2 and audit_seal_pending() == 0
    created = AuditEvent.objects.get(chain__key=f"trust:{log['a']}", seq=1)
    assert json.loads(bytes(created.data))["action"] == "trust.created"
    assert bytes(created.hash) == hashlib.sha256(bytes(32) + bytes(created.data)).digest()
    first = event(log["a"], 1)
    assert first.seq == 2
    assert bytes(first.hash) == hashlib.sha256(bytes(created.hash) + bytes(first.data)).digest()
    second = event(log["a"], 2)
    assert bytes(second.hash) == hashlib.sha256(bytes(first.hash) + bytes(second.data)).digest()
    said = json.loads(bytes(first.data))
    assert said["action"] == "test.event" and said["trust"] == log["a"]
    assert said["changes"] == {"n": 0} and said["reason"] == "testing"
    assert bytes(first.data) == canonical(said)  # canonical: re-serialising gives the same bytes
    chain = AuditChain.objects.get(key=f"trust:{log['a']}")
    assert chain.length == 7 and bytes(chain.head) == bytes(event(log["a"], 6).hash)
    assert audit_verify().ok


def test_an_event_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(action="x", actor=None)


def test_an_event_rolls_back_with_its_change() -> None:
    trust = TrustFactory()
    before = AuditEvent.objects.count()
    with contextlib.suppress(ZeroDivisionError), transaction.atomic():
        audit_record(action="x", actor=None, trust_id=trust.pk)
        1 / 0  # noqa: B018 (the change fails)
    assert AuditEvent.objects.count() == before
    assert not AuditEvent.objects.filter(action="x").exists()


def test_the_checkpoint_signs_the_tree_head(log: dict[str, int]) -> None:
    checkpoint = AuditCheckpoint.objects.get()
    assert checkpoint.size == 11
    assert verify_signature(
        public_key_bytes(), bytes(checkpoint.signature), bytes(checkpoint.statement)
    )
    said = json.loads(bytes(checkpoint.statement))
    assert said["size"] == 11 and said["root"] == bytes(checkpoint.root).hex()
    later = audit_checkpoint()
    assert later.size == 13 and AuditEvent.objects.filter(sealed__isnull=False).count() == 13
    assert audit_verify().ok


def test_events_leaves_and_checkpoints_refuse_change(log: dict[str, int]) -> None:
    errors = (IntegrityError, InternalError)
    for statement in (
        "UPDATE trust_audit_event SET action = 'x'",
        "DELETE FROM trust_audit_event",
        # sealing without being the sealer
        "UPDATE trust_audit_event SET seq = 1, hash = data, sealed = 999 WHERE hash IS NULL",
        "UPDATE trust_audit_checkpoint SET size = 0",
        "DELETE FROM trust_audit_checkpoint",
    ):
        with pytest.raises(errors), transaction.atomic():
            sql(statement)
    assert audit_verify().ok


def test_verify_audit_command(log: dict[str, int]) -> None:
    out = StringIO()
    call_command("verify_audit", "--deep", stdout=out)
    assert "OK: the audit trail verifies" in out.getvalue()
    with insider():
        sql("UPDATE trust_audit_event SET action = 'other' WHERE id = %s", [event(log["b"], 2).pk])
    err = StringIO()
    call_command("verify_audit", stdout=StringIO(), stderr=StringIO())  # bytes intact: passes
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit", "--deep", stdout=StringIO(), stderr=err)
    assert exit_.value.code == 1
    assert "columns do not say what its bytes say" in err.getvalue()


# --- tampering ---------------------------------------------------------------------------------


def test_one_changed_byte_is_found(log: dict[str, int]) -> None:
    target = event(log["a"], 2)
    data = bytearray(bytes(target.data))
    data[data.index(b'"n":1') + 4] = ord("7")
    with insider():
        sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [bytes(data), target.pk])
    found = problems()
    assert found[0].startswith(f"event #{target.pk} ")
    assert "hash does not match" in found[0]


def test_a_deleted_event_is_found(log: dict[str, int]) -> None:
    target = event(log["a"], 3)
    with insider():
        sql("DELETE FROM trust_audit_event WHERE id = %s", [target.pk])
    found = " | ".join(problems())
    assert "missing" in found


def test_two_reordered_events_are_found(log: dict[str, int]) -> None:
    one, two = event(log["b"], 1), event(log["b"], 2)
    with insider():
        sql("UPDATE trust_audit_event SET seq = -1 WHERE id = %s", [one.pk])
        sql("UPDATE trust_audit_event SET seq = %s WHERE id = %s", [one.seq, two.pk])
        sql("UPDATE trust_audit_event SET seq = %s WHERE id = %s", [two.seq, one.pk])
    assert any("out of order" in p or "hash does not match" in p for p in problems())


def test_an_inserted_event_is_found(log: dict[str, int]) -> None:
    """A forged event slipped in after seq 2 of trust a (the later ones renumbered)."""
    chain = AuditChain.objects.get(key=f"trust:{log['a']}")
    forged = canonical({"action": "forged", "v": 1})
    with insider():
        sql(
            "UPDATE trust_audit_event SET seq = seq + 1000 WHERE chain_id = %s AND seq > 2",
            [chain.pk],
        )
        sql(
            "UPDATE trust_audit_event SET seq = seq - 999 WHERE chain_id = %s AND seq > 1000",
            [chain.pk],
        )
        sql(
            "INSERT INTO trust_audit_event (chain_id, seq, at, action, object_type, object_id,"
            " data, hash, sealed) VALUES (%s, 3, %s, 'forged', '', '', %s, %s, 100000)",
            [chain.pk, event(log["a"], 1).at, forged, hashlib.sha256(forged).digest()],
        )
        sql("UPDATE trust_audit_chain SET length = length + 1 WHERE id = %s", [chain.pk])
    found = problems()
    assert found and "hash does not match" in " | ".join(found)


def test_a_truncated_tail_after_a_checkpoint_is_found(log: dict[str, int]) -> None:
    """The last two events of the signed log removed, and their chain's head put back."""
    audit_checkpoint()
    tail = list(AuditEvent.objects.filter(sealed__isnull=False).order_by("-sealed")[:2])
    assert {e.chain_id for e in tail} == {AuditChain.objects.get(key=f"trust:{log['a']}").pk}
    before = AuditEvent.objects.get(chain_id=tail[0].chain_id, seq=tail[-1].seq - 1)
    with insider():
        sql("DELETE FROM trust_audit_event WHERE id IN (%s, %s)", [tail[0].pk, tail[1].pk])
        sql(
            "UPDATE trust_audit_chain SET length = %s, head = %s WHERE id = %s",
            [before.seq, bytes(before.hash), before.chain_id],
        )
    found = problems()
    assert found == [
        f"checkpoint #{AuditCheckpoint.objects.last().pk} (size 13): the log has only"
        " 11 sealed events: it was cut short"
    ]


def test_a_recomputed_chain_is_caught_by_the_signed_checkpoint(log: dict[str, int]) -> None:
    """The insider edits an old event and recomputes the whole chain and its head: the chain
    verifies, the signed root does not."""
    chain = AuditChain.objects.get(key=f"trust:{log['b']}")
    rows = list(AuditEvent.objects.filter(chain=chain).order_by("seq"))
    previous = bytes(32)
    with insider():
        for row in rows:
            data = bytes(row.data)
            if row.seq == 2:
                data = data.replace(b'"reason":"testing"', b'"reason":"rewritten"')
            previous = hashlib.sha256(previous + data).digest()
            sql(
                "UPDATE trust_audit_event SET data = %s, hash = %s WHERE id = %s",
                [data, previous, row.pk],
            )
        sql("UPDATE trust_audit_chain SET head = %s WHERE id = %s", [previous, chain.pk])
    found = problems()
    assert len(found) == 1 and "do not give its signed root" in found[0]


def test_a_forged_checkpoint_is_found(log: dict[str, int]) -> None:
    checkpoint = AuditCheckpoint.objects.get()
    with insider():
        sql("UPDATE trust_audit_checkpoint SET root = %s WHERE id = %s", [bytes(32), checkpoint.pk])
    found = " | ".join(problems())
    assert "signed statement" in found and "signed root" in found


def test_a_checkpoint_by_an_untrusted_key_is_found(log: dict[str, int]) -> None:
    report = audit_verify(trusted_keys=[bytes(32)])
    assert "not trusted" in str(report.first)


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def test_writers_of_several_chains_in_any_order_never_deadlock() -> None:
    """Eight threads, each writing to two chains in opposite orders, many times: all commit,
    every chain is gapless, the log verifies."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite runs one writer at a time)")
    a, b = TrustFactory(), TrustFactory()

    def writer(n: int) -> int:
        first, second = (a.pk, b.pk) if n % 2 else (b.pk, a.pk)
        for i in range(20):
            with transaction.atomic():
                audit_record(action="race", actor=None, trust_id=first, changes={"w": n, "i": i})
                audit_record(action="race", actor=None, trust_id=None, changes={"w": n, "i": i})
                audit_record(action="race", actor=None, trust_id=second, changes={"w": n, "i": i})
        return n

    results = run_together([lambda n=n: writer(n) for n in range(8)])
    assert results == list(range(8)), results
    audit_seal_pending()
    for key in (f"trust:{a.pk}", f"trust:{b.pk}", "global"):
        seqs = sorted(AuditEvent.objects.filter(chain__key=key).values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)), key
        assert AuditEvent.objects.filter(chain__key=key, action="race").count() == 160
    audit_checkpoint()
    assert audit_verify().ok


# --- users, roles and sign-ins -----------------------------------------------------------------


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_users_roles_and_sign_ins_are_recorded(client, django_user_model) -> None:
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("audited", password="correct horse 7")
    user.groups.add(Group.objects.create(name="auditor"))
    # The request goes with the password: the sign-in lockout (django-axes) needs it.
    signing_in = RequestFactory().post("/login/")
    assert client.login(request=signing_in, username="audited", password="correct horse 7")
    assert not client.login(
        request=RequestFactory().post("/login/"), username="audited", password="wrong"
    )
    client.logout()
    assert actions()[-5:] == [
        "user.created",
        "user.roles_changed",
        "user.logged_in",
        "user.login_failed",
        "user.logged_out",
    ]
    failed = AuditEvent.objects.get(action="user.login_failed")
    # Not the text typed (people type passwords there): its keyed hash, the address, the form.
    assert json.loads(bytes(failed.data))["changes"] == {
        "username_hmac": username_digest("audited"),
        "address": "127.0.0.1",
        "form": "/login/",
    }
    assert b"audited" not in bytes(failed.data)
    for row in AuditEvent.objects.all():
        assert b"correct horse" not in bytes(row.data) and b"pbkdf2" not in bytes(row.data)
        assert b"wrong" not in bytes(row.data)
    roles = AuditEvent.objects.get(action="user.roles_changed")
    assert json.loads(bytes(roles.data))["changes"] == {"added": ["auditor"]}
    assert audit_verify().ok


# --- verification runs and the nightly task ----------------------------------------------------


def test_a_verification_run_records_progress_result_and_alerts(
    log: dict[str, int],
    django_user_model,
    django_capture_on_commit_callbacks,
) -> None:
    from django.core import mail

    from trust.audit.runs import audit_verification_run, audit_verification_start
    from trust.models import AuditVerification

    auditor = django_user_model.objects.create_user("auditor1", email="auditor1@example.invalid")
    appoint(auditor, TrustFactory(), "auditor")
    with django_capture_on_commit_callbacks(execute=True):
        run = audit_verification_start(actor=auditor)
    run.refresh_from_db()
    assert run.status == "done" and run.ok is True and run.percent == 100
    # Every event but the one that records this run's result.
    assert run.summary["events"] == AuditEvent.objects.count() - 1
    assert not mail.outbox

    with insider():
        sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [b"{}", event(log["a"], 1).pk])
    failed = audit_verification_run(operation_id="nightly-1")
    assert failed.ok is False and "hash does not match" in failed.problems[0]
    assert [m.to for m in mail.outbox] == [["auditor1@example.invalid"]]
    assert "FAILED" in mail.outbox[0].subject
    verified = AuditEvent.objects.filter(action="audit.verified").count()
    again = audit_verification_run(operation_id="nightly-1")  # delivered twice: verified once
    assert (
        again.pk == failed.pk
        and AuditEvent.objects.filter(action="audit.verified").count() == verified
    )
    assert AuditVerification.objects.count() == 2


def test_the_checkpoint_task_signs(log: dict[str, int]) -> None:
    from trust.tasks import audit_checkpoint_task

    result = audit_checkpoint_task.delay().get()
    assert result["size"] == AuditEvent.objects.count()


def test_a_posting_call_is_one_canonical_event_listing_the_entries_it_wrote() -> None:
    from datetime import date

    from moneyed import Money

    from trust.models import Account
    from trust.services.ledger import EntrySpec, Leg, entries_post
    from trust.services.people import beneficiary_create

    trust = TrustFactory()
    bank = trust.accounts.get(role=Account.Role.BANK)
    sub = beneficiary_create(trust=trust, pseudonym="MV-1").accounts.get()

    def spec(key: str) -> EntrySpec:
        return EntrySpec(
            date(2026, 1, 5),
            [Leg(bank, Money("1.00", "USD")), Leg(sub, Money("-1.00", "USD"))],
            key,
            memo="Receipt (test)",
            kind="receipt",
        )

    entries_post(trust=trust, actor=None, entries=[spec("k1")])
    entries_post(trust=trust, actor=None, entries=[spec("k1"), spec("k2"), spec("k3")])
    events = list(AuditEvent.objects.filter(action="entries.posted").order_by("id"))
    assert len(events) == 2
    said = [json.loads(bytes(e.data)) for e in events]
    assert [[x["key"] for x in s["changes"]["entries"]] for s in said] == [["k1"], ["k2", "k3"]]
    for e, s in zip(events, said, strict=True):
        assert bytes(e.data) == canonical(s)  # the joined fragments are canonical JSON
    assert said[1]["changes"]["entries"][0]["legs"] == [
        [bank.pk, 100, "USD"],
        [sub.pk, -100, "USD"],
    ]
    audit_checkpoint()
    assert audit_verify().ok


@pytest.mark.django_db(transaction=False)
def test_verification_inside_a_transaction_sees_its_uncommitted_events() -> None:
    """Called inside a transaction (a test, a caller's atomic block), verification reads on the
    caller's own connection: another one would not see the uncommitted events."""
    trust = TrustFactory()
    record(trust.pk, 3)
    audit_checkpoint()
    report = audit_verify()
    assert report.ok, report.problems
    assert report.leaves == AuditEvent.objects.filter(sealed__isnull=False).count() >= 4
