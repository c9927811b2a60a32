"""``manage.py check --deploy --fail-level WARNING`` passes with the settings of a production server
(README, "Running in production"), as CI runs it (.ci/run, step 4), and production turns the
security headers on by itself (docs/security.md, "Headers").

Each test starts a fresh interpreter with an environment made here, as web, worker and beat would,
so that nothing of the test run's own environment (DATABASE_URL in the PostgreSQL pass,
TRUST_EMBEDDED_KEYS) leaks in. The secrets are made per test; none is written in this file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
SHOW_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER", "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY",
)}))
"""


def production(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a production web process, with secrets of its own."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRUST_VAR_DIR": str(var_dir),
        "DJANGO_REQUIRE_SECRET_KEY": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "trust.example.org",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://trust.example.org",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "TRUST_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "TRUST_BLIND_INDEX_KEY": Fernet.generate_key().decode(),
        "TRUST_AUDIT_SIGNING_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        **overrides,
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")


def test_check_deploy_passes_with_the_production_settings(tmp_path: Path) -> None:
    result = deploy_check(production(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_production_turns_a_header_off(tmp_path: Path) -> None:
    result = deploy_check(production(tmp_path, DJANGO_SSL_REDIRECT="0", DJANGO_HSTS_PRELOAD="0"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W021" in result.stderr


def test_production_turns_the_security_headers_on_by_itself(tmp_path: Path) -> None:
    result = run(production(tmp_path), "-c", SHOW_SETTINGS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
    }


def test_each_production_switch_is_set_from_the_environment(tmp_path: Path) -> None:
    env = production(
        tmp_path,
        DJANGO_SSL_REDIRECT="0",
        DJANGO_HSTS_SECONDS="3600",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="0",
        DJANGO_HSTS_PRELOAD="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SECURE_PROXY_SSL_HEADER="",
    )
    result = run(env, "-c", SHOW_SETTINGS)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["SECURE_HSTS_SECONDS"] == 3600 and shown["SECURE_PROXY_SSL_HEADER"] is None
    assert not any(
        shown[name]
        for name in (
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SECURE_HSTS_PRELOAD",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
        )
    )


def test_the_embedded_default_keeps_plain_http(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRUST_VAR_DIR": str(tmp_path),
    }
    result = run(env, "-c", SHOW_SETTINGS)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SESSION_COOKIE_SECURE"] is False
