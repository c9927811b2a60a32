"""The audit bundle and the standalone verifier (tools/verify_bundle.py): it agrees with
``verify_audit`` on good and tampered logs, proves inclusion and consistency, and catches a
rewrite against a checkpoint kept from before it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.trust.test_audit import event, insider, log, record, sql  # noqa: F401 (fixture)
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.keys import public_key_bytes
from trust.audit.verify import audit_verify
from trust.models import AuditChain, AuditCheckpoint, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_bundle.py"
_spec = importlib.util.spec_from_file_location("verify_bundle", TOOL)
assert _spec and _spec.loader
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def export(tmp_path: Path, name: str = "bundle") -> Path:
    out = tmp_path / name
    call_command("export_audit", "--out", str(out), stdout=StringIO())
    return out


def key() -> list[str]:
    return [public_key_bytes().hex()]


# --- tampering, as in test_audit, judged by both verifiers -----------------------------------


def change_a_byte(ids: dict[str, int]) -> None:
    target = event(ids["a"], 2)
    data = bytes(target.data).replace(b'"n":1', b'"n":7')
    sql("UPDATE trust_audit_event SET data = %s WHERE id = %s", [data, target.pk])


def delete_one(ids: dict[str, int]) -> None:
    target = event(ids["a"], 3)
    sql("DELETE FROM trust_audit_event WHERE id = %s", [target.pk])


def recompute_a_chain(ids: dict[str, int]) -> None:
    chain = AuditChain.objects.get(key=f"trust:{ids['b']}")
    previous = bytes(32)
    for row in AuditEvent.objects.filter(chain=chain).order_by("seq"):
        data = bytes(row.data).replace(b'"reason":"testing"', b'"reason":"rewritten"')
        previous = hashlib.sha256(previous + data).digest()
        sql(
            "UPDATE trust_audit_event SET data = %s, hash = %s WHERE id = %s",
            [data, previous, row.pk],
        )
    sql("UPDATE trust_audit_chain SET head = %s WHERE id = %s", [previous, chain.pk])


def cut_the_tail(ids: dict[str, int]) -> None:
    target = AuditEvent.objects.filter(sealed__isnull=False).order_by("-sealed").first().pk
    sql("DELETE FROM trust_audit_event WHERE id = %s", [target])


def forge_a_checkpoint(ids: dict[str, int]) -> None:
    sql("UPDATE trust_audit_checkpoint SET root = %s", [bytes(32)])


@pytest.mark.parametrize(
    "tamper",
    [None, change_a_byte, delete_one, recompute_a_chain, cut_the_tail, forge_a_checkpoint],
    ids=lambda t: getattr(t, "__name__", "untouched"),
)
def test_the_standalone_verifier_agrees_with_verify_audit(
    log: dict[str, int],  # noqa: F811
    tmp_path: Path,
    tamper: Callable[[dict[str, int]], None] | None,
) -> None:
    audit_checkpoint()
    if tamper is not None:
        with insider():
            tamper(log)
    app = audit_verify()
    problems = tool.verify_bundle(export(tmp_path), key())
    assert app.ok == (not problems), (app.problems, problems)
    assert app.ok == (tamper is None)
    if tamper is not None:
        # The same first problem, named the same way.
        assert problems[0].startswith(f"{app.first.where}: "), (problems[0], app.first)


def test_the_verifier_runs_alone_and_checks_the_manifest(
    log: dict[str, int],  # noqa: F811
    tmp_path: Path,
) -> None:
    bundle = export(tmp_path)
    assert (bundle / "verify_bundle.py").exists() and (bundle / "README.md").exists()
    run = subprocess.run(
        [
            sys.executable,
            str(bundle / "verify_bundle.py"),
            "verify",
            str(bundle),
            "--trusted-key",
            key()[0],
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: the bundle verifies" in run.stdout
    lines = (bundle / "events.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"seq":1', '"seq":2')
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")
    problems = tool.verify_bundle(bundle, key())
    assert problems[0].startswith("file events.jsonl")
    # A key the auditor does not trust: every checkpoint is refused.
    assert any("not trusted" in p for p in tool.verify_bundle(bundle, ["00" * 32]))


# --- proofs ----------------------------------------------------------------------------------


def test_inclusion_of_every_event_is_proved_by_the_tool(
    log: dict[str, int],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit_checkpoint()
    bundle = export(tmp_path)
    for event_id in AuditEvent.objects.filter(sealed__isnull=False).values_list("pk", flat=True):
        args = ["inclusion", str(bundle), "--event", str(event_id), "--trusted-key", key()[0]]
        assert tool.main(args) == 0, capsys.readouterr().out


def test_app_proofs_verify_in_the_tool(log: dict[str, int], tmp_path: Path) -> None:  # noqa: F811
    first = AuditCheckpoint.objects.get()
    record(log["b"], 5)
    audit_checkpoint()
    some_event = AuditEvent.objects.get(sealed=4).pk
    for kind, extra in (
        ("inclusion", ["--event", str(some_event)]),
        ("consistency", ["--old", str(first.size)]),
    ):
        out = StringIO()
        call_command("audit_proof", kind, *extra, stdout=out)
        path = tmp_path / f"{kind}.json"
        path.write_text(out.getvalue())
        assert tool.main(["proof", str(path), "--trusted-key", key()[0]]) == 0
        proof = json.loads(out.getvalue())
        proof["path"] = proof["path"][::-1] if len(proof["path"]) > 1 else [bytes(32).hex()]
        path.write_text(json.dumps(proof))
        assert tool.main(["proof", str(path), "--trusted-key", key()[0]]) == 1


def test_a_rewrite_is_proved_against_a_checkpoint_the_auditor_kept(
    log: dict[str, int],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The auditor keeps the first checkpoint. Later the insider rewrites history, rebuilds every
    chain and leaf, and even has the log re-signed (as if they held the key): the new log is
    signed, self-consistent... and not an extension of the kept checkpoint."""
    kept_bundle = export(tmp_path, "before")
    kept = json.loads((kept_bundle / "checkpoints.json").read_text())[-1]
    (tmp_path / "kept.json").write_text(json.dumps(kept))
    record(log["a"], 2)
    audit_checkpoint()
    honest = export(tmp_path, "honest")
    assert (
        tool.main(
            [
                "consistency",
                str(honest),
                "--kept",
                str(tmp_path / "kept.json"),
                "--trusted-key",
                key()[0],
            ]
        )
        == 0
    )

    with insider():
        recompute_a_chain(log)
        sql("DELETE FROM trust_audit_checkpoint")
    # The application now refuses to sign it (the witness holds the earlier heads:
    # tests/trust/test_insider_audit.py); an insider who holds the key signs without it.
    with override_settings(AUDIT_WITNESS=()):
        audit_checkpoint()  # the insider re-signs a fresh log over the rewritten events
    rewritten = export(tmp_path, "rewritten")
    assert tool.verify_bundle(rewritten, key()) == []  # self-consistent...
    assert (
        tool.main(
            [
                "consistency",
                str(rewritten),
                "--kept",
                str(tmp_path / "kept.json"),
                "--trusted-key",
                key()[0],
            ]
        )
        == 1
    )  # ...but not what the auditor saw before
