"""The witness: every signed tree head is also kept where the database cannot rewrite it, so that
deleting or rolling back checkpoints in the database is found (docs/audit.md, "The witness").

Two kinds, chosen with ``TRUST_AUDIT_WITNESS`` (settings ``AUDIT_WITNESS``):

- ``storage``: one read-only object per head through Django's storage API
  (``STORAGES["audit_witness"]``: a folder under ``var/`` by default, an object store with object
  lock in production), named ``<log>/<day signed>/<size>-<root>.json``. A name is written once and
  never replaced; size and root are in the name, so comparing every head with the database needs
  only a listing. The application reads it back: signing refuses a head that does not extend the
  last one witnessed, and ``verify_audit`` fails when a witnessed head is missing from the
  database, differs from it, or is larger than the log.
- ``email``: the head, as the JSON an auditor keeps, mailed to the trusts' auditors and to
  ``TRUST_AUDIT_WITNESS_EMAILS`` (at most once per ``TRUST_AUDIT_WITNESS_EMAIL_MINUTES``). The
  application cannot read mail back: the auditors check a bundle against a head they kept
  (``verify_bundle.py consistency --kept``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.mail import EmailMessage, get_connection

from trust.access import alert_emails
from trust.audit.models import AuditCheckpoint
from trust.roles import AUDITOR

logger = logging.getLogger(__name__)

STORAGE = "audit_witness"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEAD = re.compile(r"^(\d{15})-([0-9a-f]{64})\.json$")


def checkpoint_json(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A signed tree head as an auditor keeps it (the audit page's download, the bundle's
    ``checkpoints.json``, a witnessed head): ``verify_bundle.py`` reads it."""
    return {
        "id": checkpoint.pk,
        "size": checkpoint.size,
        "root": bytes(checkpoint.root).hex(),
        "signed_at": checkpoint.signed_at.isoformat(),
        "statement": bytes(checkpoint.statement).decode("ascii"),
        "signature": base64.b64encode(bytes(checkpoint.signature)).decode("ascii"),
        "public_key": bytes(checkpoint.public_key).hex(),
    }


@dataclass(frozen=True)
class WitnessedHead:
    """A head in the witness store, as its name says (size and root); ``name`` finds it."""

    size: int
    root: bytes
    name: str

    @property
    def label(self) -> str:
        return f"witnessed head of size {self.size} ({self.name})"


def witness_modes() -> tuple[str, ...]:
    return tuple(settings.AUDIT_WITNESS)


def witness_stored() -> bool:
    """Whether heads are written to (and read back from) the witness store."""
    return "storage" in witness_modes()


def witness_storage() -> Storage:
    return storages[STORAGE]


def _folder() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", settings.AUDIT_LOG_ID) or "log"


def head_name(size: int, root: bytes, signed_at: datetime) -> str:
    return f"{_folder()}/{signed_at:%Y-%m-%d}/{size:015d}-{root.hex()}.json"


def _days(storage: Storage) -> list[str]:
    folder = _folder()
    if not storage.exists(folder):
        return []
    days, _ = storage.listdir(folder)
    return sorted(day for day in days if _DAY.match(day))


def _heads_of(storage: Storage, day: str) -> list[WitnessedHead]:
    path = f"{_folder()}/{day}"
    _, files = storage.listdir(path)
    heads = []
    for name in files:
        match = _HEAD.match(name)
        if match:
            size, root = match.groups()
            heads.append(WitnessedHead(int(size), bytes.fromhex(root), f"{path}/{name}"))
    return heads


def witnessed_heads() -> list[WitnessedHead]:
    """Every head in the witness store, smallest first (none when the store is not used)."""
    if not witness_stored():
        return []
    storage = witness_storage()
    heads = [head for day in _days(storage) for head in _heads_of(storage, day)]
    return sorted(heads, key=lambda head: (head.size, head.name))


def witness_latest() -> WitnessedHead | None:
    """The largest head of the latest day witnessed (what the next head must extend)."""
    if not witness_stored():
        return None
    storage = witness_storage()
    for day in reversed(_days(storage)):
        heads = _heads_of(storage, day)
        if heads:
            return max(heads, key=lambda head: head.size)
    return None


def witness_read(head: WitnessedHead) -> dict[str, Any]:
    """The head's content: the checkpoint as ``checkpoint_json`` wrote it."""
    with witness_storage().open(head.name, "rb") as f:
        return json.loads(f.read())


def witness_write(checkpoint: AuditCheckpoint) -> str | None:
    """Write ``checkpoint`` to the witness store (if used) and return its name. A head of the
    same size and root written before is kept as it is; nothing is ever replaced. Raises if the
    store cannot take it: the caller then does not commit the checkpoint."""
    if not witness_stored():
        return None
    name = head_name(checkpoint.size, bytes(checkpoint.root), checkpoint.signed_at)
    storage = witness_storage()
    if storage.exists(name):
        return name
    body = (json.dumps(checkpoint_json(checkpoint), indent=1) + "\n").encode("ascii")
    saved = storage.save(name, ContentFile(body))
    if saved != name:  # a storage that renames instead of refusing: the head is still kept
        logger.warning("audit witness: %s was stored as %s", name, saved)
    return saved


MAIL_BODY = """A new signed tree head of the audit trail of {log}: {size} events, root {root},
signed at {signed_at} (key {key}).

Keep this message and its attachment. They are the witness that the log had these events then:
if the database is later rolled back or rewritten, a bundle of the audit trail will not be
consistent with it. To check a bundle against it:

    python verify_bundle.py consistency BUNDLE --kept checkpoint-{size}.json --trusted-key {key}
"""


def witness_mail(checkpoint: AuditCheckpoint, previous: datetime | None) -> int:
    """Mail ``checkpoint`` to the auditors (if the witness mails), unless a head was signed
    earlier in the same window (``previous``: when the one before it was signed). Returns how
    many messages were sent. Called after commit; a failure is logged, never raised."""
    if "email" not in witness_modes():
        return 0
    window = max(1, settings.AUDIT_WITNESS_EMAIL_MINUTES) * 60
    if previous is not None and int(previous.timestamp() // window) == int(
        checkpoint.signed_at.timestamp() // window
    ):
        return 0
    recipients = sorted(set(alert_emails((AUDITOR,))) | set(settings.AUDIT_WITNESS_EMAILS))
    if not recipients:
        logger.warning("audit witness: no auditor has an e-mail address; head not mailed")
        return 0
    head = checkpoint_json(checkpoint)
    attachment = json.dumps(head, indent=1) + "\n"
    subject = f"Audit trail signed tree head: {checkpoint.size} events ({settings.AUDIT_LOG_ID})"
    body = MAIL_BODY.format(
        log=settings.AUDIT_LOG_ID,
        size=checkpoint.size,
        root=head["root"],
        signed_at=head["signed_at"],
        key=head["public_key"],
    )
    messages = []
    for recipient in recipients:  # one message each: auditors of one trust never see the others
        message = EmailMessage(subject=subject, body=body, to=[recipient])
        message.attach(f"checkpoint-{checkpoint.size}.json", attachment, "application/json")
        messages.append(message)
    return get_connection().send_messages(messages) or 0
