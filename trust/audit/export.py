"""The audit bundle: everything an auditor needs to verify the trail without the app or its
database (``tools/verify_bundle.py`` does it with the standard library and ``cryptography``).

Files (docs/audit.md describes each field):

- ``events.jsonl``: one event per line, in log order (the sealed events by their place in the
  log, then those not sealed yet): leaf (the place, from 0), chain, seq, id, data (the exact
  hashed bytes, as ASCII text) and hash;
- ``checkpoints.json``: every signed tree head: size, root, time, the signed statement, the
  signature and the public key that made it;
- ``chains.json``: each chain's head (length and hash);
- ``keys.json`` and ``public_key.pem``: the public keys this installation trusts;
- ``entries.jsonl``: every journal entry with its postings, one per line in id order: what the
  ``entries.posted`` events committed, for ``verify_bundle.py entries`` to compare (issue 22);
- ``manifest.json``: what was exported, when, and each file's SHA-256;
- ``README.md``: how to verify.

Proofs from the database are in ``trust.audit.proofs``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from trust.access import audits_everything
from trust.audit.entries import entries_for_export
from trust.audit.events import audit_record
from trust.audit.keys import key_fingerprint, public_key_bytes, trusted_public_keys
from trust.audit.models import AuditCheckpoint
from trust.audit.verify import stream_rows
from trust.audit.witness import checkpoint_json

__all__ = ["audit_bundle_download", "audit_export", "checkpoint_json", "trusted_keys_json"]

README = """# Audit bundle

This folder is an export of the restitution trust ledger's audit trail: every recorded event, the
order of the global log, and the signed tree heads (checkpoints).

Verify it with the standalone verifier (Python 3.11 and the `cryptography` package; it does not
need the application or its database):

    python verify_bundle.py verify . --trusted-key <public key, hex>

Take the trusted key from a source you trust (the application's audit page, a letter from the
trustee), not from this folder: `keys.json` is what the exporter says. Without `--trusted-key`
the verifier uses `keys.json` and says so.

Keep the latest checkpoint you verified (`checkpoints.json`, last entry), and the signed heads
the application mails you (its witness). A later bundle whose events do not give its own signed
root, or whose log is not consistent with a head you kept, proves the log was rewritten, cut or
rolled back (`--kept` takes a head, a list of heads, or a folder of them):

    python verify_bundle.py consistency . --kept my-checkpoint.json --trusted-key <hex>

Check the ledger against the trail: every journal entry (`entries.jsonl`) must be the one an
`entries.posted` event committed, and every entry an event names must be there:

    python verify_bundle.py entries .

(`verify` runs the same check when the bundle has `entries.jsonl`.)

Prove that one event is in the signed log:

    python verify_bundle.py inclusion . --event <event id> --trusted-key <hex>

Each event's `data` is the exact byte string that was hashed (canonical JSON, ASCII). Its `hash`
is SHA-256(previous hash in its chain || data), the first previous hash being 32 zero bytes. The
Merkle tree is RFC 9162's: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).
"""


def trusted_keys_json() -> dict[str, Any]:
    keys = trusted_public_keys()
    return {
        "log": settings.AUDIT_LOG_ID,
        "current": keys[0].hex(),
        "previous": [k.hex() for k in keys[1:]],
        "fingerprints": [key_fingerprint(k) for k in keys],
    }


def audit_export(out: Path) -> dict[str, Any]:
    """Write the bundle into ``out`` (created; must be empty if it exists). Returns the
    manifest. On PostgreSQL the events and the ledger's entries are read in one snapshot
    (REPEATABLE READ), so that an entry posted meanwhile is in both files or in neither."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _export(out)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _export(out)


def _export(out: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    chains = dict(stream_rows("SELECT id, key FROM trust_audit_chain"))
    count = 0
    with (out / "events.jsonl").open("w", encoding="ascii", newline="\n") as f:
        for sealed, event_id, chain_id, seq, data, stored in stream_rows(
            "SELECT sealed, id, chain_id, seq, data, hash FROM trust_audit_event"
            " ORDER BY sealed IS NULL, sealed, id"
        ):
            leaf = None if sealed is None else sealed - 1
            f.write(_line(leaf, event_id, chains.get(chain_id), seq, data, stored))
            count += 1
    checkpoints = [checkpoint_json(c) for c in AuditCheckpoint.objects.order_by("size", "id")]
    (out / "checkpoints.json").write_text(json.dumps(checkpoints, indent=1) + "\n")
    heads = {
        key: {"length": length, "head": bytes(head).hex()}
        for key, length, head in stream_rows("SELECT key, length, head FROM trust_audit_chain")
    }
    (out / "chains.json").write_text(json.dumps(heads, indent=1, sort_keys=True) + "\n")
    (out / "keys.json").write_text(json.dumps(trusted_keys_json(), indent=1) + "\n")
    pem = (
        Ed25519PublicKey.from_public_bytes(public_key_bytes())
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    (out / "public_key.pem").write_text(pem)
    (out / "README.md").write_text(README)
    entries = _write_entries(out / "entries.jsonl")
    manifest = {
        "log": settings.AUDIT_LOG_ID,
        "exported_at": timezone.now().isoformat(),
        "events": count,
        "checkpoints": len(checkpoints),
        "entries": entries,
        "files": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.iterdir())
            if p.is_file()
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _write_entries(path: Path) -> int:
    """``entries.jsonl``: every journal entry with its postings, one per line in id order
    (``trust.audit.entries.entries_for_export``), for ``verify_bundle.py entries``."""
    count = 0
    with path.open("w", encoding="ascii", newline="\n") as f:
        for entry in entries_for_export():
            f.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=True) + "\n")
            count += 1
    return count


def _line(
    leaf: int | None, event_id: int | None, chain: str | None, seq: int | None, data: Any, h: Any
) -> str:
    return (
        json.dumps(
            {
                "leaf": leaf,
                "id": event_id,
                "chain": chain,
                "seq": seq,
                "data": None if data is None else bytes(data).decode("ascii"),
                "hash": None if h is None else bytes(h).hex(),
            },
            separators=(",", ":"),
        )
        + "\n"
    )


VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_bundle.py"


def audit_bundle_download(*, actor: Any) -> tuple[io.BytesIO, str]:
    """The audit bundle for ``actor`` as a zip (``audit_export`` and the standalone verifier) and
    its file name; the download is recorded. It holds every trust's events, so only one who
    audits every trust gets it: anyone else is refused (``PermissionError``)."""
    if not audits_everything(actor):
        raise PermissionError("The bundle holds every trust's events.")
    with transaction.atomic():
        audit_record(action="audit.bundle_downloaded", actor=actor, object_type="audit")
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        audit_export(out)
        if VERIFIER.exists():
            shutil.copy(VERIFIER, out / "verify_bundle.py")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.iterdir()):
                zf.write(path, f"audit-bundle/{path.name}")
    buffer.seek(0)
    return buffer, f"audit-bundle-{timezone.now():%Y%m%d-%H%M%S}.zip"
