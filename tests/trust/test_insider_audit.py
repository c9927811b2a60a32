"""The audit trail against an insider with database access (issue 22, attacks 3 to 5): each
attack is done, as the application's own database role or as a superuser who switches the
triggers off (``session_replication_role = replica``; on SQLite with the guards lifted), and
``verify_audit`` (and the standalone verifier where it applies) must name it.

- 3: checkpoints deleted, cut into or rolled back: the witness outside the database
  (trust/audit/witness.py) keeps every signed head; signing refuses a log that does not extend it.
- 4: the window no checkpoint covers is a minute; an event cannot change chains; every column a
  page filters on is checked by ``--deep``; a checkpoint's unsigned frontier is checked before use.
- 5: consistency proofs read the events, or say that they did not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from tests.conftest import witness_location
from tests.factories import TrustFactory, person
from tests.trust.test_audit import event, insider, record, sql
from tests.trust.test_audit_bundle import export, key, tool
from trust.audit.checkpoints import (
    AuditCheckpointRefused,
    audit_checkpoint,
    audit_checkpoint_if_grown,
)
from trust.audit.events import AuditSpec, audit_record
from trust.audit.merkle import frontier_root
from trust.audit.sealing import audit_seal_pending
from trust.audit.verify import audit_verify
from trust.audit.witness import checkpoint_json, witnessed_heads
from trust.db import sqlite_sealing
from trust.models import AuditChain, AuditCheckpoint, AuditEvent
from trust.tasks import audit_checkpoint_task

pytestmark = pytest.mark.django_db(transaction=True)

APP_ROLE = "trust_insider_app"


@pytest.fixture(autouse=True)
def _fresh_alerts() -> None:
    cache.clear()  # a refusal is alerted once an hour per reason: each test sees its own


@pytest.fixture
def log() -> dict[str, int]:
    """Two trusts and the global chain, three witnessed checkpoints (sizes 9, 11 and 13), and a
    trustee who receives alerts."""
    a, b = TrustFactory(), TrustFactory()
    person("trustee-alerts", "trustee", a, email="trustee@example.invalid")
    record(a.pk, 3)
    record(b.pk, 2)
    record(None, 1)
    sizes = []
    for trust_id in (a.pk, b.pk, a.pk):
        sizes.append(audit_checkpoint().size)
        record(trust_id, 1 if trust_id == b.pk else 2)
    mail.outbox.clear()
    return {"a": a.pk, "b": b.pk, "sizes": sizes}


def problems(*, deep: bool = False) -> list[str]:
    return [str(p) for p in audit_verify(deep=deep).problems]


def checkpoint_of(size: int) -> AuditCheckpoint:
    return AuditCheckpoint.objects.get(size=size)


def rechain(key: str) -> None:
    """Recompute a chain's seq, hashes and head from its events in log order (the insider's way
    of hiding an edit inside the chains)."""
    chain = AuditChain.objects.get(key=key)
    previous, seq = bytes(32), 0
    for row in AuditEvent.objects.filter(chain=chain).order_by("sealed"):
        seq += 1
        previous = hashlib.sha256(previous + bytes(row.data)).digest()
        sql(
            "UPDATE trust_audit_event SET seq = %s, hash = %s WHERE id = %s",
            [seq, previous, row.pk],
        )
    sql(
        "UPDATE trust_audit_chain SET length = %s, head = %s WHERE id = %s",
        [seq, previous, chain.pk],
    )


def rewrite(trust_id: int) -> None:
    """Change the reason of every test event of a trust and recompute its chain."""
    for row in AuditEvent.objects.filter(trust_id=trust_id, action="test.event"):
        data = bytes(row.data).replace(b'"reason":"testing"', b'"reason":"rewritten"')
        sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [data, row.pk])
    rechain(f"trust:{trust_id}")


def cut_after(size: int) -> None:
    """Delete the sealed events after log position ``size`` and put their chains' heads back."""
    keys = set(
        AuditEvent.objects.filter(sealed__gt=size).values_list("chain__key", flat=True).distinct()
    )
    sql("DELETE FROM trust_audit_event WHERE sealed > %s OR sealed IS NULL", [size])
    for key_ in keys:
        rechain(key_)


@contextlib.contextmanager
def as_app_role() -> Iterator[None]:
    """The application's own database role: no superuser, the triggers on. On PostgreSQL a role
    with the grants the application has (SELECT, INSERT, UPDATE, DELETE); SQLite has no roles:
    the application's own connection."""
    if connection.vendor != "postgresql":
        yield
        return
    sql(
        "DO $$ BEGIN CREATE ROLE " + APP_ROLE + " NOLOGIN NOSUPERUSER;"
        " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    sql(f"SET ROLE {APP_ROLE}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False,)
    try:
        yield
    finally:
        sql("RESET ROLE")


def verify_command(*args: str) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


# --- the witness --------------------------------------------------------------------------------


def test_each_signed_head_is_witnessed_once_in_a_read_only_file(log: dict[str, Any]) -> None:
    heads = witnessed_heads()
    assert [h.size for h in heads] == log["sizes"]
    for head in heads:
        path = Path(witness_location()) / head.name
        assert path.name == f"{head.size:015d}-{head.root.hex()}.json"
        assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert json.loads(path.read_text()) == checkpoint_json(checkpoint_of(head.size))
    again = audit_checkpoint()  # the same size signed again: the head kept is not replaced
    audit_checkpoint()
    assert again.size == log["sizes"][-1] + 2
    assert [h.size for h in witnessed_heads()] == [*log["sizes"], again.size]
    report = audit_verify()
    assert report.ok and report.witnessed == 4, report.problems
    code, out = verify_command()
    assert code == 0 and "Compared the checkpoints with 4 witnessed heads" in out


def test_a_witness_that_cannot_be_written_leaves_no_checkpoint(
    log: dict[str, Any], settings: Any
) -> None:
    blocked = Path(witness_location()) / "blocked"
    blocked.write_text("a file where the witness folder should be")
    storages = {**settings.STORAGES}
    storages["audit_witness"] = {
        **storages["audit_witness"],
        "OPTIONS": {**storages["audit_witness"]["OPTIONS"], "location": str(blocked)},
    }
    settings.STORAGES = storages
    before = AuditCheckpoint.objects.count()
    with pytest.raises(AuditCheckpointRefused, match="the witness store did not take the head"):
        audit_checkpoint()
    assert AuditCheckpoint.objects.count() == before
    assert "witness store did not take" in mail.outbox[0].body


def test_heads_are_mailed_to_the_auditors_once_per_window(tmp_path: Path) -> None:
    person("auditor-mail", "auditor", TrustFactory(), email="auditor@example.invalid")
    with override_settings(
        AUDIT_WITNESS=("storage", "email"),
        AUDIT_WITNESS_EMAILS=["kept-heads@example.invalid"],
        AUDIT_WITNESS_EMAIL_MINUTES=60 * 24 * 365 * 100,  # the next head falls in a new window...
    ):
        checkpoint = audit_checkpoint()
        assert sorted(m.to[0] for m in mail.outbox) == [
            "auditor@example.invalid",
            "kept-heads@example.invalid",
        ]
        record(None, 1)
        audit_checkpoint()  # the next, in the same window of a year: not mailed
    assert len(mail.outbox) == 2
    message = mail.outbox[0]
    assert f"{checkpoint.size} events" in message.subject
    name, content, kind = message.attachments[0]
    assert (name, kind) == (f"checkpoint-{checkpoint.size}.json", "application/json")
    assert json.loads(content) == checkpoint_json(checkpoint)
    (tmp_path / "mailed.json").write_text(content)
    bundle = export(tmp_path)
    args = ["consistency", str(bundle), "--kept", str(tmp_path / "mailed.json")]
    assert tool.main([*args, "--trusted-key", key()[0]]) == 0


# --- attack 3: checkpoints deleted, cut into, rolled back ---------------------------------------


def test_deleting_every_checkpoint_after_a_rewrite_is_reported_and_not_signed(
    log: dict[str, Any],
) -> None:
    with insider():
        rewrite(log["b"])
        sql("DELETE FROM trust_audit_checkpoint")
    found = problems()
    assert len(found) == 3, found
    for size, line in zip(log["sizes"], found, strict=True):
        assert line.startswith(f"witnessed head of size {size} (")
        assert "is missing from the database (its checkpoint was deleted)" in line
        assert f"the log's first {size} events do not give its root: they were changed" in line
    code, out = verify_command()
    assert code == 1 and "0 checkpoints" in out
    assert f"FIRST PROBLEM witnessed head of size {log['sizes'][0]} (" in out

    last = log["sizes"][-1]
    with pytest.raises(
        AuditCheckpointRefused, match=rf"witnessed head of size {last} .* is not in"
    ):
        audit_checkpoint()  # the real key does not sign the rewritten log
    assert not AuditCheckpoint.objects.exists()
    assert audit_checkpoint_task.delay().get()["refused"].startswith("the witnessed head")
    [alert] = mail.outbox  # alerted once, however often the schedule tries
    assert "REFUSED" in alert.subject and f"size {last}" in alert.body
    assert alert.to == ["trustee@example.invalid"]
    assert AuditEvent.objects.filter(action="audit.checkpoint_refused").count() == 1
    with pytest.raises(CommandError, match="REFUSED"):
        call_command("audit_checkpoint", stdout=StringIO())


def test_cutting_into_a_signed_range_after_deleting_the_checkpoints_above_is_reported(
    log: dict[str, Any],
) -> None:
    first, second, third = log["sizes"]
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE size > %s", [first])
        cut_after(first + 1)  # into the range the deleted checkpoint of 11 signed
    assert AuditCheckpoint.objects.get().size == first
    found = problems()
    assert found == [
        f"witnessed head of size {size} ({head.name}): is missing from the database (its"
        f" checkpoint was deleted); the log has only {first + 1} sealed events: it was cut"
        for size, head in zip((second, third), witnessed_heads()[1:], strict=True)
    ]
    record(log["a"], 5)  # the log grows again past the witnessed sizes...
    with pytest.raises(AuditCheckpointRefused, match=rf"size {third} .* is not in the database"):
        audit_checkpoint()  # ...and is still refused


def test_signing_is_refused_after_a_rollback_of_checkpoints(log: dict[str, Any]) -> None:
    """The database's checkpoints rolled back (the latest deleted): the events are intact, the
    next head would even be consistent, but the witness shows what was lost."""
    last = checkpoint_of(log["sizes"][-1])
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE id = %s", [last.pk])
    with pytest.raises(AuditCheckpointRefused) as refused:
        audit_checkpoint()
    assert f"the witnessed head of size {last.size}" in str(refused.value)
    assert "checkpoints were deleted or the database was rolled back" in str(refused.value)
    assert "rolled back" in mail.outbox[0].body
    assert problems() == [
        f"witnessed head of size {last.size} ({witnessed_heads()[-1].name}): is missing from the"
        " database (its checkpoint was deleted); the log's events still give its root"
    ]


def test_a_deleted_checkpoint_is_restored_from_the_witness_only_while_the_events_give_it(
    log: dict[str, Any],
) -> None:
    """The operator's way out when a checkpoint row is gone but the events are intact (a commit
    that failed after its head was witnessed, or a deleted row): put the witnessed head back."""
    last = checkpoint_of(log["sizes"][-1])
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE id = %s", [last.pk])
    out = StringIO()
    call_command("audit_checkpoint", "--restore-witnessed", stdout=out)
    assert f"Restored 1 witnessed head(s) to the database: sizes {last.size}." in out.getvalue()
    restored = AuditCheckpoint.objects.get(size=last.size)
    assert bytes(restored.signature) == bytes(last.signature)
    assert audit_verify().ok
    assert AuditEvent.objects.filter(action="audit.checkpoint_restored").count() == 1

    second = checkpoint_of(log["sizes"][1])
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE size >= %s", [second.size])
        rewrite(log["a"])
    with pytest.raises(CommandError, match="do not give the root of the witnessed head"):
        call_command("audit_checkpoint", "--restore-witnessed", stdout=StringIO())
    assert not AuditCheckpoint.objects.filter(size__gte=second.size).exists()


def test_a_rolled_back_log_signed_again_with_the_key_is_reported_as_replaced(
    log: dict[str, Any],
) -> None:
    """The insider rolls the log back to the second checkpoint, lets new events come, and
    (holding the key) signs a head of the third one's size again: the database is self-consistent, the witness is not."""
    _, second, third = log["sizes"]
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE size > %s", [second])
        cut_after(second)
    record(log["b"], third - second)
    with override_settings(AUDIT_WITNESS=()):
        forged = audit_checkpoint()
    assert forged.size == third
    found = problems()
    assert len(found) == 1, found
    assert found[0].startswith(f"witnessed head of size {third} (")
    assert f"the database's checkpoint #{forged.pk} of this size has root" in found[0]
    assert found[0].endswith("the checkpoints were replaced")
    record(log["b"], 1)
    with pytest.raises(AuditCheckpointRefused, match="the checkpoints were replaced"):
        audit_checkpoint()


def test_emptying_the_audit_tables_is_reported_by_the_witness(log: dict[str, Any]) -> None:
    """Every row of the trail gone (TRUNCATE is refused by statement triggers on PostgreSQL,
    trust/db.py; a superuser with the triggers off can still empty the tables)."""
    with insider():
        for table in ("trust_audit_event", "trust_audit_checkpoint", "trust_audit_chain"):
            sql(f"DELETE FROM {table}")
    found = problems()
    assert [line.split(" (")[0] for line in found] == [
        f"witnessed head of size {size}" for size in log["sizes"]
    ]
    assert all(line.endswith("the log has only 0 sealed events: it was cut") for line in found)
    with transaction.atomic():
        audit_record(action="after.truncate", actor=None)
    with pytest.raises(AuditCheckpointRefused):
        audit_checkpoint()


def test_the_bundle_is_checked_against_the_witness_folder(
    log: dict[str, Any], tmp_path: Path
) -> None:
    witness = witness_location()
    honest = export(tmp_path, "honest")
    args = ["--kept", witness, "--trusted-key", key()[0]]
    assert tool.main(["consistency", str(honest), *args]) == 0
    with insider():
        rewrite(log["a"])
        sql("DELETE FROM trust_audit_checkpoint")
    with override_settings(AUDIT_WITNESS=()):
        audit_checkpoint()  # re-signed by an insider holding the key
    rewritten = export(tmp_path, "rewritten")
    assert tool.verify_bundle(rewritten, key()) == []  # self-consistent...
    assert tool.main(["consistency", str(rewritten), *args]) == 1  # ...but not what was witnessed


# --- attack 4: the window, chains, columns, the frontier ----------------------------------------


def test_the_schedule_signs_every_minute_when_new_events_exist() -> None:
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if "audit" in e["task"]]
    signing = [e for e in entries if e["task"] == "trust.tasks.audit_checkpoint_task"]
    assert len(signing) == 1
    schedule = signing[0]["schedule"]
    assert isinstance(schedule, crontab)
    assert schedule.minute == set(range(60)) and schedule.hour == set(range(24))
    assert "audit-checkpoint-hourly" not in settings.CELERY_BEAT_SCHEDULE

    trust = TrustFactory()
    record(trust.pk, 2)
    first = audit_checkpoint_task.delay().get()
    assert first["size"] == AuditEvent.objects.count()  # sealed, then signed
    assert audit_checkpoint_task.delay().get() == {"checkpoint": None}  # nothing new
    assert audit_checkpoint_if_grown() is None
    record(None, 1)
    assert audit_checkpoint_task.delay().get()["size"] == first["size"] + 1
    assert AuditCheckpoint.objects.count() == 2


def test_events_rewritten_after_the_minute_checkpoint_are_reported(log: dict[str, Any]) -> None:
    """What was recorded a minute ago is signed: rewriting it with the chain heads fixed up no
    longer passes."""
    audit_checkpoint_task.delay().get()
    newest = AuditEvent.objects.order_by("-sealed").first()
    with insider():
        rewrite(newest.trust_id)
    found = problems()
    assert found and "do not give its signed root: they were changed" in found[0]


def test_an_event_moved_to_another_chain_is_reported_by_name(
    log: dict[str, Any], tmp_path: Path
) -> None:
    moved = event(log["a"], 2)  # signed by the first checkpoint: its leaf does not change
    target = AuditChain.objects.get(key=f"trust:{log['b']}")
    with insider():
        sql(
            "UPDATE trust_audit_event SET chain_id = %s, trust_id = %s WHERE id = %s",
            [target.pk, log["b"], moved.pk],
        )
        rechain(f"trust:{log['a']}")
        rechain(f"trust:{log['b']}")
    moved.refresh_from_db()
    found = problems()
    expected = (
        f"event #{moved.pk} (trust:{log['b']}, seq {moved.seq}): its bytes say it belongs to"
        f" chain trust:{log['a']}: it was moved to another chain"
    )
    assert found == [expected]
    assert tool.verify_bundle(export(tmp_path), key()) == [expected]


def test_an_event_sealed_into_another_chain_by_the_app_role_is_reported(
    log: dict[str, Any],
) -> None:
    """The application's role may insert events and seal them (the sealer's flag is a session
    setting): it seals a new event of trust a into trust b's chain, with a correct hash."""
    audit_seal_pending()
    with transaction.atomic():
        audit_record(action="test.event", actor=None, trust_id=log["a"], reason="slipped")
    slipped = AuditEvent.objects.filter(hash__isnull=True).get()
    chain = AuditChain.objects.get(key=f"trust:{log['b']}")
    position = AuditEvent.objects.filter(sealed__isnull=False).count() + 1
    seal = hashlib.sha256(bytes(chain.head) + bytes(slipped.data)).digest()
    with as_app_role(), transaction.atomic():
        if connection.vendor == "postgresql":
            sql("SET LOCAL audit.sealing = 'on'")
        with sqlite_sealing() if connection.vendor == "sqlite" else contextlib.nullcontext():
            sql(
                "UPDATE trust_audit_event SET chain_id = %s, seq = %s, hash = %s, sealed = %s"
                " WHERE id = %s",
                [chain.pk, chain.length + 1, seal, position, slipped.pk],
            )
        sql(
            "UPDATE trust_audit_chain SET length = length + 1, head = %s WHERE id = %s",
            [seal, chain.pk],
        )
    found = problems()
    assert found == [
        f"event #{slipped.pk} (trust:{log['b']}, seq {chain.length + 1}): its bytes say it"
        f" belongs to chain trust:{log['a']}: it was moved to another chain"
    ]


def test_a_changed_time_is_reported_by_deep(log: dict[str, Any]) -> None:
    """``at`` (the auditor's date filter) moved to another year: the bytes still say when."""
    target = event(log["b"], 1)
    with insider():
        sql(
            "UPDATE trust_audit_event SET at = %s WHERE id = %s",
            [connection.ops.adapt_datetimefield_value(target.at - timedelta(days=400)), target.pk],
        )
    assert problems() == []  # the hashed bytes are intact...
    found = problems(deep=True)
    assert len(found) == 1 and found[0].startswith(
        f"event #{target.pk}: its columns do not say what its bytes say: at '"
    )
    code, out = verify_command("--deep")
    assert code == 1 and f"FIRST PROBLEM event #{target.pk}: its columns" in out


@pytest.mark.parametrize(
    ("column", "value"),
    [("trust_id", None), ("actor_id", 999), ("action", "trust.created"), ("object_id", "x")],
)
def test_every_filtered_column_is_checked_by_deep(
    log: dict[str, Any], column: str, value: Any
) -> None:
    target = event(log["a"], 1)
    with insider():
        sql(f"UPDATE trust_audit_event SET {column} = %s WHERE id = %s", [value, target.pk])
    [found] = problems(deep=True)
    assert found.startswith(
        f"event #{target.pk}: its columns do not say what its bytes say: {column}"
    )


def test_an_event_inserted_with_a_false_time_by_the_app_role_is_reported_by_deep(
    log: dict[str, Any],
) -> None:
    """The application's role inserts an event whose ``at`` column is a year before what its
    bytes say (an auditor filtering by date would not see it there)."""
    now = timezone.now()
    spec = AuditSpec(action="test.backdated", trust_id=log["a"], object_type="thing")
    with as_app_role(), transaction.atomic():
        sql(
            "INSERT INTO trust_audit_event (at, trust_id, actor_id, action, object_type,"
            " object_id, data) VALUES (%s, %s, NULL, %s, %s, '', %s)",
            [
                connection.ops.adapt_datetimefield_value(now - timedelta(days=365)),
                log["a"],
                spec.action,
                spec.object_type,
                spec.data(now),
            ],
        )
    audit_checkpoint()
    assert problems() == []
    [found] = problems(deep=True)
    backdated = AuditEvent.objects.get(action="test.backdated")
    assert found.startswith(f"event #{backdated.pk}: its columns do not say what its bytes say: at")


def test_an_edited_frontier_is_refused_and_reported(log: dict[str, Any]) -> None:
    """The frontier is stored beside the signed head, unsigned: edited, the next checkpoint would
    grow a wrong tree and sign its root with the real key."""
    last = checkpoint_of(log["sizes"][-1])
    frontier = [[h, node] for h, node in last.frontier]
    frontier[-1][1] = hashlib.sha256(b"forged").hexdigest()
    assert frontier_root([(h, bytes.fromhex(n)) for h, n in frontier]) != bytes(last.root)
    with insider():
        sql(
            "UPDATE trust_audit_checkpoint SET frontier = %s WHERE id = %s",
            [json.dumps(frontier), last.pk],
        )
    expected = (
        f"checkpoint #{last.pk} (size {last.size}): its frontier does not give its signed size"
        " and root: it was edited (the next checkpoint would sign a wrong root)"
    )
    assert problems() == [expected]
    with pytest.raises(AuditCheckpointRefused, match="its frontier does not give"):
        audit_checkpoint()
    assert AuditCheckpoint.objects.order_by("-id").first().pk == last.pk


def test_the_audit_page_shows_the_time_since_the_last_checkpoint(
    log: dict[str, Any], monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    user = person("auditor-page", "auditor", TrustFactory(), is_staff=True)
    client = Client()
    client.force_login(user)
    html = client.get("/audit/").content.decode()
    assert 'class="checkpoint-age"' in html and " ago</strong>" in html
    assert "not covered by a checkpoint yet" in html
    last = log["sizes"][-1]
    assert f"latest head kept outside the database: size <strong>{last}</strong>" in html
    assert "No checkpoint for more than five minutes" not in html

    later = timezone.now() + timedelta(minutes=20)
    monkeypatch.setattr(
        "trust.audit.selectors.timezone", SimpleNamespace(now=lambda: later), raising=True
    )
    html = client.get("/audit/").content.decode()
    assert "No checkpoint for more than five minutes while events wait" in html
    monkeypatch.undo()
    with insider():
        sql("DELETE FROM trust_audit_checkpoint WHERE size = %s", [last])
    html = client.get("/audit/").content.decode()
    assert "checkpoints were deleted or the database rolled back" in html


# --- attack 5: consistency proofs read the events -----------------------------------------------


def test_a_consistency_proof_between_heads_of_one_size_reads_the_events(
    log: dict[str, Any], tmp_path: Path
) -> None:
    size = log["sizes"][-1]
    out, err = StringIO(), StringIO()
    call_command("audit_proof", "consistency", "--old", str(size), stdout=out, stderr=err)
    assert f"Checked the events: the database's first {size} events" in err.getvalue()
    proof = tmp_path / "proof.json"
    proof.write_text(out.getvalue())
    bundle = export(tmp_path, "honest")
    assert tool.main(["proof", str(proof), "--trusted-key", key()[0]]) == 0
    assert tool.main(["proof", str(proof), "--bundle", str(bundle), "--trusted-key", key()[0]]) == 0
    (tmp_path / "kept.json").write_text(json.dumps(checkpoint_json(checkpoint_of(size))))

    target = event(log["b"], 1)
    with insider():
        data = bytes(target.data).replace(b'"reason":"testing"', b'"reason":"changed!"')
        sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [data, target.pk])
    with pytest.raises(CommandError, match="do not give the signed roots of the checkpoints of"):
        call_command("audit_proof", "consistency", "--old", str(size), stdout=StringIO())

    changed = export(tmp_path, "changed")
    kept = ["--kept", str(tmp_path / "kept.json"), "--trusted-key", key()[0]]
    assert tool.main(["consistency", str(changed), *kept]) == 1
    assert (
        tool.main(["proof", str(proof), "--bundle", str(changed), "--trusted-key", key()[0]]) == 1
    )


def test_the_verifier_says_when_a_proof_did_not_read_the_events(
    log: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = StringIO()
    call_command(
        "audit_proof", "consistency", "--old", str(log["sizes"][0]), stdout=out, stderr=StringIO()
    )
    proof = tmp_path / "proof.json"
    proof.write_text(out.getvalue())
    capsys.readouterr()
    assert tool.main(["proof", str(proof), "--trusted-key", key()[0]]) == 0
    assert "the events were NOT checked" in capsys.readouterr().out
    bundle = export(tmp_path)
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps(checkpoint_json(checkpoint_of(log["sizes"][-1]))))
    assert (
        tool.main(["consistency", str(bundle), "--kept", str(kept), "--trusted-key", key()[0]]) == 0
    )
    said = capsys.readouterr().out
    assert f"Checked the events: the bundle's first {log['sizes'][-1]} events give the root" in said
