"""A mailbox folder for the fault tests: every process started by a test delivers its e-mail here
(``EMAIL_BACKEND`` in tests/fault_settings.py), and the test reads what arrived."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class FolderEmailBackend(BaseEmailBackend):
    """Delivers each message as one file in ``settings.TEST_MAILBOX_DIR``, taken whole or not at
    all (a temporary file renamed), as a mail server accepts a message or does not."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        folder = Path(settings.TEST_MAILBOX_DIR)
        for message in email_messages:
            name = uuid.uuid4().hex
            partial = folder / f".{name}.partial"
            partial.write_bytes(message.message().as_bytes())
            os.rename(partial, folder / f"{name}.eml")
        return len(email_messages)


def mailbox(folder: Path) -> list[tuple[str, str, str]]:
    """(recipient, subject, Message-ID) of every message delivered into ``folder``."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append((str(message["To"]), str(message["Subject"]), str(message["Message-ID"])))
    return found
