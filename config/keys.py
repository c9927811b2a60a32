"""The installation's four secrets: from the environment, or generated once into ``var/keys/``.

On a server every secret comes from the environment (a secret store), and the settings refuse to
load without one, so web, worker and beat do not start. Only the embedded default (SQLite: no
``DATABASE_URL``, or a ``sqlite:`` one), or a test or local trial that says so with
``TRUST_EMBEDDED_KEYS=1``, takes a missing secret from a file under ``var/keys/``, made on first
start (mode 0600) and reused after.
No key is written in the repository, and no key is derived from another (docs/security.md).

Imported by ``config/settings.py`` only; imports nothing of the project.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


def new_secret_key() -> str:
    """A Django ``SECRET_KEY``: 50 random bytes, urlsafe base64 (67 characters)."""
    return secrets.token_urlsafe(50)


def new_fernet_key() -> str:
    """A Fernet key (a field encryption key, or the blind-index key)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def new_signing_key() -> str:
    """An Ed25519 private key: its 32 raw bytes, urlsafe base64."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _is_32_bytes(value: str) -> bool:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 32


def _all_32_bytes(value: str) -> bool:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    return bool(keys) and all(_is_32_bytes(key) for key in keys)


FERNET_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@dataclass(frozen=True)
class Secret:
    variable: str  # the environment variable
    filename: str  # its file under var/keys/ in the embedded default
    protects: str
    make: Callable[[], str]
    command: str  # the one-liner that makes one
    valid: Callable[[str], bool]
    expected: str  # what ``valid`` wants, for the refusal


SECRETS = (
    Secret(
        "DJANGO_SECRET_KEY",
        "secret_key",
        "sessions, CSRF tokens and password-reset links",
        new_secret_key,
        'python -c "import secrets; print(secrets.token_urlsafe(50))"',
        lambda value: True,  # its strength is `check --deploy`'s (security.W009)
        "any text",
    ),
    Secret(
        "TRUST_FIELD_ENCRYPTION_KEYS",
        "field_key",
        "children's legal names and other identifying data; Fernet keys, comma-separated",
        new_fernet_key,
        FERNET_COMMAND,
        _all_32_bytes,
        "comma-separated urlsafe base64 of 32 bytes each",
    ),
    Secret(
        "TRUST_BLIND_INDEX_KEY",
        "blind_index_key",
        "the blind index that matches names without decrypting them",
        new_fernet_key,
        FERNET_COMMAND,
        _is_32_bytes,
        "urlsafe base64 of 32 bytes",
    ),
    Secret(
        "TRUST_AUDIT_SIGNING_KEY",
        "audit_signing_key",
        "the Ed25519 signatures of the audit trail's checkpoints",
        new_signing_key,
        'python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"',
        _is_32_bytes,
        "urlsafe base64 of 32 bytes",
    ),
)


class SecretsMissing(RuntimeError):
    """A server was started without its secrets (the message names them, never a value)."""


@dataclass(frozen=True)
class LoadedSecrets:
    values: dict[str, str]  # by environment variable
    generated: tuple[str, ...]  # the variables whose file was made by this call


def embedded_secret(directory: Path, secret: Secret) -> tuple[str, bool]:
    """The secret's value from ``directory``, making the file (mode 0600) if it does not exist.

    Two processes starting at once (test workers, web and worker) agree: the file is written under a
    temporary name and linked into place, which fails for the second, which then reads the first's.
    Returns the value and whether this call made it.
    """
    path = directory / secret.filename
    if path.exists():
        return _embedded_value(path, secret), False
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{secret.filename}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        os.write(descriptor, (secret.make() + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)
        made = True
    except FileExistsError:
        made = False
    finally:
        temporary.unlink()
    return _embedded_value(path, secret), made


def _embedded_value(path: Path, secret: Secret) -> str:
    value = path.read_text(encoding="ascii", errors="replace").strip()
    if not secret.valid(value) or not value:
        raise SecretsMissing(
            f"{path} does not hold a key ({secret.expected}): delete it to have a new one made,"
            " knowing that what the old key protected in the embedded database is then lost"
        )
    return value


def refusal(missing: list[Secret], malformed: list[Secret]) -> str:
    lines = ['Refusing to start: secrets missing or malformed (docs/security.md, "Secrets").']
    for secret in missing:
        lines.append(f"  {secret.variable} is not set ({secret.protects}). Make one with:")
        lines.append(f"      {secret.command}")
    for secret in malformed:
        lines.append(
            f"  {secret.variable} is malformed: expected {secret.expected}. Make one with:"
        )
        lines.append(f"      {secret.command}")
    lines.append(
        "Set them in the environment of web, worker and beat from your secret store; never in the"
        " database or the repository. TRUST_EMBEDDED_KEYS=1 generates throwaway keys into var/keys/"
        " instead: for tests and local trials only, never for production."
    )
    return "\n".join(lines)


def secrets_load(*, environ: Mapping[str, str], directory: Path, embedded: bool) -> LoadedSecrets:
    """Every secret from ``environ``; when ``embedded``, a missing one from its file instead.

    Refuses (``SecretsMissing``, naming each variable and how to make it) a malformed value, and
    when not ``embedded`` a missing one.
    """
    values: dict[str, str] = {}
    generated: list[str] = []
    missing: list[Secret] = []
    malformed: list[Secret] = []
    for secret in SECRETS:
        value = environ.get(secret.variable, "").strip()
        if value:
            if not secret.valid(value):
                malformed.append(secret)
            values[secret.variable] = value
        elif embedded:
            values[secret.variable], made = embedded_secret(directory, secret)
            if made:
                generated.append(secret.variable)
        else:
            missing.append(secret)
    if missing or malformed:
        raise SecretsMissing(refusal(missing, malformed))
    return LoadedSecrets(values=values, generated=tuple(generated))


def secrets_announce(loaded: LoadedSecrets, *, directory: Path, database: Path | None) -> None:
    """Say on stderr which keys were just made, once; and that a database older than them is lost.

    ``database`` is the embedded SQLite file, or None on another database.
    """
    if not loaded.generated:
        return
    import sys

    message = (
        f"Made {', '.join(loaded.generated)} into {directory}/ (mode 0600): the embedded default's"
        " own keys, reused from now on. Never for production (docs/security.md)."
    )
    stale = database is not None and database.exists() and database.stat().st_size > 0
    if stale and "TRUST_FIELD_ENCRYPTION_KEYS" in loaded.generated:
        message += (
            f"\n{database} was written before these keys: its encrypted names no longer read and"
            " its checkpoints no longer verify. Delete it (and its -wal, -shm) and run"
            " `make demo` again."
        )
    print(message, file=sys.stderr)
