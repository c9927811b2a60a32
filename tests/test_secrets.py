"""The installation's secrets (config/keys.py, docs/security.md "Secrets").

Each test starts the settings in a fresh interpreter with an environment made here, as web, worker
and beat would, so that nothing of the test run's own environment (DATABASE_URL in the PostgreSQL
pass, TRUST_EMBEDDED_KEYS) leaks in. Keys here are made per test; none is written in this file.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = "postgres://trust@db.invalid:5432/trust"  # never connected to: settings only
VARIABLES = (
    "DJANGO_SECRET_KEY",
    "TRUST_FIELD_ENCRYPTION_KEYS",
    "TRUST_BLIND_INDEX_KEY",
    "TRUST_AUDIT_SIGNING_KEY",
)
KEY_FILES = ("secret_key", "field_key", "blind_index_key", "audit_signing_key")
SHOW_SETTINGS = """
import json, sys, django
from django.conf import settings as s
if "--setup" in sys.argv:
    django.setup()  # the apps too, as web, worker and beat do
print(json.dumps({
    "secret_key": s.SECRET_KEY,
    "field_keys": s.FIELD_ENCRYPTION_KEYS,
    "blind_index_key": s.BLIND_INDEX_KEY,
    "signing_key": s.AUDIT_SIGNING_KEY,
    "embedded": s.EMBEDDED_KEYS,
}))
"""


def start(
    var_dir: Path, *, setup: bool = False, **environ: str
) -> subprocess.CompletedProcess[str]:
    """Load the settings (``setup``: and the apps) with only ``environ`` besides the minimum."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRUST_VAR_DIR": str(var_dir),
        **environ,
    }
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS, *(["--setup"] if setup else [])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def started(var_dir: Path, *, setup: bool = False, **environ: str) -> dict:
    run = start(var_dir, setup=setup, **environ)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def server_keys() -> dict[str, str]:
    signing = Ed25519PrivateKey.generate().private_bytes_raw()
    return {
        "DJANGO_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(50)).decode(),
        "TRUST_FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        "TRUST_BLIND_INDEX_KEY": Fernet.generate_key().decode(),
        "TRUST_AUDIT_SIGNING_KEY": base64.urlsafe_b64encode(signing).decode(),
    }


def hkdf(secret: bytes, *, salt: bytes | None, info: bytes) -> str:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)
    return base64.urlsafe_b64encode(raw).decode()


# --- a server ----------------------------------------------------------------------------------


def test_server_without_keys_refuses_naming_each_and_how_to_make_it(tmp_path):
    run = start(tmp_path, DATABASE_URL=SERVER_URL)
    assert run.returncode != 0
    assert "Refusing to start" in run.stderr
    for variable in VARIABLES:
        assert f"{variable} is not set" in run.stderr
    assert "Fernet.generate_key()" in run.stderr
    assert "secrets.token_urlsafe(50)" in run.stderr
    assert "os.urandom(32)" in run.stderr
    assert not (tmp_path / "keys").exists()


def test_server_missing_one_key_refuses_naming_only_it(tmp_path):
    keys = server_keys()
    del keys["TRUST_BLIND_INDEX_KEY"]
    run = start(tmp_path, DATABASE_URL=SERVER_URL, **keys)
    assert run.returncode != 0
    assert "TRUST_BLIND_INDEX_KEY is not set" in run.stderr
    for variable in keys:
        assert f"{variable} is not set" not in run.stderr
    assert not (tmp_path / "keys").exists()


def test_server_refuses_a_malformed_key_without_echoing_it(tmp_path):
    bad = "not-a-key-but-a-secret-phrase"
    run = start(
        tmp_path, DATABASE_URL=SERVER_URL, **{**server_keys(), "TRUST_AUDIT_SIGNING_KEY": bad}
    )
    assert run.returncode != 0
    assert "TRUST_AUDIT_SIGNING_KEY is malformed" in run.stderr
    assert bad not in run.stderr


def test_server_with_every_key_starts_on_them(tmp_path):
    keys = server_keys()
    shown = started(tmp_path, setup=True, DATABASE_URL=SERVER_URL, **keys)
    assert shown["secret_key"] == keys["DJANGO_SECRET_KEY"]
    assert shown["field_keys"] == keys["TRUST_FIELD_ENCRYPTION_KEYS"].split(",")
    assert shown["blind_index_key"] == keys["TRUST_BLIND_INDEX_KEY"]
    assert shown["signing_key"] == keys["TRUST_AUDIT_SIGNING_KEY"]
    assert shown["embedded"] is False
    assert not (tmp_path / "keys").exists()


def test_production_mode_refuses_even_without_database_url(tmp_path):
    run = start(tmp_path, DJANGO_REQUIRE_SECRET_KEY="1", TRUST_EMBEDDED_KEYS="1")
    assert run.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in run.stderr
    assert not (tmp_path / "keys").exists()


def test_debug_does_not_excuse_a_server(tmp_path):
    run = start(tmp_path, DATABASE_URL=SERVER_URL, DJANGO_DEBUG="1")
    assert run.returncode != 0
    assert "TRUST_FIELD_ENCRYPTION_KEYS is not set" in run.stderr


def test_embedded_keys_switch_makes_keys_beside_a_database_url(tmp_path):
    shown = started(tmp_path, DATABASE_URL=SERVER_URL, TRUST_EMBEDDED_KEYS="1")
    assert shown["embedded"] is True
    assert shown["field_keys"] == [(tmp_path / "keys" / "field_key").read_text().strip()]


# --- the embedded default ------------------------------------------------------------------------


def test_a_sqlite_database_url_is_embedded(tmp_path):
    # As for the Celery workers the tests start on their SQLite test database.
    shown = started(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert shown["embedded"] is True
    assert shown["signing_key"] == (tmp_path / "keys" / "audit_signing_key").read_text().strip()


def test_embedded_makes_key_files_once_with_mode_0600_and_reuses_them(tmp_path):
    first_run = start(tmp_path)
    assert first_run.returncode == 0, first_run.stderr
    assert "Never for production" in first_run.stderr
    first = json.loads(first_run.stdout.strip().splitlines()[-1])
    keys_dir = tmp_path / "keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for name in KEY_FILES:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600, name
    assert sorted(p.name for p in keys_dir.iterdir()) == sorted(KEY_FILES)  # no temporary left
    assert first["secret_key"] == (keys_dir / "secret_key").read_text().strip()
    assert first["field_keys"] == [(keys_dir / "field_key").read_text().strip()]
    assert first["blind_index_key"] == (keys_dir / "blind_index_key").read_text().strip()
    assert first["signing_key"] == (keys_dir / "audit_signing_key").read_text().strip()

    second_run = start(tmp_path)
    assert second_run.returncode == 0, second_run.stderr
    assert "Never for production" not in second_run.stderr  # nothing made this time
    assert json.loads(second_run.stdout.strip().splitlines()[-1]) == first


def test_embedded_keys_are_usable(tmp_path):
    shown = started(tmp_path)
    assert len(shown["secret_key"]) >= 50
    token = Fernet(shown["field_keys"][0]).encrypt(b"Zorabelle Quintaro")
    assert Fernet(shown["field_keys"][0]).decrypt(token) == b"Zorabelle Quintaro"
    Fernet(shown["blind_index_key"])
    raw = base64.urlsafe_b64decode(shown["signing_key"])
    Ed25519PrivateKey.from_private_bytes(raw).sign(b"tree head")


def test_embedded_environment_key_wins_over_a_file(tmp_path):
    keys = server_keys()
    shown = started(tmp_path, TRUST_AUDIT_SIGNING_KEY=keys["TRUST_AUDIT_SIGNING_KEY"])
    assert shown["signing_key"] == keys["TRUST_AUDIT_SIGNING_KEY"]
    assert not (tmp_path / "keys" / "audit_signing_key").exists()


def test_processes_starting_together_agree_on_the_keys(tmp_path):
    with ThreadPoolExecutor(max_workers=4) as pool:
        shown = list(pool.map(lambda _: started(tmp_path), range(4)))
    assert all(each == shown[0] for each in shown)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(KEY_FILES)


def test_an_empty_key_file_refuses_instead_of_running_without_a_key(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "field_key").write_text("")
    run = start(tmp_path)
    assert run.returncode != 0
    assert "field_key does not hold a key" in run.stderr


# --- independence ----------------------------------------------------------------------------------


def test_keys_are_not_derived_from_the_secret_key(tmp_path):
    shown = started(tmp_path)
    secret = shown["secret_key"].encode()
    field_key = shown["field_keys"][0]
    # What the settings used to derive (HKDF-SHA256 of SECRET_KEY), and any unsalted variant.
    for salt in (b"restitution-trust-ledger", None):
        for info in (b"field-encryption-key v1", b"audit-signing-key v1", b""):
            derived = hkdf(secret, salt=salt, info=info)
            assert derived not in (field_key, shown["blind_index_key"], shown["signing_key"])
    # Nor the blind-index key from the field key (trust/crypto.py's fallback for a bare Keyring).
    raw_field_key = base64.urlsafe_b64decode(field_key)
    assert (
        hkdf(raw_field_key, salt=None, info=b"restitution-trust-ledger blind-index v1")
        != shown["blind_index_key"]
    )
    assert (
        len({shown["secret_key"], field_key, shown["blind_index_key"], shown["signing_key"]}) == 4
    )


def test_a_new_secret_key_leaves_the_other_keys_alone(tmp_path):
    before = started(tmp_path)
    after = started(tmp_path, DJANGO_SECRET_KEY=server_keys()["DJANGO_SECRET_KEY"])
    assert after["secret_key"] != before["secret_key"]
    assert {k: v for k, v in after.items() if k != "secret_key"} == {
        k: v for k, v in before.items() if k != "secret_key"
    }


# --- the repository --------------------------------------------------------------------------------


def repository_python_files() -> list[Path]:
    skip = {".venv", "var", ".git", "node_modules", ".hypothesis"}
    return [
        path for path in REPO.rglob("*.py") if not skip.intersection(path.relative_to(REPO).parts)
    ]


def is_32_bytes_base64(text: str) -> bool:
    """Whether ``text`` would pass as a Fernet, blind-index or signing key."""
    if not re.fullmatch(r"[A-Za-z0-9_\-+/]{42,44}={0,2}", text):
        return False
    standard = text.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except ValueError:
        return False
    return len(raw) == 32


def test_no_python_file_in_the_repository_holds_a_key():
    files = repository_python_files()
    assert REPO / "config" / "settings.py" in files
    for path in files:
        source = path.read_text(encoding="utf-8")
        if path != Path(__file__).resolve():
            assert "insecure-embedded-demo-key" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not is_32_bytes_base64(node.value.strip()), f"{path}: a key-shaped literal"


def test_settings_give_no_secret_a_written_default():
    """Each secret setting is made from what config/keys.py loaded: no literal in its value."""
    tree = ast.parse((REPO / "config" / "settings.py").read_text(encoding="utf-8"))
    secret_settings = {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "BLIND_INDEX_KEY",
        "AUDIT_SIGNING_KEY",
    }
    assigned = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        names = {target.id for target in node.targets if isinstance(target, ast.Name)}
        if not names & secret_settings:
            continue
        assigned |= names
        literals = {
            each.value
            for each in ast.walk(node.value)
            if isinstance(each, ast.Constant) and isinstance(each.value, str)
        }
        assert literals <= {*VARIABLES, ","}, f"{names}: {literals - {*VARIABLES, ','}}"
        assert "_secrets.values" in ast.unparse(node.value), names
    assert assigned == secret_settings


def test_key_variables_are_read_only_by_config_keys():
    pattern = re.compile(r"environ(?:\.get)?\s*[\(\[]\s*[\"'](" + "|".join(VARIABLES) + r")[\"']")
    readers = [
        path.relative_to(REPO).as_posix()
        for path in repository_python_files()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == []  # config/keys.py looks each up by its name in a table
