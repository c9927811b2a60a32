"""Behind PgBouncer in transaction pooling (README, "PgBouncer"; docs/operations.md, "Database
faults and connections"), with ``DB_PGBOUNCER=1``: real postings, a receipt import, a report, pages,
API reads and ``check_ledger``, from three processes at once sharing two server connections.

Debian's pgbouncer (``apt-get install -y pgbouncer``; ``.ci/run`` installs it), started here on a
free port in front of the test database. Without it the tests skip saying so; under ``CI=true``
they fail.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import CI, REPO, witness_location
from tests.factories import appoint, person
from tests.trust.test_retries import make_book
from trust.invariants import ledger_violations
from trust.models import JournalEntry, Receipt

pytestmark = pytest.mark.postgres

CLIENTS = 3  # processes at once, on a pool of two server connections
HOW = "install Debian's pgbouncer (`apt-get install -y pgbouncer`) or set TRUST_PGBOUNCER"


def pgbouncer_binary() -> str:
    found = os.environ.get("TRUST_PGBOUNCER") or shutil.which("pgbouncer")
    if not found and Path("/usr/sbin/pgbouncer").exists():
        found = "/usr/sbin/pgbouncer"  # Debian's, off a normal user's PATH
    if not found:
        if CI:
            pytest.fail(f"needs pgbouncer: {HOW} (CI requires it; .ci/run installs it)")
        pytest.skip(f"needs pgbouncer: {HOW}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pgbouncer(postgres_tx: None) -> Iterator[str]:
    """A pgbouncer in transaction mode in front of the test database; yields its URL."""
    binary = pgbouncer_binary()
    db = connection.settings_dict
    target = f"host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432}"
    target += f" user={db.get('USER') or 'postgres'}"
    if db.get("PASSWORD"):
        target += f" password={db['PASSWORD']}"
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)  # readable by the user it drops to when started as root
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        textwrap.dedent(
            f"""\
            [databases]
            * = {target}
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = any
            pool_mode = transaction
            default_pool_size = 2
            max_client_conn = 50
            """
        )
    )
    ini.chmod(0o644)
    command = [binary]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        command += ["-u", pwd.getpwnam("postgres").pw_name]
    log = folder / "pgbouncer.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*command, str(ini)], stdout=out, stderr=subprocess.STDOUT)
    url = f"postgres://{db.get('USER') or 'postgres'}@127.0.0.1:{port}/{db['NAME']}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as probe:
                probe.execute("SELECT 1")
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"pgbouncer did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


def through(url: str) -> dict[str, str]:
    """The environment of a process of the app that reaches the database through pgbouncer."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DB_PGBOUNCER": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "TRUST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TRUST_AUDIT_WITNESS_DIR": witness_location(),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("TEST_DATABASE_NAME", None)
    env.pop("TRUST_PG_PREPARE", None)
    return env


# One client: postings in batches, a receipt import, a report (client 0), pages and API reads,
# and check_ledger; prints what it did as JSON.
CLIENT = """
import json, sys
from datetime import date
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from moneyed import Money
from reports.periods import month
from reports.services.generation import report_generate
from reports.services.requests import report_request
from trust.models import Account, Beneficiary, Trust
from trust.services.imports import receipts_import
from trust.services.ledger import EntrySpec, Leg, entries_post

k, trust_id, bank_id, username = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
assert settings.REPORTS_PREPARED_STATEMENTS is False
trust = Trust.objects.get(pk=trust_id)
bank = Account.objects.get(pk=bank_id)
mv1 = Beneficiary.objects.filter(trust=trust).order_by("pk").first()
sub = mv1.accounts.get()
for r in range(20):
    entries_post(trust=trust, actor=None, entries=[
        EntrySpec(effective_date=date(2026, 1, 15), idempotency_key=f"pgb-{k}-{r}-{i}",
                  legs=[Leg(bank, Money("1.00", "USD")), Leg(sub, Money("-1.00", "USD"))])
        for i in range(50)
    ])
rows = "".join(
    f"2025-06-{1 + i % 28:02d},{10 + i % 10}.{i % 100:02d},USD,clerk,Invented Defendant One,,"
    f"PGB{k}-{i:03d},pgb-{k}-{i},\\n" for i in range(50)
)
header = "received_on,amount,currency,source,payer,bank_account,bank_reference,key,memo\\n"
imported = receipts_import(trust=trust, actor=None, rows=header + rows)
report = None
if k == 0:
    today = timezone.localdate()
    asked = report_request(kind="beneficiary_statement", trust=trust, actor=None,
                           beneficiary=mv1, period=month(today.year, today.month), enqueue=False)
    report = report_generate(report_id=asked.pk).status
settings.DEMO_SKIP_SECOND_FACTOR = True
client = Client()
client.force_login(__import__("django.contrib.auth", fromlist=["get_user_model"])
                   .get_user_model().objects.get(username=username))
pages = {}
for path in ["/", f"/trusts/{trust_id}/", f"/trusts/{trust_id}/journal/",
             f"/trusts/{trust_id}/balances/", f"/trusts/{trust_id}/receipts/",
             "/reports/", "/api/v1/trusts/", f"/api/v1/trusts/{trust_id}/"]:
    pages[path] = client.get(path).status_code
call_command("check_ledger")
print(json.dumps({"created": imported.created, "report": report, "pages": pages}))
"""


def test_the_app_works_behind_pgbouncer_in_transaction_mode(pgbouncer: str, tmp_path: Path) -> None:
    book = make_book()
    appoint(person("pgbouncer-trustee"), book.trust)
    env = through(pgbouncer)
    args = [str(book.trust.pk), str(book.bank.pk), "pgbouncer-trustee"]
    clients = []
    for k in range(CLIENTS):  # output to files: a full pipe would stall a client mid-transaction
        out, err = tmp_path / f"client-{k}.out", tmp_path / f"client-{k}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            command = [sys.executable, "-c", CLIENT, str(k), *args]
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
        clients.append((process, out, err))
    results = []
    try:
        for process, out, err in clients:
            process.wait(timeout=300)
            assert process.returncode == 0, err.read_text(errors="replace")[-4000:]
            results.append(json.loads(out.read_text().strip().splitlines()[-1]))
    finally:
        for process, _, _ in clients:
            if process.poll() is None:
                process.kill()

    assert [r["created"] for r in results] == [50] * CLIENTS
    assert results[0]["report"] == "done"
    for r in results:
        assert set(r["pages"].values()) == {200}, r["pages"]
    postings = JournalEntry.objects.filter(trust=book.trust, idempotency_key__startswith="pgb-")
    assert postings.count() == CLIENTS * 20 * 50
    assert Receipt.objects.filter(trust=book.trust).count() == CLIENTS * 50
    assert ledger_violations(trust_id=book.trust.pk).ok
    # And the command an operator runs, through pgbouncer too.
    check = subprocess.run(
        [sys.executable, "manage.py", "check_ledger"],
        cwd=REPO, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout.decode()[-2000:] + check.stderr.decode()[-2000:]


def test_without_the_setting_prepared_statements_collide_behind_pgbouncer(
    pgbouncer: str,
) -> None:
    """Why ``DB_PGBOUNCER`` turns prepared statements off (pgbouncer 1.18 does not track them):
    two clients' statements, prepared one after the other on the pool's one server connection,
    collide by name; with ``prepare_threshold=None`` (what the setting sets) nothing is prepared."""
    with (
        psycopg.connect(pgbouncer, autocommit=True) as a,
        psycopg.connect(pgbouncer, autocommit=True) as b,
    ):
        a.execute("SELECT 1", prepare=True)  # "_pg3_0" on the server connection
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            b.execute("SELECT 2", prepare=True)  # b's own "_pg3_0", on the same one
    with (
        psycopg.connect(pgbouncer, autocommit=True, prepare_threshold=None) as a,
        psycopg.connect(pgbouncer, autocommit=True, prepare_threshold=None) as b,
    ):
        for _ in range(3):
            a.execute("SELECT 1", prepare=True)
            b.execute("SELECT 2", prepare=True)
