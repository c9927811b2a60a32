"""Backups restore (issue 24; docs/operations.md, "Backups and restore").

Books are built through the services (a trust, two children, an order, receipts, a request with
a supporting document, approved and paid, a court account generated and stored as a PDF, a signed
and witnessed audit checkpoint), committed, then backed up with ``scripts/backup.sh`` (the real
``pg_dump -Fc`` and a tar of the media folder) and restored with ``scripts/restore.sh`` into a new
database (``<test database>_restored``) and a new media folder. On the restored copy, run as
``manage.py`` subprocesses with the same keys and the same witness folder, ``check_ledger`` and
``verify_audit`` pass, every table holds as many rows and every account the same balance as in the
original, and the sealed document and the PDF open from the restored media with their bytes.

Then the same copy stands for an *older* backup: once the original has signed a newer head, the
witness holds a head the copy lacks, so ``verify_audit`` fails naming it and ``audit_checkpoint``
refuses (what an operator sees after restoring an older backup), until the witness is moved aside
and a new series starts.

PostgreSQL only (on SQLite it skips, saying how to run it). Needs Debian's postgresql-client
(``pg_dump``, ``pg_restore``, ``psql``): under ``CI=true`` their absence is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from moneyed import Money

from disbursements.services import (
    care_partner_create,
    care_partner_vet,
    caseworker_add,
    request_approve,
    request_document_add,
    request_draft,
    request_submit,
)
from disbursements.services.payments import Transfer, payment_record
from reports.models import Kind, Report
from reports.periods import Period
from reports.services import report_request
from tests.conftest import CI, _database_url_for_test_db, service_missing, witness_location
from tests.factories import TrustFactory, clean_pdf, person, stored_plaintext
from trust.models import Account, Receipt
from trust.services.orders import LineSpec, order_create
from trust.services.people import beneficiary_create, defendant_create
from trust.services.receipts import receipt_record

REPO = Path(__file__).resolve().parent.parent
HOW = (
    "run it on PostgreSQL with Debian's postgresql-client: apt-get install postgresql-client; "
    "DATABASE_URL=postgres://postgres@127.0.0.1:5432/trustledger TRUST_EMBEDDED_KEYS=1 "
    ".venv/bin/pytest tests/test_backup_restore.py"
)

pytestmark = pytest.mark.django_db(transaction=True)


def usd(value: str) -> Money:
    return Money(value, "USD")


@pytest.fixture
def pg_tools(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        service_missing("postgres", HOW)
    missing = [tool for tool in ("pg_dump", "pg_restore", "psql") if not shutil.which(tool)]
    if missing:
        message = f"needs {', '.join(missing)} (postgresql-client): {HOW}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)


def _admin() -> psycopg.Connection[Any]:
    url = _database_url_for_test_db().rsplit("/", 1)[0] + "/postgres"
    return psycopg.connect(url, autocommit=True)


def _drop(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def restored_db(pg_tools: None) -> Iterator[str]:
    """The name of the database to restore into (the test database's, ``_restored``), dropped
    before (a run that died may have left it) and after."""
    name = f"{connection.settings_dict['NAME']}_restored"
    _drop(name)
    try:
        yield name
    finally:
        _drop(name)


def _url(name: str) -> str:
    return _database_url_for_test_db().rsplit("/", 1)[0] + f"/{name}"


def _env(**extra: str) -> dict[str, str]:
    """The environment of a command run on a copy: this run's keys (TRUST_VAR_DIR's, when the
    tests make them) and this test's witness folder, unless ``extra`` says otherwise."""
    env = {
        **os.environ,
        "TRUST_VAR_DIR": str(settings.VAR_DIR),
        "TRUST_AUDIT_WITNESS_DIR": witness_location(),
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    if settings.EMBEDDED_KEYS:
        env["TRUST_EMBEDDED_KEYS"] = "1"
    env.pop("TEST_DATABASE_NAME", None)
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], timeout: int = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _manage(
    command: str, *args: str, db: str, media: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = _env(DATABASE_URL=_url(db), TRUST_MEDIA_ROOT=str(media), **extra)
    return _run([sys.executable, "manage.py", command, *args], env)


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute(
            "select tablename from pg_tables where schemaname = 'public' order by tablename"
        )
    ]
    return {name: conn.execute(f'select count(*) from "{name}"').fetchone()[0] for name in names}


def _balances(conn: psycopg.Connection[Any]) -> list[tuple[int, str, str, int]]:
    table = Account._meta.db_table
    return list(
        conn.execute(
            f"select id, code, currency, balance_minor from {table} order by id"
        ).fetchall()
    )


def _books(today: Any) -> dict[str, Any]:
    """Books built through the services, everything committed; returns what the test checks."""
    trust = TrustFactory()
    trustee = person("h24d-trustee", "trustee", trust, email="h24d.trustee@example.test")
    trustee2 = person("h24d-trustee2", "trustee", trust, email="h24d.trustee2@example.test")
    partner = care_partner_create(
        actor=trustee, name="Invented Care Partner H24", country="PH", payout_currency="USD"
    )
    care_partner_vet(
        partner=partner,
        actor=trustee,
        status="approved",
        vetted_on=today - timedelta(days=30),
        expires_on=today + timedelta(days=335),
    )
    caseworker = person("h24d-caseworker", email="h24d.caseworker@example.test")
    caseworker_add(partner=partner, user=caseworker, actor=trustee)
    first = beneficiary_create(
        trust=trust, pseudonym="MV-H24A", actor=trustee, care_partner=partner
    )
    second = beneficiary_create(
        trust=trust, pseudonym="MV-H24B", actor=trustee, care_partner=partner
    )
    defendant = defendant_create(trust=trust, name="Invented Defendant H24", actor=trustee)
    order_create(
        trust=trust,
        actor=trustee,
        court=trust.court,
        case_number=trust.case_number,
        judgment_date=today - timedelta(days=120),
        total=usd("9000.00"),
        lines=[
            LineSpec(beneficiary=first, amount=usd("6000.00"), defendants=[defendant]),
            LineSpec(beneficiary=second, amount=usd("3000.00"), defendants=[defendant]),
        ],
    )
    bank = trust.accounts.get(role=Account.Role.BANK, currency="USD")
    for n, amount in enumerate(["1500.00", "733.33"]):
        receipt_record(
            trust=trust,
            actor=trustee,
            amount=usd(amount),
            received_on=today - timedelta(days=20 - n),
            source=Receipt.Source.CLERK,
            bank_account=bank,
            idempotency_key=f"h24d-receipt-{n}",
            payer=defendant,
            bank_reference=f"CLK-H24-{n}",
        )
    request = request_draft(
        actor=caseworker,
        beneficiary=first,
        category="medical",
        amount=usd("240.00"),
        purpose="Invented: a term of physiotherapy",
        idempotency_key="h24d-request",
    )
    invoice = clean_pdf("h24d invoice")
    document = request_document_add(
        request=request, actor=caseworker, kind="quote", content=invoice, title="Invoice"
    )
    request = request_submit(request=request, actor=caseworker)
    request = request_approve(request=request, actor=trustee)
    if request.status != "approved":
        request = request_approve(request=request, actor=trustee2)
    assert request.status == "approved"
    payment_record(
        request=request,
        actor=trustee,
        transfer=Transfer(
            sent=request.amount, payout=None, fee=None, value_date=today, reference="TRF-H24"
        ),
    )
    call_command("audit_checkpoint", stdout=StringIO())
    report = report_request(
        kind=Kind.COURT_ACCOUNT,
        trust=trust,
        actor=trustee,
        period=Period(today - timedelta(days=60), today),
    )
    report = Report.objects.get(pk=report.pk)  # generated on commit (inline in tests)
    assert report.status == Report.Status.DONE, report.error
    with report.file.open("rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == report.sha256
    assert stored_plaintext(document) == invoice
    call_command("audit_checkpoint", stdout=StringIO())  # the report's event signed too
    return {
        "trust": trust,
        "trustee": trustee,
        "defendant": defendant,
        "bank": bank,
        "document": document,
        "invoice": invoice,
        "report": report,
        "pdf": pdf,
    }


OPEN_FILES = """
import hashlib, json
from disbursements.models import RequestDocument
from disbursements.services.documents import document_stream
from reports.models import Report
document = RequestDocument.objects.get(pk={document})
report = Report.objects.get(pk={report})
with report.file.open("rb") as handle:
    pdf = handle.read()
print(json.dumps({{
    "document": hashlib.sha256(b"".join(document_stream(document))).hexdigest(),
    "report_file": hashlib.sha256(pdf).hexdigest(),
    "report_recorded": report.sha256,
    "report_path": report.file.path,
}}))
"""


def test_a_backup_restores_into_a_new_database_and_media_folder(
    restored_db: str, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    books = _books(timezone.localdate())
    original = connection.settings_dict["NAME"]

    # The backup, as an operator makes it.
    backups = tmp_path / "backups"
    made = _run(
        ["bash", "scripts/backup.sh", str(backups)],
        _env(DATABASE_URL=_database_url_for_test_db(), TRUST_MEDIA_ROOT=str(settings.MEDIA_ROOT)),
    )
    assert made.returncode == 0, _said(made)
    (backup,) = backups.iterdir()
    assert {p.name for p in backup.iterdir()} == {
        "database.dump",
        "media.tar.gz",
        "MANIFEST",
        "SHA256SUMS",
    }
    manifest = dict(
        line.split(": ", 1)
        for line in (backup / "MANIFEST").read_text().splitlines()
        if ": " in line
    )
    assert " events, signed at " in manifest["latest audit checkpoint"], manifest
    # Nothing secret in it: the keys and the witness are kept apart (docs/security.md).
    sql = _run(["pg_restore", "--file=-", str(backup / "database.dump")], _env())
    assert sql.returncode == 0 and "trust_audit_checkpoint" in sql.stdout, _said(sql)
    keys = [p.read_text().strip() for p in (Path(settings.VAR_DIR) / "keys").glob("*")]
    assert not settings.EMBEDDED_KEYS or keys
    assert not any(key and key in sql.stdout for key in keys)

    # Restored into a new database and a new media folder; both refused if they exist.
    media = tmp_path / "restored-media"
    restored = _run(
        ["bash", "scripts/restore.sh", str(backup), _url(restored_db), str(media)], _env()
    )
    assert restored.returncode == 0, _said(restored)
    again = _run(["bash", "scripts/restore.sh", str(backup), _url(restored_db), str(media)], _env())
    assert again.returncode == 1 and "exists: restore into a new one" in again.stderr, _said(again)

    # The same rows and the same balances in both.
    with psycopg.connect(_url(original)) as before, psycopg.connect(_url(restored_db)) as after:
        counts = _tables(before)
        assert _tables(after) == counts
        assert counts["trust_audit_checkpoint"] >= 2 and counts["trust_posting"] >= 6
        balances = _balances(before)
        assert _balances(after) == balances
        assert sum(1 for *_, minor in balances if minor) >= 4

    # check_ledger and verify_audit pass on the copy, with the same keys and witness.
    for command in ("check_ledger", "verify_audit"):
        result = _manage(command, db=restored_db, media=media)
        assert result.returncode == 0, f"{command} on the restored copy: {_said(result)}"
    assert "OK: the audit trail verifies." in result.stdout

    # The sealed document and the generated PDF open from the restored media, unchanged.
    opened = _manage(
        "shell",
        "-c",
        OPEN_FILES.format(document=books["document"].pk, report=books["report"].pk),
        db=restored_db,
        media=media,
    )
    assert opened.returncode == 0, _said(opened)
    files = json.loads(opened.stdout.strip().splitlines()[-1])
    assert files["document"] == hashlib.sha256(books["invoice"]).hexdigest()
    assert files["report_file"] == files["report_recorded"] == books["report"].sha256
    assert Path(files["report_path"]).is_relative_to(media)

    # Now the copy is an older backup: the original signs a newer head, which the witness keeps.
    receipt_record(
        trust=books["trust"],
        actor=books["trustee"],
        amount=usd("100.00"),
        received_on=timezone.localdate(),
        source=Receipt.Source.CLERK,
        bank_account=books["bank"],
        idempotency_key="h24d-receipt-later",
        payer=books["defendant"],
        bank_reference="CLK-H24-later",
    )
    call_command("audit_checkpoint", stdout=StringIO())
    verified = _manage("verify_audit", db=restored_db, media=media)
    assert verified.returncode == 1, _said(verified)
    assert "is missing from the database" in verified.stderr, _said(verified)
    refused = _manage("audit_checkpoint", db=restored_db, media=media)
    assert refused.returncode == 1 and "REFUSED" in refused.stderr, _said(refused)

    # What the operator does once the auditors are told: the witness moved aside (kept), a new
    # series begins with the restored copy's next head, and the copy verifies against it.
    archive = tmp_path / "witness-archive"
    shutil.copytree(witness_location(), archive)  # this test's own witness stays as it was
    fresh = tmp_path / "witness-new-series"
    signed = _manage(
        "audit_checkpoint", db=restored_db, media=media, TRUST_AUDIT_WITNESS_DIR=str(fresh)
    )
    assert signed.returncode == 0 and "Checkpoint #" in signed.stdout, _said(signed)
    verified = _manage(
        "verify_audit", db=restored_db, media=media, TRUST_AUDIT_WITNESS_DIR=str(fresh)
    )
    assert verified.returncode == 0, _said(verified)
    assert any(archive.rglob("*.json")) and any(fresh.rglob("*.json"))
