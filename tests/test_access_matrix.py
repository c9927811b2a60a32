"""The access matrix: every URL of the site (walked from the URL configuration, the admin's too) x
every kind of user, on the things of trust A. Each cell says the status a user gets; a page they
may see never holds another trust's or another partner's pseudonym, amount or name; nothing is
written across trusts. A URL that is not in the matrix fails ``test_every_url_is_in_the_matrix``.

Trust A is the reports scenario (MV-1 in partner P1's care, MV-2 in P2's, a paid payment, a
supporting document, a statement, a batch); trust B has a child of its own. The users:

- ``trustee_a``, ``auditor_a``, ``admin_a``: appointed to A (staff, so the admin opens for them);
- ``caseworker_a`` (P1) and ``caseworker_p2`` (P2): caseworkers in A, of different partners;
- ``trustee_b``: a trustee of B only; ``auditor_all``: an auditor of A and B;
- ``root``: a superuser (an administrator everywhere, no reader of books); ``anon``: signed out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from moneyed import Money

from disbursements.models import RequestDocument
from disbursements.services import caseworker_add, request_document_add
from reports.models import Kind, Report
from reports.services import report_batch_create, report_generate, report_request
from tests.factories import TrustFactory, appoint, beneficiary, clean_pdf, fund, person
from tests.reports.scenario import LEGAL_NAME, Case, build_case
from tests.trust.bank.test_pages import IBAN, MAPPING, statement_csv
from trust.access import SCOPES
from trust.audit.checkpoints import audit_checkpoint
from trust.audit.runs import audit_verification_start
from trust.background import failed_job_record
from trust.bank.models import BankStatement, StatementLine
from trust.bank.services.charges import interest_allocate
from trust.bank.services.reconciliations import reconciliation_sign_off
from trust.bank.services.statements import bank_account_set, statement_import
from trust.models import Account, Appointment, AuditEvent, Erasure, Trust
from trust.roles import ADMINISTRATOR, AUDITOR, TRUSTEE

pytestmark = pytest.mark.django_db

USERS = (
    "anon",
    "trustee_a",
    "auditor_a",
    "admin_a",
    "caseworker_a",
    "caseworker_p2",
    "trustee_b",
    "auditor_all",
    "root",
)
SIGNED_IN = USERS[1:]
A_READERS = ("trustee_a", "auditor_a", "auditor_all")
AUDIT_READERS = (*A_READERS, "trustee_b")
PDF = clean_pdf()


@dataclass
class World:
    users: dict[str, Any]
    trust_a: Trust
    trust_b: Trust
    objects: dict[str, Any]
    # Text that must never reach a page each user may see (beyond what no one may ever see).
    hidden: dict[str, list[str]] = field(default_factory=dict)
    never: list[str] = field(default_factory=list)


def bank_of(case: Case) -> dict[str, Any]:
    """Trust A's USD bank account with a statement imported (the clerk's 3,000.00 matched on
    import, a fee waiting), its reconciliation signed off, and interest shared out."""
    trustee, start = case.trustee, case.period.start
    ledger_bank = case.trust.accounts.get(role=Account.Role.BANK, currency="USD")
    charge = interest_allocate(
        actor=trustee,
        trust=case.trust,
        bank_account=ledger_bank,
        amount=Money("1.00", "USD"),
        period_start=start,
        period_end=start + timedelta(days=20),
        effective_date=start + timedelta(days=21),
        idempotency_key="matrix-interest",
    )
    bank = bank_account_set(actor=trustee, account=ledger_bank, number=IBAN, bank_name="Invented")
    csv = statement_csv(
        ((start + timedelta(days=5)).isoformat(), "3000.00", "CLK-77", "Clerk of court"),
        ((start + timedelta(days=6)).isoformat(), "-5.00", "", "Account fee"),
    )
    statement_import(actor=trustee, bank=bank, data=csv, file_name="a.csv", mapping=MAPPING)
    statement = BankStatement.objects.get(bank_account=bank)
    rec = reconciliation_sign_off(actor=trustee, bank=bank, statement=statement)
    lines = StatementLine.objects.filter(bank_account=bank)
    return {
        "bank": bank,
        "bank_statement": statement,
        "bank_line": lines.get(state=StatementLine.State.UNMATCHED),
        "bank_match": lines.get(state=StatementLine.State.MATCHED).match,
        "reconciliation": rec,
        "charge": charge,
    }


@pytest.fixture
def world(settings: Any, tmp_path: Any, django_capture_on_commit_callbacks: Any) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    case = build_case()
    w = case.world
    a = case.trust
    b = TrustFactory(caption="United States v. Trust-B Invented")
    _, sub_b = beneficiary(b, "MV-B1")
    fund(b, sub_b, "777.77")
    users: dict[str, Any] = {"anon": None, "trustee_a": w.trustee, "caseworker_a": w.caseworker}
    users["auditor_a"] = person("auditor-a", AUDITOR, a, is_staff=True)
    users["admin_a"] = person("admin-a", ADMINISTRATOR, a, is_staff=True)
    users["caseworker_p2"] = person("caseworker-p2")
    caseworker_add(partner=w.other_partner, user=users["caseworker_p2"], actor=w.trustee)
    users["trustee_b"] = person("trustee-b", TRUSTEE, b, is_staff=True)
    users["auditor_all"] = appoint(person("auditor-all", AUDITOR, a, is_staff=True), b, AUDITOR)
    users["root"] = get_user_model().objects.create_superuser("root", "root@example.invalid")
    w.trustee.is_staff = True
    w.trustee.save(update_fields=["is_staff"])

    document = request_document_add(
        request=case.paid.request, actor=w.caseworker, kind="invoice", content=PDF
    )
    statement = report_generate(
        report_id=report_request(
            kind=Kind.BENEFICIARY_STATEMENT,
            trust=a,
            actor=w.trustee,
            period=case.period,
            beneficiary=case.mv1,
            enqueue=False,
        ).pk
    )
    batch = report_batch_create(trust=a, period=case.period, actor=w.trustee, enqueue=False)
    # A proposal to erase MV-1 (made directly: trust A is open, so the service would refuse).
    erasure = Erasure.objects.create(
        beneficiary=case.mv1, reason="The retention period has passed.", proposed_by=w.trustee2
    )
    banked = bank_of(case)
    audit_checkpoint()
    with django_capture_on_commit_callbacks(execute=True):
        run = audit_verification_start(actor=w.trustee)
    # A report of trust A whose task gave up (trust/background.py): a failed job of A.
    failed_job = failed_job_record(
        task_name="reports.tasks.generate_report_task",
        task_id="matrix",
        args=[statement.pk, None],
        kwargs={},
        error=ConnectionError(),
        attempts=6,
        trust=a,
    )
    bank = a.accounts.get(role=Account.Role.BANK, currency="USD").balance
    bank_text = f"{bank.amount:,.2f}"
    return World(
        users=users,
        trust_a=a,
        trust_b=b,
        objects={
            "trust": a,
            "document": document,
            "statement": statement,
            "batch": batch,
            "run": run,
            "payment": case.paid,
            "approved": case.reserved,
            "mv1": case.mv1,
            "order": case.order,
            "partner": case.mv1.care_partner,
            "appointment": Appointment.objects.filter(trust=a).order_by("pk").first(),
            "receipt": a.receipts.filter(status="posted").order_by("pk").first(),
            "event": AuditEvent.objects.filter(trust_id=a.pk, action="beneficiary.created").first(),
            "erasure": erasure,
            "failed_job": failed_job,
            **banked,
        },
        hidden={
            "caseworker_a": ["MV-2", bank_text],
            "caseworker_p2": ["MV-1", bank_text],
            "trustee_b": [a.caption, "MV-1", "MV-2", bank_text],
            "admin_a": ["MV-1", "MV-2", bank_text],
            "root": ["MV-1", "MV-2", bank_text],
        },
        never=[LEGAL_NAME],
    )


@dataclass(frozen=True)
class Cell:
    """A URL of the site: how to reach A's object with it, and the status each user gets."""

    kwargs: Callable[[World], dict[str, Any]]
    status: dict[str, int]
    method: str = "get"
    data: Callable[[World], dict[str, Any]] = lambda w: {}
    anon: int = 302  # to the sign-in page


def only(allowed: tuple[str, ...], yes: int, no: int) -> dict[str, int]:
    return {user: (yes if user in allowed else no) for user in SIGNED_IN}


def everyone(code: int) -> dict[str, int]:
    return dict.fromkeys(SIGNED_IN, code)


A_VIEWERS = (*A_READERS, "admin_a", "caseworker_a", "caseworker_p2", "root")
REQUEST_READERS = (*A_READERS, "caseworker_a")  # MV-1's requests: partner P1's
REPORT_ASKERS = (*A_READERS,)


def api(
    kwargs: Callable[[World], dict[str, Any]],
    status: dict[str, int],
    method: str = "get",
    data: Callable[[World], dict[str, Any]] = lambda w: {},
) -> Cell:
    """An API endpoint: the same rules as the pages; signed out is 401 (a problem document)."""
    return Cell(kwargs, status, method=method, data=data, anon=401)


MATRIX: dict[str, Cell] = {
    "home": Cell(lambda w: {}, everyone(200)),
    "tokens": Cell(lambda w: {}, everyone(200)),
    # Enrolment opens for anyone signed in; verifying sends one with no authenticator to enrol.
    "second-factor-setup": Cell(lambda w: {}, everyone(200)),
    "second-factor-verify": Cell(lambda w: {}, everyone(302)),
    "token-revoke": Cell(lambda w: {"token_key": "not-a-token"}, everyone(404), method="post"),
    # The API's schema and its documentation describe no one's data: open, like a login page.
    "api-schema": Cell(lambda w: {}, everyone(200), anon=200),
    "api-docs": Cell(lambda w: {}, everyone(200), anon=200),
    "api-swagger": Cell(lambda w: {}, everyone(200), anon=200),
    # Reports, the audit trail and the imports through the API: the pages' rules (report-*,
    # audit-*, order-import, receipt-import); another trust's object is 404, signed out 401.
    "api-report-list": api(lambda w: {}, everyone(200)),
    "api-report-detail": api(
        lambda w: {"uid": w.objects["statement"].uid}, only((*A_READERS, "caseworker_a"), 200, 404)
    ),
    "api-report-download": api(
        lambda w: {"uid": w.objects["statement"].uid}, only((*A_READERS, "caseworker_a"), 200, 404)
    ),
    "api-audit-event-list": api(lambda w: {}, only(AUDIT_READERS, 200, 403)),
    "api-audit-event-detail": api(
        lambda w: {"pk": w.objects["event"].pk},
        {**only(AUDIT_READERS, 200, 403), "trustee_b": 404},
    ),
    "api-audit-verification-list": api(lambda w: {}, only(AUDIT_READERS, 202, 403), method="post"),
    "api-audit-verification-detail": api(
        lambda w: {"operation_id": w.objects["run"].operation_id}, only(AUDIT_READERS, 200, 403)
    ),
    "api-audit-checkpoint": api(lambda w: {}, only(AUDIT_READERS, 200, 403)),
    "api-audit-bundle": api(lambda w: {}, {**only(AUDIT_READERS, 404, 403), "auditor_all": 200}),
    # Posted empty: the trustee is refused on the input (400), the trust's auditors as actors.
    "api-import-orders": api(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-import-receipts": api(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-trust-list": api(lambda w: {}, everyone(200)),
    "api-trust-detail": api(lambda w: {"pk": w.trust_a.pk}, only(A_VIEWERS, 200, 404)),
    # Terms and the period (trustees; an empty PATCH changes nothing) and appointments (admins).
    "api-trust-close-period": api(
        lambda w: {"pk": w.trust_a.pk}, only(A_VIEWERS, 400, 404), method="post"
    ),
    "api-policy": api(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "api-policy-budgets": api(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    # Empty bodies: the trustee's input is refused (400), the auditors may not (403).
    "api-policy-threshold": api(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-policy-fees": api(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-appointment-list": api(lambda w: {}, everyone(200)),
    "api-appointment-detail": api(
        lambda w: {"pk": w.objects["appointment"].pk}, only(("admin_a", "root"), 200, 404)
    ),
    "api-appointment-end": api(
        lambda w: {"pk": w.objects["appointment"].pk},
        only(("admin_a", "root"), 200, 404),
        method="post",
        data=lambda w: {"reason": "matrix"},
    ),
    "api-beneficiary-list": api(lambda w: {}, everyone(200)),
    "api-beneficiary-detail": api(
        lambda w: {"pk": w.objects["mv1"].pk}, only(REQUEST_READERS, 200, 404)
    ),
    # No purpose given: refused on the input (400) by whoever may see MV-1; unseen elsewhere.
    "api-beneficiary-reveal": api(
        lambda w: {"pk": w.objects["mv1"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    # The books, as their pages: lists are empty for anyone but A's readers; an empty POST is
    # refused on its input (400) by whoever may see the object, "not found" elsewhere.
    "api-defendant-list": api(lambda w: {}, everyone(200)),
    "api-defendant-detail": api(
        lambda w: {"pk": w.trust_a.defendants.order_by("pk").first().pk},
        only(A_READERS, 200, 404),
    ),
    "api-order-list": api(lambda w: {}, everyone(200)),
    "api-order-detail": api(lambda w: {"pk": w.objects["order"].pk}, only(A_READERS, 200, 404)),
    "api-order-amend": api(
        lambda w: {"pk": w.objects["order"].pk}, only(A_READERS, 400, 404), method="post"
    ),
    "api-receipt-list": api(lambda w: {}, everyone(200)),
    "api-receipt-detail": api(lambda w: {"pk": w.objects["receipt"].pk}, only(A_READERS, 200, 404)),
    "api-receipt-reverse": api(
        lambda w: {"pk": w.objects["receipt"].pk}, only(A_READERS, 400, 404), method="post"
    ),
    "api-receipt-allocate": api(
        lambda w: {"pk": w.objects["receipt"].pk}, only(A_READERS, 400, 404), method="post"
    ),
    "api-account-list": api(lambda w: {}, everyone(200)),
    "api-account-detail": api(
        lambda w: {"pk": w.objects["payment"].request.sub_ledger_id}, only(A_READERS, 200, 404)
    ),
    "api-account-postings": api(
        lambda w: {"pk": w.objects["payment"].request.sub_ledger_id}, only(A_READERS, 200, 404)
    ),
    "api-entry-list": api(lambda w: {}, everyone(200)),
    "api-entry-detail": api(
        lambda w: {"pk": w.objects["payment"].payment_entry_id}, only(A_READERS, 200, 404)
    ),
    "trust-detail": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_VIEWERS, 200, 404)),
    "audit-log": Cell(lambda w: {}, only(AUDIT_READERS, 200, 403)),
    "audit-verify": Cell(lambda w: {}, only(AUDIT_READERS, 302, 403), method="post"),
    "audit-verification": Cell(
        lambda w: {"operation_id": w.objects["run"].operation_id}, only(AUDIT_READERS, 200, 403)
    ),
    "audit-checkpoint": Cell(lambda w: {}, only(AUDIT_READERS, 200, 403)),
    "audit-event": Cell(
        lambda w: {"event_id": w.objects["event"].pk},
        {**only(AUDIT_READERS, 200, 403), "trustee_b": 404},
    ),
    "audit-bundle": Cell(
        lambda w: {},
        {**only(AUDIT_READERS, 404, 403), "auditor_all": 200},
    ),
    "document-download": Cell(
        lambda w: {"uid": w.objects["document"].uid},
        only((*A_READERS, "caseworker_a"), 200, 404),
    ),
    "report-list": Cell(lambda w: {}, everyone(200)),
    "report-create": Cell(
        lambda w: {},
        {**only((*REPORT_ASKERS, "trustee_b"), 302, 403)},
        method="post",
        data=lambda w: {"kind": Kind.ORDER_STATUS, "trust": w.trust_a.pk},
    ),
    "report-verify": Cell(lambda w: {}, only((*REPORT_ASKERS, "trustee_b"), 200, 403)),
    "report-detail": Cell(
        lambda w: {"uid": w.objects["statement"].uid}, only((*A_READERS, "caseworker_a"), 200, 404)
    ),
    "report-download": Cell(
        lambda w: {"uid": w.objects["statement"].uid}, only((*A_READERS, "caseworker_a"), 200, 404)
    ),
    "report-batch": Cell(
        lambda w: {"operation_id": w.objects["batch"].operation_id}, only(A_READERS, 200, 404)
    ),
    "payment-advice": Cell(
        lambda w: {"payment_id": w.objects["payment"].pk},
        {**only(A_READERS, 302, 404), "caseworker_a": 403},
        method="post",
    ),
    "journal": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "balances": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "payments-in-transit": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "entry-detail": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "entry_id": w.objects["payment"].payment_entry_id},
        only(A_READERS, 200, 404),
    ),
    "account-detail": Cell(
        lambda w: {
            "trust_id": w.trust_a.pk,
            "account_id": w.objects["payment"].request.sub_ledger_id,
        },
        only(A_READERS, 200, 404),
    ),
    "receipt-list": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "receipt-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "receipt-import": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "receipt-detail": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "receipt_id": w.objects["receipt"].pk},
        only(A_READERS, 200, 404),
    ),
    "receipt-allocate": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "receipt_id": w.objects["receipt"].pk},
        only(A_READERS, 400, 404),
        method="post",
    ),
    "receipt-reverse": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "receipt_id": w.objects["receipt"].pk},
        only(A_READERS, 400, 404),
        method="post",
    ),
    "beneficiary-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "beneficiary-detail": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        only(REQUEST_READERS, 200, 404),
    ),
    # The trustee's edit is saved (302); anyone else who may see MV-1 is refused on the form.
    "beneficiary-edit": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        {**only(REQUEST_READERS, 400, 404), "trustee_a": 302},
        method="post",
        data=lambda w: {"country": "PH", "care_partner": str(w.objects["mv1"].care_partner_id)},
    ),
    "beneficiary-identity": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        only(REQUEST_READERS, 400, 404),
        method="post",
    ),
    "beneficiary-reveal": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        only(REQUEST_READERS, 400, 404),
        method="post",
    ),
    # Who saw this child (page and PDF): the trust's trustees and auditors; MV-1's caseworker
    # sees the child but not the log (403); anyone who may not see MV-1 finds nothing (404).
    "beneficiary-views": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        {**only(REQUEST_READERS, 200, 404), "caseworker_a": 403},
    ),
    "beneficiary-views-pdf": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "beneficiary_id": w.objects["mv1"].pk},
        {**only(REQUEST_READERS, 200, 404), "caseworker_a": 403},
    ),
    "appointments": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(("admin_a", "root"), 200, 404)),
    "appointment-end": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "appointment_id": w.objects["appointment"].pk},
        only(("admin_a", "root"), 400, 404),
        method="post",
    ),
    "partner-list": Cell(lambda w: {}, everyone(200)),
    "partner-new": Cell(lambda w: {}, {**everyone(403), "trustee_a": 200, "trustee_b": 200}),
    "partner-detail": Cell(
        lambda w: {"pk": w.objects["partner"].pk},
        {**only((*A_READERS, "caseworker_a", "trustee_b"), 200, 404)},
    ),
    # The registry is shared: any trustee manages it (an empty form is refused on the page).
    "partner-vet": Cell(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 400, 404),
        method="post",
    ),
    "partner-payout": Cell(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 400, 404),
        method="post",
    ),
    "partner-caseworker": Cell(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 400, 404),
        method="post",
    ),
    "order-list": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "order-detail": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "order_id": w.objects["order"].pk},
        only(A_READERS, 200, 404),
    ),
    "order-import": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "order-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "order-amend": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "order_id": w.objects["order"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 200},
    ),
    "trust-new": Cell(lambda w: {}, {**everyone(403), "root": 200}),
    "trust-edit": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "trust-close": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    # The end of a trust (docs/security.md, "Retention and erasure"): trustees close it and
    # decide erasures, auditors read the retention page. Trust A is open: an erasure is refused
    # (400), a withdrawal of the proposal goes through (302).
    "trust-close-for-good": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "retention": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    # Failed background jobs (docs/operations.md): the books' readers see them, trustees retry or
    # dismiss (the auditors are refused, 403); anyone else finds nothing. The list of every
    # trust's is for whoever reads some trust's books (each sees their own trusts' jobs).
    "failed-jobs": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "failed-jobs-all": Cell(lambda w: {}, only(AUDIT_READERS, 200, 403)),
    "failed-job-retry": Cell(
        lambda w: {"job_id": w.objects["failed_job"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 302},
        method="post",
    ),
    "failed-job-dismiss": Cell(
        lambda w: {"job_id": w.objects["failed_job"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 302},
        method="post",
    ),
    "erasure-propose": Cell(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "erasure-confirm": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "erasure_id": w.objects["erasure"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "erasure-withdraw": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "erasure_id": w.objects["erasure"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 302},
        method="post",
    ),
    "trust-policy": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "policy-threshold": Cell(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "policy-fees": Cell(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "budget-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "people": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "defendant-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 400, 404), method="post"
    ),
    "implicated-new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 400, 404), method="post"
    ),
    "children": Cell(lambda w: {}, everyone(200)),
    "request-list": Cell(lambda w: {}, everyone(200)),
    "request-new": Cell(lambda w: {}, only(("caseworker_a", "caseworker_p2"), 200, 403)),
    "request-detail": Cell(
        lambda w: {"pk": w.objects["payment"].request_id},
        only(REQUEST_READERS, 200, 404),
    ),
    # Every step, POSTed empty or out of turn by everyone: those who may see the request get the
    # page back with the reason (400) or a message (302), nothing changes; others "not found".
    "request-submit": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 302, 404), method="post"
    ),
    "request-approve": Cell(
        lambda w: {"pk": w.objects["approved"].pk},
        # The trustee who approved it approving again changes nothing (the service says so).
        {**only(REQUEST_READERS, 400, 404), "trustee_a": 302},
        method="post",
    ),
    "request-reject": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "request-cancel": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "request-document-add": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "payment-record": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "payment-acknowledge": Cell(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    # The disbursements API: the pages' rules. Steps POSTed empty (or out of turn) to the approved
    # request: refused on the input (400) or by the service (403 for who may not act; the trustee
    # who approved it approving again changes nothing, 200); "not found" for who may not see it.
    "api-partner-list": api(lambda w: {}, everyone(200)),
    "api-partner-detail": api(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 200, 404),
    ),
    "api-partner-vet": api(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 400, 404),
        method="post",
    ),
    "api-partner-payout": api(
        lambda w: {"pk": w.objects["partner"].pk},
        only((*A_READERS, "caseworker_a", "trustee_b"), 400, 404),
        method="post",
    ),
    "api-request-list": api(lambda w: {}, everyone(200)),
    "api-request-detail": api(
        lambda w: {"pk": w.objects["payment"].request_id}, only(REQUEST_READERS, 200, 404)
    ),
    "api-request-submit": api(
        lambda w: {"pk": w.objects["approved"].pk},
        {**only(REQUEST_READERS, 403, 404), "caseworker_a": 400},
        method="post",
    ),
    "api-request-approve": api(
        lambda w: {"pk": w.objects["approved"].pk},
        {**only(REQUEST_READERS, 403, 404), "trustee_a": 200},
        method="post",
    ),
    "api-request-reject": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-request-cancel": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-request-document-add": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-request-payment-record": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-request-payment-acknowledge": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-request-payment-return": api(
        lambda w: {"pk": w.objects["approved"].pk}, only(REQUEST_READERS, 400, 404), method="post"
    ),
    "api-document-detail": api(
        lambda w: {"uid": w.objects["document"].uid}, only(REQUEST_READERS, 200, 404)
    ),
    "api-payment-list": api(lambda w: {}, everyone(200)),
    "api-payment-detail": api(
        lambda w: {"pk": w.objects["payment"].pk}, only(REQUEST_READERS, 200, 404)
    ),
    # The bank (trust/bank/urls.py and its API): the books' readers read, trustees write; an empty
    # POST is refused on its input (400) for the trustee, by role (403) for the auditors, and
    # "not found" for everyone else. Signing off again supersedes the signed-off one (302, 201).
    "bank-accounts": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "bank-details": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "account_id": w.objects["bank"].account_id},
        {**only(A_READERS, 403, 404), "trustee_a": 200},
    ),
    "bank-account": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank-auto-match": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 302},
        method="post",
    ),
    "bank-import": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 200},
    ),
    "bank-reconcile": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank-statement-reconcile": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "statement_id": w.objects["bank_statement"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank-sign-off": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "statement_id": w.objects["bank_statement"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 302},
        method="post",
    ),
    "bank-reconciliation": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "reconciliation_id": w.objects["reconciliation"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank-line": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "line_id": w.objects["bank_line"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank-line-match": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "line_id": w.objects["bank_line"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "bank-line-explain": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "line_id": w.objects["bank_line"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "bank-match-undo": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "match_id": w.objects["bank_match"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "bank_charges": Cell(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "bank_charge_detail": Cell(
        lambda w: {"trust_id": w.trust_a.pk, "charge_id": w.objects["charge"].pk},
        only(A_READERS, 200, 404),
    ),
    "bank_interest_new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "bank_fee_new": Cell(
        lambda w: {"trust_id": w.trust_a.pk}, {**only(A_READERS, 403, 404), "trustee_a": 200}
    ),
    "api-bank-account-list": api(lambda w: {"trust_id": w.trust_a.pk}, only(A_READERS, 200, 404)),
    "api-bank-statement-list": api(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        only(A_READERS, 200, 404),
    ),
    "api-bank-line-list": api(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        only(A_READERS, 200, 404),
    ),
    "api-bank-line-detail": api(
        lambda w: {"trust_id": w.trust_a.pk, "line_id": w.objects["bank_line"].pk},
        only(A_READERS, 200, 404),
    ),
    "api-bank-reconciliation-figures": api(
        lambda w: {"trust_id": w.trust_a.pk, "statement_id": w.objects["bank_statement"].pk},
        only(A_READERS, 200, 404),
    ),
    "api-bank-reconciliation-detail": api(
        lambda w: {"trust_id": w.trust_a.pk, "reconciliation_id": w.objects["reconciliation"].pk},
        only(A_READERS, 200, 404),
    ),
    "api-bank-import": api(
        lambda w: {"trust_id": w.trust_a.pk, "bank_id": w.objects["bank"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-bank-line-explain": api(
        lambda w: {"trust_id": w.trust_a.pk, "line_id": w.objects["bank_line"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-bank-match-list": api(
        lambda w: {"trust_id": w.trust_a.pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-bank-match-detail": api(
        lambda w: {"trust_id": w.trust_a.pk, "match_id": w.objects["bank_match"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="delete",
    ),
    "api-bank-match-undo": api(
        lambda w: {"trust_id": w.trust_a.pk, "match_id": w.objects["bank_match"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 400},
        method="post",
    ),
    "api-bank-sign-off": api(
        lambda w: {"trust_id": w.trust_a.pk, "statement_id": w.objects["bank_statement"].pk},
        {**only(A_READERS, 403, 404), "trustee_a": 201},
        method="post",
    ),
    # For load balancers and monitoring (docs/operations.md): states only, open to anyone;
    # /metrics is not there without TRUST_METRICS_TOKEN (tests/test_operations.py with one).
    "healthz": Cell(lambda w: {}, everyone(200), anon=200),
    "readyz": Cell(lambda w: {}, everyone(200), anon=200),
    "metrics": Cell(lambda w: {}, everyone(404), anon=404),
    "login": Cell(lambda w: {}, everyone(200), anon=200),
    "logout": Cell(lambda w: {}, everyone(302), method="post"),
    # One's own password (signed in) and the reset by e-mail (open, like the sign-in page; a link
    # with a token that is not valid says so, 200).
    "password-change": Cell(lambda w: {}, everyone(200)),
    "password-change-done": Cell(lambda w: {}, everyone(200)),
    "password-reset": Cell(lambda w: {}, everyone(200), anon=200),
    "password-reset-sent": Cell(lambda w: {}, everyone(200), anon=200),
    "password-reset-confirm": Cell(
        lambda w: {"uidb64": "MQ", "token": "not-a-token"}, everyone(200), anon=200
    ),
    "password-reset-complete": Cell(lambda w: {}, everyone(200), anon=200),
}


def url_names(patterns: list[Any] | None = None, namespace: str = "") -> set[str]:
    """Every named URL of the site, with its namespace (``admin:index``)."""
    found: set[str] = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found |= url_names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            found.add(f"{namespace}{entry.name}")
    return found


def client_for(w: World, who: str) -> Client:
    client = Client()
    if w.users[who] is not None:
        client.force_login(w.users[who])
    return client


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return ""  # a PDF or a document: checked by status and by whose it is
    return response.content.decode(errors="replace")


def assert_nothing_hidden(w: World, who: str, url: str, response: Any) -> None:
    text = body(response)
    for hidden in [*w.never, *w.hidden.get(who, [])]:
        assert hidden not in text, f"{who} sees {hidden!r} at {url}"


# --- the site's own pages ---------------------------------------------------------------------


def test_every_url_is_in_the_matrix() -> None:
    site = {name for name in url_names() if not name.startswith("admin:")}
    assert site == set(MATRIX), "a URL without a row in MATRIX (or a row for no URL)"


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_access_matrix(world: World, name: str) -> None:
    cell = MATRIX[name]
    url = reverse(name, kwargs=cell.kwargs(world))
    reports_before = Report.objects.filter(trust=world.trust_a).count()
    for who in USERS:
        client = client_for(world, who)
        response = getattr(client, cell.method)(url, cell.data(world))
        expected = cell.anon if who == "anon" else cell.status[who]
        assert response.status_code == expected, f"{who} {cell.method.upper()} {url}"
        if response.status_code == 200:
            assert_nothing_hidden(world, who, url, response)
        if who == "anon" and expected == 302:
            assert response["Location"].startswith("/login/")
    if cell.method == "post" and name.startswith(
        ("request-", "payment-", "api-request-", "api-payment-")
    ):
        approved = world.objects["approved"]
        approved.refresh_from_db()
        assert approved.status == "approved" and not approved.documents.exists(), name
    if name == "report-create":
        # Trust A's people asked three times (one order status, asked again returns it or a
        # fresh one); trust B's trustee was refused: "Choose a trust", nothing written.
        made = Report.objects.filter(trust=world.trust_a).exclude(kind=Kind.BENEFICIARY_STATEMENT)
        assert set(made.values_list("requested_by__username", flat=True)) <= {
            world.users[u].username for u in A_READERS
        }
        assert Report.objects.filter(trust=world.trust_a).count() > reports_before


def test_caseworkers_see_only_their_partners_child_on_the_trust_page(world: World) -> None:
    url = reverse("trust-detail", kwargs={"trust_id": world.trust_a.pk})
    mine = body(client_for(world, "caseworker_a").get(url))
    assert "MV-1" in mine and "MV-2" not in mine
    theirs = body(client_for(world, "caseworker_p2").get(url))
    assert "MV-2" in theirs and "MV-1" not in theirs
    assert "Trust identity" not in mine + theirs  # no trust-wide cash figures


def test_a_trustee_of_another_trust_finds_nothing_of_this_one(world: World) -> None:
    client = client_for(world, "trustee_b")
    home = body(client.get("/"))
    assert world.trust_b.caption in home and world.trust_a.caption not in home
    audit = body(client.get(reverse("audit-log")))
    assert "MV-B1" in audit and "MV-1" not in audit
    assert RequestDocument.objects.filter(request__trust=world.trust_a).exists()


# --- the admin ----------------------------------------------------------------------------------

ADMIN_SITE_URLS = {
    "admin:index",
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:autocomplete",
    "admin:jsi18n",
    "admin:view_on_site",
    "admin:app_list",
}
MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")
STAFF = ("trustee_a", "auditor_a", "admin_a", "trustee_b", "auditor_all", "root")


def admin_model_urls() -> set[str]:
    return {
        f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"
        for model in admin.site._registry
        for view in MODEL_VIEWS
    }


# Django's user and group pages and the schedule (django-celery-beat): users and configuration,
# for superusers only.
OUR_APPS = ("trust", "disbursements", "reports")
AUTH_EXTRA_URLS = {"admin:auth_user_password_change"}


def test_every_admin_url_is_in_the_matrix() -> None:
    admin_urls = {name for name in url_names() if name.startswith("admin:")}
    assert admin_urls == ADMIN_SITE_URLS | admin_model_urls() | AUTH_EXTRA_URLS


def an_object_of_trust_a(model: type[Model], trust: Trust) -> Model | None:
    label = model._meta.label_lower
    if label not in SCOPES:
        return None  # the registry of partners: not a trust's
    path, _ = SCOPES[label]
    return model._default_manager.filter(**{path: trust.pk}).order_by("pk").first()


def test_admin_index_and_app_lists(world: World) -> None:
    for who in USERS:
        client = client_for(world, who)
        for url in ("/admin/", "/admin/trust/", "/admin/disbursements/"):
            response = client.get(url)
            expected = 200 if who in STAFF else 302
            assert response.status_code == expected, f"{who} {url}"
            if response.status_code == 200:
                assert_nothing_hidden(world, who, url, response)


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label_lower)
def test_admin_access_matrix(world: World, model: type[Model]) -> None:
    """Changelists open for staff who hold a role and list nothing they may not see; an
    object of trust A opens for A's trustee and is "not there" for one with no role in A; add,
    change and delete are refused to everyone."""
    meta = model._meta
    base = f"/admin/{meta.app_label}/{meta.model_name}/"
    obj = an_object_of_trust_a(model, world.trust_a)
    for who in USERS:
        client = client_for(world, who)
        changelist = client.get(base)
        if who not in STAFF:
            assert changelist.status_code == 302, f"{who} {base}"
            continue
        if meta.app_label not in OUR_APPS:
            assert changelist.status_code == (200 if who == "root" else 403), f"{who} {base}"
            continue
        assert changelist.status_code == 200, f"{who} {base}"
        assert_nothing_hidden(world, who, base, changelist)
        assert client.get(f"{base}add/").status_code == 403, f"{who} add {base}"
        if obj is None:
            continue
        for suffix in (f"{obj.pk}/change/", f"{obj.pk}/history/"):
            response = client.get(base + suffix)
            if who == "trustee_b":
                assert response.status_code == 302, f"{who} {base}{suffix}"  # "doesn't exist"
            if who == "trustee_a" and meta.label_lower != "trust.appointment":
                assert response.status_code == 200, f"{who} {base}{suffix}"
            if response.status_code == 200:
                assert_nothing_hidden(world, who, base + suffix, response)
        assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code in (302, 403)
        assert model._default_manager.filter(pk=obj.pk).exists()
