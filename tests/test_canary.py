"""Canary test (issue 21): invented identifying values of one child (a legal name, a guardian's
contact, a date of birth, what the money is for, a supporting document's text, free-text notes)
go through a full workflow, and then none of them may be found outside the encrypted columns and
sealed files: not in a dump of the database, the stored files, the generated PDFs, the log, the
Celery messages, the e-mails or the audit bundle (DOMAIN rule 11).

Each value is searched in several forms: as typed (case-insensitive), with the white space taken
out (a PDF's text may break a line anywhere), as hex (bytea and BLOB columns dump as hex) and as
base64 at each of the three alignments. A hit names where it was found and a few bytes around it,
never the whole haystack.

Runs on both backends: on SQLite the dump is ``iterdump`` (plus the database's own files), on
PostgreSQL ``pg_dump`` of the test database; the test commits (``transactional_db``) so that the
dump sees what the workflow wrote and the on-commit work (notifications, reports) really runs.

Tests run queued tasks eagerly, which publishes no message: see ``celery_messages`` for how the
messages are captured all the same. The notes on a payment (what arrived short, why a transfer
came back) have a test of their own, ``test_notes_on_payments_stay_out_of_the_ledger``: it found
them copied into the shortfall and return entries' memos, which now leave them out.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pypdf
import pytest
from celery import current_app
from celery.signals import before_task_publish, task_prerun
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu import serialization
from moneyed import Money
from reportlab.pdfgen import canvas

from disbursements.services import (
    care_partner_create,
    care_partner_vet,
    caseworker_add,
    policy_set_dual_approval,
    request_approve,
    request_document_add,
    request_draft,
    request_reject,
    request_submit,
)
from disbursements.services.documents import document_stream
from disbursements.services.payments import (
    Transfer,
    payment_acknowledge,
    payment_record,
    payment_return,
)
from reports.models import Kind, Report
from reports.periods import Period
from reports.services import report_request
from tests.conftest import service_missing
from tests.factories import TrustFactory, person
from trust.models import Account, Receipt
from trust.services.orders import LineSpec, order_create
from trust.services.people import (
    beneficiary_create,
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    defendant_create,
)
from trust.services.receipts import receipt_record
from trust.services.tokens import token_create

# The tests that run the workflow commit (``transaction=True``): pg_dump sees only committed rows,
# and the on-commit work (notifications, reports) runs as it does in production.
WORKFLOW = pytest.mark.django_db(transaction=True)

# --- the canaries --------------------------------------------------------------------------------

LEGAL_NAME = "Zyphrane Quillborough-Canary"
GUARDIAN_CONTACT = "canary.guardian.7731@example.invalid / +63 900 773 1177"
PURPOSE = "CANARY-PURPOSE dental braces at Vellumtide"
OTHER_PURPOSE = "CANARY-PURPOSE counselling sessions at Vellumtide"
DOCUMENT_TEXT = "CANARY-DOCTEXT-5521 Halloway invoice"
DOCUMENT_TITLE = "CANARY-DOCTITLE-3390 Halloway quote"
REJECTION = "CANARY-NOTE-REJECT-8812 the Vellumtide clinic is not accredited"
# Notes on payments: searched only by the test of the known leak below (they share no word
# with the values above, so that what that test leaves in the SQLite file's free pages cannot be
# taken for a leak of the main test).
ACKNOWLEDGEMENT = "CANARY-NOTE-ACK-4407 the Brindlemoor bank kept a charge"
RETURN_REASON = "CANARY-NOTE-RETURN-6620 the Brindlemoor account was closed"
BIRTH = date(2013, 7, 19)

# Not canaries: the pseudonym is what court papers print, the reveal's purpose is kept in the
# clear in the audit trail by design (the log of who saw this child says why).
PSEUDONYM = "MV-C21"
REVEAL_PURPOSE = "Confirm the payee before the transfer"


@dataclass(frozen=True)
class Needle:
    what: str
    text: str


def _needles() -> list[Needle]:
    out = [
        Needle("legal name", LEGAL_NAME),
        Needle("legal name (given)", "Zyphrane"),
        Needle("legal name (family)", "Quillborough"),
        Needle("guardian contact", GUARDIAN_CONTACT),
        Needle("guardian e-mail", "canary.guardian.7731"),
        Needle("guardian phone", "900 773 1177"),
        Needle("guardian phone (digits)", "9007731177"),
        Needle("purpose", PURPOSE),
        Needle("purpose (second request)", OTHER_PURPOSE),
        Needle("purpose (marker)", "CANARY-PURPOSE"),
        Needle("purpose/notes (place)", "Vellumtide"),
        Needle("document text", DOCUMENT_TEXT),
        Needle("document text (marker)", "CANARY-DOCTEXT-5521"),
        Needle("document text (word)", "Halloway"),
        Needle("document title", DOCUMENT_TITLE),
        Needle("document title (marker)", "CANARY-DOCTITLE-3390"),
        Needle("rejection note", REJECTION),
        Needle("rejection note (marker)", "CANARY-NOTE-REJECT-8812"),
    ]
    d, m, y = BIRTH.day, BIRTH.month, BIRTH.year
    month, mon = BIRTH.strftime("%B"), BIRTH.strftime("%b")
    for form in (
        BIRTH.isoformat(),  # 2013-07-19
        f"{d:02d}/{m:02d}/{y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}-{m:02d}-{y}",
        f"{y}/{m:02d}/{d:02d}",
        f"{d} {month} {y}",
        f"{month} {d}, {y}",
        f"{d} {mon} {y}",
        f"{mon} {d}, {y}",
        f"{y}{m:02d}{d:02d}",
    ):
        out.append(Needle("date of birth", form))
    return out


NEEDLES = _needles()


# --- searching -----------------------------------------------------------------------------------


def _squash(data: bytes) -> bytes:
    return re.sub(rb"\s+", b"", data.lower())


def _base64_cores(raw: bytes) -> set[bytes]:
    """The part of ``raw``'s base64 that does not depend on the bytes around it (the groups of
    three bytes that lie wholly inside it), at each of the three alignments, standard and
    URL-safe."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first, last = (1 if offset else 0), (offset + len(raw)) // 3
        core = encoded[4 * first : 4 * last]
        if len(core) >= 12:
            cores.add(core)
            cores.add(core.translate(bytes.maketrans(b"+/", b"-_")))
    return cores


@dataclass(frozen=True)
class _Form:
    needle: Needle
    how: str
    pattern: bytes
    space: str  # which view of the haystack: "lower", "squashed" or "raw"


def _forms(needle: Needle) -> list[_Form]:
    raw = needle.text.encode()
    forms = [
        _Form(needle, "as typed", raw.lower(), "lower"),
        _Form(needle, "hex", raw.hex().encode(), "lower"),
    ]
    if re.search(r"\s", needle.text):
        forms.append(_Form(needle, "without white space", _squash(raw), "squashed"))
    if len(raw) >= 9:
        forms += [_Form(needle, "base64", core, "raw") for core in sorted(_base64_cores(raw))]
    return forms


FORMS = [form for needle in NEEDLES for form in _forms(needle)]
PAYMENT_NOTE_FORMS = [
    form
    for needle in (
        Needle("acknowledgement note", ACKNOWLEDGEMENT),
        Needle("acknowledgement note (marker)", "CANARY-NOTE-ACK-4407"),
        Needle("return reason", RETURN_REASON),
        Needle("return reason (marker)", "CANARY-NOTE-RETURN-6620"),
        Needle("payment notes (place)", "Brindlemoor"),
    )
    for form in _forms(needle)
]


def hits(data: bytes, forms: Iterable[_Form] = FORMS) -> list[tuple[_Form, int, bytes]]:
    """Every form found in ``data``: (form, position, a few bytes around it)."""
    views = {"raw": data, "lower": data.lower()}
    views["squashed"] = _squash(data) if any(f.space == "squashed" for f in forms) else b""
    found = []
    for form in forms:
        view = views[form.space]
        at = view.find(form.pattern)
        if at >= 0:
            found.append((form, at, view[max(0, at - 40) : at + len(form.pattern) + 40]))
    return found


def pdf_text(content: bytes) -> bytes:
    """The text pypdf extracts from every page, and the document's metadata."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    parts = [page.extract_text() or "" for page in reader.pages]
    parts += [f"{key}={value}" for key, value in (reader.metadata or {}).items()]
    return "\n".join(parts).encode("utf-8", "replace")


@dataclass
class Search:
    """Haystacks by where they come from; ``leaks()`` lists every canary found in one."""

    forms: list[_Form] = field(default_factory=lambda: FORMS)
    places: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, where: str, data: bytes | str) -> None:
        self.places.append(
            (where, data.encode("utf-8", "replace") if isinstance(data, str) else data)
        )

    def add_pdf(self, where: str, content: bytes) -> None:
        self.add(f"{where} (raw bytes)", content)
        self.add(f"{where} (text)", pdf_text(content))

    def leaks(self) -> list[str]:
        """One line per canary value and place: the forms found, where the first is, around it."""
        found = []
        for where, data in self.places:
            by_needle: dict[Needle, list[tuple[_Form, int, bytes]]] = {}
            for hit in hits(data, self.forms):
                by_needle.setdefault(hit[0].needle, []).append(hit)
            for needle, needle_hits in by_needle.items():
                forms = ", ".join(dict.fromkeys(form.how for form, _, _ in needle_hits))
                _, at, context = needle_hits[0]
                found.append(
                    f"{needle.what} {needle.text!r} ({forms}) in {where}"
                    f" at byte {at}: ...{context!r}..."
                )
        return found


# --- what the workflow produces ------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Every record of every logger, as formatted and with all its attributes (``extra``
    included): what any handler or log shipper could write out."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(json.dumps(record.__dict__, default=str, sort_keys=True))


@pytest.fixture
def log_everything() -> Iterator[LogCapture]:
    """A DEBUG handler on the root logger for the whole test, with every logger (Django, Celery,
    the apps) opened to DEBUG and propagating to it; put back as it was afterwards."""
    handler = LogCapture()
    root = logging.getLogger()
    saved_root = root.level
    saved: dict[str, tuple[int, bool, bool]] = {}
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            saved[name] = (logger.level, logger.propagate, logger.disabled)
            logger.setLevel(logging.DEBUG)
            logger.propagate = True
            logger.disabled = False
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, (level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


@dataclass
class CeleryCapture:
    published: list[str] = field(default_factory=list)  # sent to a broker
    eager: list[str] = field(default_factory=list)  # run in this process (tests are eager)
    names: list[str] = field(default_factory=list)


@pytest.fixture
def celery_messages() -> Iterator[CeleryCapture]:
    """Every Celery message of the test. A message sent to a broker fires
    ``before_task_publish`` (headers and body as they go on the wire). The test suite runs
    queued tasks eagerly (tests/conftest.py), and an eager ``apply_async`` publishes nothing and
    fires no publish signal; so for each task run here ``task_prerun`` gives its id, name and
    arguments (already through the JSON serializer, as a worker receives them) and the message is
    built and serialized as ``send_task`` would build it (``app.amqp.as_task_v2``): the same
    headers and body bytes a broker would carry."""
    capture = CeleryCapture()

    def on_publish(sender: Any = None, body: Any = None, headers: Any = None, **extra: Any) -> None:
        capture.names.append(str(sender))
        capture.published.append(
            json.dumps(
                {"task": sender, "headers": headers, "body": body, "extra": extra}, default=str
            )
        )

    def on_prerun(
        sender: Any = None, task_id: Any = None, task: Any = None, args: Any = None, **extra: Any
    ) -> None:
        kwargs = extra.get("kwargs") or {}
        message = current_app.amqp.as_task_v2(task_id, task.name, args=args, kwargs=kwargs)
        _, _, body = serialization.dumps(message.body, serializer=settings.CELERY_TASK_SERIALIZER)
        capture.names.append(task.name)
        capture.eager.append(
            json.dumps({"task": task.name, "headers": message.headers, "body": body}, default=str)
        )

    before_task_publish.connect(on_publish, weak=False)
    task_prerun.connect(on_prerun, weak=False)
    try:
        yield capture
    finally:
        before_task_publish.disconnect(on_publish)
        task_prerun.disconnect(on_prerun)


def database_dump() -> dict[str, bytes]:
    """The whole test database as text (and, on SQLite, its files as they are on disk)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        dump = "\n".join(connection.connection.iterdump()).encode("utf-8", "replace")
        out = {"the SQLite dump (iterdump)": dump}
        name = Path(settings_dict["NAME"])
        for path in (name, Path(f"{name}-wal")):
            if path.exists():
                out[f"the SQLite file {path.name}"] = path.read_bytes()
        return out
    binary = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    if not Path(binary).exists():
        service_missing("postgres", "install pg_dump (postgresql-client)")
    env = {**os.environ}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    result = subprocess.run(
        [
            binary,
            "--no-owner",
            "--no-privileges",
            "-h",
            settings_dict.get("HOST") or "127.0.0.1",
            "-p",
            str(settings_dict.get("PORT") or 5432),
            "-U",
            settings_dict.get("USER") or "postgres",
            settings_dict["NAME"],
        ],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return {f"pg_dump of {settings_dict['NAME']}": result.stdout}


def canary_pdf() -> bytes:
    """A real invoice PDF (reportlab) whose page shows the document canary; uncompressed, so
    that the text is in the file's bytes as well (a file stored unsealed would be found)."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pageCompression=0)
    page.drawString(72, 720, DOCUMENT_TEXT)
    page.drawString(72, 700, "Amount due: USD 300.00")
    page.showPage()
    page.save()
    return out.getvalue()


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def usd(value: str) -> Money:
    return Money(value, "USD")


# --- the searcher finds what it should ----------------------------------------------------------


def test_the_search_finds_every_form_it_claims_to() -> None:
    """The search itself: plain, upper-cased, hex, base64 at any alignment, and a PDF line break
    in the middle of a value are all found; unrelated text is not."""
    secret = LEGAL_NAME.encode()
    encoded = [
        encode(before + secret + after)
        for encode in (base64.b64encode, base64.urlsafe_b64encode)
        for before in (b"", b"a", b"ab")
        for after in (b"", b"y", b"yz")
    ]
    for data, how in [
        (b"x" + secret.upper() + b"y", "as typed"),
        (b"\\x" + secret.hex().encode() + b"00", "hex"),
        (b"X'" + secret.hex().upper().encode() + b"'", "hex"),
        (b"Zyphrane Quillborough-\nCanary", "without white space"),
        *((data, "base64") for data in encoded),
    ]:
        found = {form.how for form, _, _ in hits(data) if form.needle.text == LEGAL_NAME}
        assert how in found, (data, how)
    assert hits(b"2013-07-20 July 18, 2013 MV-C21 Halloween invoice") == []
    assert {f.needle.text for f, _, _ in hits(b"born 19 July 2013")} == {"19 July 2013"}
    assert hits(pdf_text(canary_pdf()))[0][0].needle.what.startswith("document text")
    assert any(f.how == "as typed" for f, _, _ in hits(canary_pdf()))  # uncompressed


# --- the workflow -------------------------------------------------------------------------------


@dataclass
class World:
    trust: Any
    trustee: Any
    trustee2: Any
    caseworker: Any
    child: Any


def make_world(today: date) -> World:
    """A trust with two trustees (two approvals above USD 100.00), a vetted care partner paid in
    USD and its caseworker; the child, with a date of birth and identifying details; an order
    and a receipt of USD 2,000.00 allocated to the child's sub-ledger."""
    trust = TrustFactory()
    trustee = person("c21-trustee", "trustee", trust, email="c21.trustee@example.test")
    trustee2 = person("c21-trustee2", "trustee", trust, email="c21.trustee2@example.test")
    partner = care_partner_create(
        actor=trustee, name="Invented Care Partner C21", country="PH", payout_currency="USD"
    )
    care_partner_vet(
        partner=partner,
        actor=trustee,
        status="approved",
        vetted_on=today - timedelta(days=30),
        expires_on=today + timedelta(days=335),
    )
    caseworker = person("c21-caseworker", email="c21.caseworker@example.test")
    caseworker_add(partner=partner, user=caseworker, actor=trustee)
    policy_set_dual_approval(trust=trust, actor=trustee, threshold=usd("100.00"))
    child = beneficiary_create(
        trust=trust,
        pseudonym=PSEUDONYM,
        actor=trustee,
        date_of_birth=BIRTH,
        country="PH",
        care_partner=partner,
    )
    beneficiary_identity_set(
        beneficiary=child, actor=trustee, legal_name=LEGAL_NAME, guardian_contact=GUARDIAN_CONTACT
    )
    defendant = defendant_create(trust=trust, name="Invented Defendant C21", actor=trustee)
    order_create(
        trust=trust,
        actor=trustee,
        court=trust.court,
        case_number=trust.case_number,
        judgment_date=today - timedelta(days=120),
        total=usd("5000.00"),
        lines=[LineSpec(beneficiary=child, amount=usd("5000.00"), defendants=[defendant])],
    )
    receipt_record(
        trust=trust,
        actor=trustee,
        amount=usd("2000.00"),
        received_on=today - timedelta(days=20),
        source=Receipt.Source.CLERK,
        bank_account=trust.accounts.get(role=Account.Role.BANK, currency="USD"),
        idempotency_key="c21-receipt",
        payer=defendant,
        bank_reference="CLK-C21",
    )
    assert child.accounts.get().balance == usd("2000.00")
    return World(trust, trustee, trustee2, caseworker, child)


def drafted(w: World, *, amount: str, purpose: str, key: str) -> Any:
    """The caseworker's draft of a medical request for the child."""
    return request_draft(
        actor=w.caseworker,
        beneficiary=w.child,
        category="medical",
        amount=usd(amount),
        purpose=purpose,
        idempotency_key=key,
    )


def pay(w: World, request: Any, today: date) -> Any:
    """Submit the draft, approve it (twice above the threshold), record its payment."""
    request = request_submit(request=request, actor=w.caseworker)
    request = request_approve(request=request, actor=w.trustee)
    if request.status != "approved":
        request = request_approve(request=request, actor=w.trustee2)
    assert request.status == "approved"
    return payment_record(
        request=request,
        actor=w.trustee,
        transfer=Transfer(
            sent=request.amount,
            payout=None,
            fee=None,
            value_date=today,
            reference=f"TRF-C21-{request.pk}",
        ),
    )


def add_bundle(search: Search, tmp_path: Path) -> list[Path]:
    """The audit trail sealed and signed, exported as the auditors' bundle, every file (and
    every member of an archive) added to ``search``."""
    call_command("audit_checkpoint", stdout=StringIO())
    bundle = tmp_path / "bundle"
    call_command("export_audit", "--out", str(bundle), stdout=(out := StringIO()))
    search.add("the output of export_audit", out.getvalue())
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    for path in files:
        search.add(f"the audit bundle's {path.relative_to(bundle)}", path.read_bytes())
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    search.add(f"the audit bundle's {path.name}:{member}", archive.read(member))
    return files


def add_dump(search: Search) -> bytes:
    dumps = database_dump()
    for where, content in dumps.items():
        search.add(where, content)
    return b"".join(dumps.values())


def no_leaks(search: Search) -> None:
    leaks = search.leaks()
    if leaks:
        shown = "\n".join(f"- {leak}" for leak in leaks[:40])
        more = f"\n(and {len(leaks) - 40} more)" if len(leaks) > 40 else ""
        pytest.fail(
            f"{len(leaks)} canary hit(s) outside encrypted storage:\n{shown}{more}", pytrace=False
        )


# --- the workflow and the search -----------------------------------------------------------------


def _bank_reconciled(trust: Any, trustee: Any, today: date) -> Any:
    """The bank's statement of the trust's account imported and reconciled, so that the
    reconciliation's document is searched too."""
    from trust.bank.models import BankStatement
    from trust.bank.parsing.base import CsvMapping
    from trust.bank.services.reconciliations import reconciliation_sign_off
    from trust.bank.services.statements import bank_account_set, statement_import
    from trust.models import Account

    bank = bank_account_set(
        actor=trustee,
        account=trust.accounts.get(role=Account.Role.BANK),
        number="GB82WEST12345698765432",
        bank_name="Invented Savings Bank",
    )
    data = f"Date,Amount,Details,Balance\n{today.isoformat()},-1.00,Account fee,-1.00\n"
    statement_import(
        actor=trustee,
        bank=bank,
        data=data.encode(),
        format="csv",
        mapping=CsvMapping(
            date_column="Date",
            amount_column="Amount",
            description_column="Details",
            balance_column="Balance",
        ),
    )
    statement = BankStatement.objects.get(bank_account=bank)
    return reconciliation_sign_off(actor=trustee, bank=bank, statement=statement)


@WORKFLOW
def test_no_canary_outside_encrypted_columns_and_sealed_files(
    settings: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    log_everything: LogCapture,
    celery_messages: CeleryCapture,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    logging.getLogger("trust").debug("canary-test: the log is captured")
    today = timezone.localdate()
    search = Search()
    w = make_world(today)
    trust, trustee, caseworker, child = w.trust, w.trustee, w.caseworker, w.child

    # A request with a supporting document, approved twice (above the threshold), paid and
    # acknowledged short. The note of a shortfall is not a canary here: it is copied into the
    # ledger in the clear (see test_notes_on_payments_stay_out_of_the_ledger).
    request = drafted(w, amount="300.00", purpose=PURPOSE, key="c21-braces")
    invoice = canary_pdf()
    document = request_document_add(
        request=request, actor=caseworker, kind="quote", content=invoice, title=DOCUMENT_TITLE
    )
    payment = pay(w, request, today)
    assert payment.request.approvals.count() == 2
    payment = payment_acknowledge(
        request=request,
        actor=caseworker,
        arrived=usd("290.00"),
        received_on=today,
        note="The bank's advice shows a charge",
    )
    assert payment.shortfall == usd("10.00")

    # Another request, rejected with a note.
    other = request_draft(
        actor=caseworker,
        beneficiary=child,
        category="mental_health",
        amount=usd("50.00"),
        purpose=OTHER_PURPOSE,
        idempotency_key="c21-counselling",
    )
    other = request_reject(
        request=request_submit(request=other, actor=caseworker), actor=trustee, reason=REJECTION
    )
    assert other.status == "rejected"

    # Positive controls: the values are stored, and come back to those allowed to see them.
    revealed = beneficiary_identity_reveal(beneficiary=child, actor=trustee, purpose=REVEAL_PURPOSE)
    assert revealed == {"legal_name": LEGAL_NAME, "guardian_contact": GUARDIAN_CONTACT}
    stored = b"".join(document_stream(document))
    assert stored == invoice and DOCUMENT_TEXT.encode() in pdf_text(stored)
    child.refresh_from_db()
    assert child.date_of_birth == BIRTH

    # The pages and the API, as a trustee and as the caseworker.
    as_trustee, as_caseworker = client_for(trustee), client_for(caseworker)
    for client in (as_trustee, as_caseworker):
        page = client.get(reverse("beneficiary-detail", args=[trust.pk, child.pk]))
        assert page.status_code == 200
        page = client.get(reverse("request-detail", args=[request.pk]))
        assert page.status_code == 200 and PURPOSE in page.content.decode()
        page = client.get(reverse("request-detail", args=[other.pk]))
        assert page.status_code == 200 and REJECTION in page.content.decode()
    shown = as_caseworker.post(
        reverse("beneficiary-reveal", args=[trust.pk, child.pk]), {"purpose": REVEAL_PURPOSE}
    )
    assert shown.status_code == 200 and LEGAL_NAME in shown.content.decode()
    download = as_trustee.get(reverse("document-download", args=[document.uid]))
    assert download.status_code == 200
    assert DOCUMENT_TEXT.encode() in pdf_text(b"".join(download.streaming_content))
    _, raw_token = token_create(actor=trustee, name="c21 reader", scope="read")
    api = Client(HTTP_AUTHORIZATION=f"Token {raw_token}")
    assert api.get(reverse("api-beneficiary-detail", args=[child.pk])).status_code == 200
    response = api.get(reverse("api-request-detail", args=[request.pk]))
    assert response.status_code == 200 and PURPOSE in response.content.decode()

    # Every kind of document the reports app makes, asked for and generated through the queue,
    # downloaded; and who saw this child.
    call_command("audit_checkpoint", stdout=StringIO())
    period = Period(today - timedelta(days=60), today)
    reconciliation = _bank_reconciled(trust, trustee, today)
    asked = [
        report_request(
            kind=Kind.BENEFICIARY_STATEMENT,
            trust=trust,
            actor=trustee,
            period=period,
            beneficiary=child,
        ),
        report_request(kind=Kind.COURT_ACCOUNT, trust=trust, actor=trustee, period=period),
        report_request(kind=Kind.REMITTANCE_ADVICE, trust=trust, actor=trustee, payment=payment),
        report_request(kind=Kind.ORDER_STATUS, trust=trust, actor=trustee),
        report_request(kind=Kind.AUDIT_CERTIFICATE, trust=trust, actor=trustee),
        report_request(
            kind=Kind.BANK_RECONCILIATION,
            trust=trust,
            actor=trustee,
            reconciliation=reconciliation,
        ),
    ]
    assert {r.kind for r in asked} == set(Kind.values)
    pdfs: list[tuple[str, bytes]] = []
    for report in asked:
        report = Report.objects.get(pk=report.pk)
        assert report.status == Report.Status.DONE, (report.kind, report.error)
        download = as_trustee.get(reverse("report-download", args=[report.uid]))
        assert download.status_code == 200, report.kind
        content = b"".join(download.streaming_content) if download.streaming else download.content
        pdfs.append((f"the {report.kind} PDF", content))
    views_pdf = as_trustee.get(reverse("beneficiary-views-pdf", args=[trust.pk, child.pk]))
    assert views_pdf.status_code == 200
    pdfs.append(("the who-saw-this-child PDF", views_pdf.content))
    for where, content in pdfs:
        assert content.startswith(b"%PDF"), where
        search.add_pdf(where, content)

    bundle = add_bundle(search, tmp_path)
    events = next(p for p in bundle if p.name == "events.jsonl").read_text()
    assert "beneficiary.identity_revealed" in events and "request.rejected" in events

    # Every stored file: the reports and the sealed document.
    media = Path(settings.MEDIA_ROOT)
    stored_files = sorted(p for p in media.rglob("*") if p.is_file())
    for path in stored_files:
        content = path.read_bytes()
        where = f"the stored file {path.relative_to(media)}"
        if content.startswith(b"%PDF"):
            search.add_pdf(where, content)
        else:
            search.add(where, content)
    sealed = media / document.file.name
    assert sealed in stored_files and invoice not in sealed.read_bytes()

    # E-mails, Celery messages, the database.
    for n, message in enumerate(mail.outbox):
        where = f"e-mail #{n} to {message.to} ({message.subject!r})"
        search.add(f"{where}, subject", message.subject)
        search.add(f"{where}, body", message.body)
        for m, (content, mimetype) in enumerate(getattr(message, "alternatives", [])):
            search.add(f"{where}, alternative #{m} ({mimetype})", content)
        search.add(f"{where}, as sent", message.message().as_bytes())
    for n, text in enumerate(celery_messages.published):
        search.add(f"Celery message #{n} published to the broker", text)
    for n, text in enumerate(celery_messages.eager):
        search.add(f"Celery message #{n} (run eagerly): {json.loads(text)['task']}", text)
    dump = add_dump(search)
    # Sessions are signed and may be compressed, which would hide a value from the dump.
    sessions = list(Session.objects.all())
    for session in sessions:
        decoded = json.dumps(session.get_decoded(), default=str)
        search.add(f"the session {session.session_key[:6]}... (decoded)", decoded)

    # The log and the output, last: everything above may have written to them.
    search.add("the log", "\n".join(log_everything.lines))
    out, err = capfd.readouterr()
    search.add("the captured stdout", out)
    search.add("the captured stderr", err)

    # It did make things to search (the test cannot pass on nothing).
    assert len(mail.outbox) >= 5, [m.subject for m in mail.outbox]
    names = set(celery_messages.names)
    assert {
        "disbursements.tasks.notify_request_event",
        "reports.tasks.generate_report_task",
    } <= names, names
    assert len(pdfs) == 7 and len(stored_files) >= 7 and sessions
    assert any("canary-test: the log is captured" in line for line in log_everything.lines)
    assert len(dump) > 100_000 and PSEUDONYM.encode() in dump
    # Audit events are bytes (BLOB, bytea): the dump shows them as hex, which the search reads.
    assert b'"action":"beneficiary.identity_set"'.hex().encode() in dump.lower()

    no_leaks(search)


@WORKFLOW
def test_notes_on_payments_stay_out_of_the_ledger(settings: Any, tmp_path: Path) -> None:
    """What a caseworker says arrived short, and why a trustee says a transfer came back, are
    free text about a child: encrypted on the request's event, never in an entry's memo."""
    settings.MEDIA_ROOT = tmp_path / "media"
    today = timezone.localdate()
    w = make_world(today)
    first = drafted(w, amount="300.00", purpose=PURPOSE, key="c21-short")
    pay(w, first, today)
    payment_acknowledge(
        request=first, actor=w.caseworker, arrived=usd("290.00"), note=ACKNOWLEDGEMENT
    )
    second = drafted(w, amount="80.00", purpose=OTHER_PURPOSE, key="c21-back")
    pay(w, second, today)
    payment_return(request=second, actor=w.trustee, returned=usd("80.00"), reason=RETURN_REASON)
    search = Search(forms=PAYMENT_NOTE_FORMS)
    call_command("audit_checkpoint", stdout=StringIO())
    period = Period(today - timedelta(days=60), today)
    for kind, subject in [(Kind.COURT_ACCOUNT, None), (Kind.BENEFICIARY_STATEMENT, w.child)]:
        report = report_request(
            kind=kind, trust=w.trust, actor=w.trustee, period=period, beneficiary=subject
        )
        report = Report.objects.get(pk=report.pk)
        assert report.status == Report.Status.DONE, (kind, report.error)
        with report.file.open("rb") as handle:
            search.add_pdf(f"the {kind} PDF", handle.read())
    add_bundle(search, tmp_path)
    add_dump(search)
    no_leaks(search)
