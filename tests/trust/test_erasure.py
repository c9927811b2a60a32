"""Erasing a child's identifying data after the retention period (DOMAIN.md rule 17,
trust.services.erasure): two trustees, only once the trust is closed and the period has passed;
the child's data key is destroyed, and the ledger and the audit trail stay whole and verifiable.
All names are invented."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from disbursements.models import DisbursementRequest, RequestDocument
from disbursements.services import Payee, request_document_add, request_draft
from tests.disbursements.test_requests import World, make_world, usd
from tests.factories import TrustFactory, clean_pdf, person
from tests.trust.test_check_ledger import run_check
from tests.trust.test_trust_close import PURPOSE, settle
from trust.errors import first_code
from trust.models import (
    ERASED,
    Account,
    AuditEvent,
    Beneficiary,
    BeneficiaryIdentity,
    Erasure,
    IdentityErased,
    JournalEntry,
)
from trust.roles import AUDITOR, TRUSTEE
from trust.selectors import trust_identity
from trust.services import erasure as erasure_service
from trust.services.closing import trust_close
from trust.services.erasure import (
    erasure_confirm,
    erasure_propose,
    erasure_withdraw,
    retention_ends,
    years_after,
)
from trust.services.people import (
    beneficiary_identity_reveal,
    beneficiary_identity_set,
    beneficiary_update,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate
LEGAL_NAME = "Invented Erasable Childname"
TITLE = "Invoice naming Invented Erasable Childname"
PAYEE = "Invented Tutor Payeename"
REASON = "The retention period under the trust's terms has passed."


class Case:
    """A closed trust whose child MV-1 had an identity, a date of birth, a paid request (with a
    payee) and a document."""

    def __init__(self, w: World, request: Any, document: Any) -> None:
        self.w, self.request, self.document = w, request, document
        self.trust, self.mv1 = w.trust, w.mv1


@pytest.fixture
def case(settings: Any, tmp_path: Any) -> Case:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    w = make_world()
    beneficiary_identity_set(
        beneficiary=w.mv1, actor=w.trustee, legal_name=LEGAL_NAME, guardian_contact="+63 900"
    )
    beneficiary_update(beneficiary=w.mv1, actor=w.trustee, date_of_birth=date(2012, 2, 29))
    request = settle(w, payee=Payee(kind="provider", name=PAYEE))
    document = request_document_add(
        request=request, actor=w.caseworker, kind="invoice", content=clean_pdf("e"), title=TITLE
    )
    trust_close(trust=w.trust, actor=w.trustee, closed_on=TODAY())
    w.trust.refresh_from_db()
    return Case(w, request, document)


@pytest.fixture
def later(monkeypatch: Any) -> date:
    """Eight years on, in the trust's calendar: past the default seven years of retention."""
    day = years_after(TODAY(), 8)
    monkeypatch.setattr(erasure_service, "trust_today", lambda trust: day)
    return day


def codes(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [e.code for errors in error.error_dict.values() for e in errors]
    return [e.code for e in error.error_list]


def refused(beneficiary: Beneficiary, actor: Any, reason: str = REASON) -> list[str]:
    """The codes ``erasure_propose`` refuses with; no erasure row and no event is written."""
    rows, events = Erasure.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as info:
        erasure_propose(beneficiary=beneficiary, actor=actor, reason=reason)
    assert (Erasure.objects.count(), AuditEvent.objects.count()) == (rows, events)
    return codes(info.value)


def fresh(child: Beneficiary) -> Beneficiary:
    return Beneficiary.objects.get(pk=child.pk)


def erase(case: Case) -> Erasure:
    proposal = erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    return erasure_confirm(erasure=proposal, actor=case.w.trustee2)


# --- when ----------------------------------------------------------------------------------------


def test_the_retention_period_counts_calendar_years() -> None:
    assert years_after(date(2026, 12, 7), 7) == date(2033, 12, 7)
    assert years_after(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert years_after(date(2024, 2, 29), 7) == date(2031, 3, 1)


def test_propose_is_refused_while_the_trust_is_open() -> None:
    w = make_world()
    assert retention_ends(w.trust) is None
    assert refused(w.mv1, w.trustee) == ["trust_open"]


def test_propose_is_refused_before_the_retention_period_ends(case: Case, monkeypatch) -> None:
    ends = retention_ends(case.trust)
    assert ends == years_after(TODAY(), 7)
    monkeypatch.setattr(erasure_service, "trust_today", lambda trust: ends - timedelta(days=1))
    with pytest.raises(ValidationError) as info:
        erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    assert f"ends on {ends:%Y-%m-%d}" in info.value.messages[0]
    assert refused(case.mv1, case.w.trustee) == ["retention_running"]
    monkeypatch.setattr(erasure_service, "trust_today", lambda trust: ends)
    assert erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON).pk


# --- who -----------------------------------------------------------------------------------------


def test_only_a_trustee_of_the_trust_proposes(case: Case, later: date) -> None:
    auditor = person("auditor", AUDITOR, case.trust)
    elsewhere = person("trustee-elsewhere", TRUSTEE, TrustFactory())
    for who in (auditor, case.w.caseworker, elsewhere):
        assert refused(case.mv1, who) == ["not_trustee"], who
    assert refused(case.mv1, None) == ["no_actor"]


def test_a_reason_is_needed(case: Case, later: date) -> None:
    for reason in ("", "   ", "ok", "x" * 501):
        assert refused(case.mv1, case.w.trustee, reason) in (["required"], ["too_long"])


def test_the_trustee_who_proposed_cannot_confirm(case: Case, later: date) -> None:
    proposal = erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    with pytest.raises(ValidationError) as info:
        erasure_confirm(erasure=proposal, actor=case.w.trustee)
    assert codes(info.value) == ["same_trustee"]
    assert not fresh(case.mv1).erased
    # The database says no too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Erasure.objects.filter(pk=proposal.pk).update(
            status=Erasure.Status.DONE, decided_by=case.w.trustee, decided_at=timezone.now()
        )
    # And an auditor cannot confirm either.
    with pytest.raises(ValidationError) as auditor:
        erasure_confirm(erasure=proposal, actor=person("auditor", AUDITOR, case.trust))
    assert codes(auditor.value) == ["not_trustee"]


def test_one_open_proposal_per_child(case: Case, later: date) -> None:
    erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    assert refused(case.mv1, case.w.trustee2) == ["already_proposed"]


def test_a_withdrawn_proposal_erases_nothing(case: Case, later: date) -> None:
    proposal = erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    erasure_withdraw(erasure=proposal, actor=case.w.trustee)
    assert Erasure.objects.get(pk=proposal.pk).status == Erasure.Status.WITHDRAWN
    assert erasure_withdraw(erasure=proposal, actor=case.w.trustee2).status == "withdrawn"
    with pytest.raises(ValidationError) as info:
        erasure_confirm(erasure=proposal, actor=case.w.trustee2)
    assert codes(info.value) == ["withdrawn"]
    assert not fresh(case.mv1).erased
    assert AuditEvent.objects.filter(action="beneficiary.erasure_withdrawn").count() == 1
    # A new proposal may follow.
    assert erasure_propose(beneficiary=case.mv1, actor=case.w.trustee2, reason=REASON).pk


# --- what --------------------------------------------------------------------------------------


def test_confirming_destroys_the_childs_key(case: Case, later: date) -> None:
    done = erase(case)
    assert done.status == Erasure.Status.DONE and done.decided_by == case.w.trustee2
    child = fresh(case.mv1)
    assert child.erased and child.data_key_token == "" and child.dob_token == ""
    assert child.date_of_birth is None
    with pytest.raises(IdentityErased):
        child.data_key()
    assert BeneficiaryIdentity.objects.get(beneficiary=child).token == ""
    assert (
        beneficiary_identity_reveal(beneficiary=child, actor=case.w.trustee, purpose="A court asks")
        == {}
    )
    request = DisbursementRequest.objects.get(pk=case.request.pk)
    assert request.purpose == ERASED and request.payee_token == "" and request.payee_index == ""
    assert all(event.reason in ("", ERASED) for event in request.events.all())
    document = RequestDocument.objects.get(pk=case.document.pk)
    assert document.title == ERASED and document.sealed and not document.file
    # Amounts, statuses and pseudonyms stay; the trail holds no identifying data.
    assert request.amount == usd("1000.00") and request.status == "acknowledged"
    event = AuditEvent.objects.get(action="beneficiary.identity_erased")
    data = bytes(event.data)
    assert b"MV-1" in data and b'"confirmed_by"' in data
    for secret in (LEGAL_NAME, PAYEE, PURPOSE, TITLE, REASON):
        assert secret.encode() not in data
    # Confirming again (a double click) changes nothing.
    assert erasure_confirm(erasure=done, actor=case.w.trustee2).pk == done.pk
    assert AuditEvent.objects.filter(action="beneficiary.identity_erased").count() == 1


def test_the_ledger_and_the_trail_still_verify(case: Case, later: date) -> None:
    entries = JournalEntry.objects.filter(trust=case.trust).count()
    balances = dict(Account.objects.filter(trust=case.trust).values_list("code", "balance_minor"))
    erase(case)
    assert JournalEntry.objects.filter(trust=case.trust).count() == entries
    assert (
        dict(Account.objects.filter(trust=case.trust).values_list("code", "balance_minor"))
        == balances
    )
    assert all(line.holds for line in trust_identity(trust=case.trust).values())
    assert run_check()[0] == 0
    out = StringIO()
    call_command("verify_audit", "--deep", stdout=out)
    assert "OK: the audit trail verifies" in out.getvalue()


def test_key_rotation_runs_clean_after_an_erasure(case: Case, later: date) -> None:
    erase(case)
    keys = [Fernet.generate_key().decode(), *django_settings.FIELD_ENCRYPTION_KEYS]
    out, err = StringIO(), StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=keys):
        call_command("rotate_field_keys", stdout=out, stderr=err)
    assert "Done." in out.getvalue() and err.getvalue() == ""
    assert fresh(case.mv1).data_key_token == ""


def test_a_document_stored_in_clear_is_deleted_with_the_erasure(
    case: Case, later: date, django_capture_on_commit_callbacks: Any
) -> None:
    """A document stored before documents were sealed is readable without the child's key: the
    erasure deletes its file once it commits, and rotation finds nothing left to seal."""
    storage = RequestDocument._meta.get_field("file").storage
    clear = storage.save("requests/legacy-clear.pdf", ContentFile(clean_pdf("legacy")))
    RequestDocument.objects.filter(pk=case.document.pk).update(file=clear, sealed=False)
    with django_capture_on_commit_callbacks(execute=True):
        erase(case)
    assert not storage.exists(clear)
    document = RequestDocument.objects.get(pk=case.document.pk)
    assert document.sealed and not document.file
    out, err = StringIO(), StringIO()
    call_command("rotate_field_keys", stdout=out, stderr=err)
    assert "RequestDocument files: 0 of 0" in out.getvalue() and err.getvalue() == ""


def test_sealed_files_are_deleted_once_the_erasure_commits(
    case: Case, later: date, django_capture_on_commit_callbacks: Any
) -> None:
    storage = RequestDocument._meta.get_field("file").storage
    name = case.document.file.name
    proposal = erasure_propose(beneficiary=case.mv1, actor=case.w.trustee, reason=REASON)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        erasure_confirm(erasure=proposal, actor=case.w.trustee2)
    assert storage.exists(name)  # not before the commit
    for callback in callbacks:
        callback()
    assert not storage.exists(name)


def test_nothing_more_is_recorded_for_an_erased_child(case: Case, later: date) -> None:
    erase(case)
    child = fresh(case.mv1)
    with pytest.raises(ValidationError) as identity:
        beneficiary_identity_set(beneficiary=child, actor=case.w.trustee, legal_name="Another")
    assert first_code(identity.value) == "erased"
    with pytest.raises(ValidationError) as born:
        beneficiary_update(beneficiary=child, actor=case.w.trustee, date_of_birth=date(2012, 1, 1))
    assert first_code(born.value) == "erased"
    with pytest.raises(ValidationError) as document:
        request_document_add(
            request=DisbursementRequest.objects.get(pk=case.request.pk),
            actor=case.w.caseworker,
            kind="proof",
            content=clean_pdf("n"),
        )
    assert first_code(document.value) == "erased"
    with pytest.raises(ValidationError) as request:
        request_draft(
            actor=case.w.caseworker,
            beneficiary=child,
            category="education",
            amount=usd("1.00"),
            purpose="Books",
            idempotency_key="after-erasure",
        )
    assert first_code(request.value) == "erased"
    assert refused(child, case.w.trustee) == ["erased"]


# --- the pages -----------------------------------------------------------------------------------


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def test_two_trustees_erase_on_the_retention_page(case: Case, later: date) -> None:
    first, second = client_for(case.w.trustee), client_for(case.w.trustee2)
    page_url = reverse("retention", args=[case.trust.pk])
    page = first.get(page_url)
    assert page.status_code == 200 and "Propose an erasure" in text(page)
    propose = reverse("erasure-propose", args=[case.trust.pk])
    empty = first.post(propose, {"beneficiary": case.mv1.pk, "reason": ""})
    assert empty.status_code == 400 and not Erasure.objects.exists()
    assert first.post(propose, {"beneficiary": case.mv1.pk, "reason": REASON}).status_code == 302
    proposal = Erasure.objects.get()
    confirm = reverse("erasure-confirm", args=[case.trust.pk, proposal.pk])
    assert confirm not in text(first.get(page_url))  # not for the proposer
    mine = first.post(confirm)
    assert mine.status_code == 400 and "another trustee" in text(mine)
    assert confirm in text(second.get(page_url))
    assert second.post(confirm).status_code == 302
    assert fresh(case.mv1).erased
    after = text(second.get(page_url))
    assert "Erased on" in after and case.w.trustee2.username in after

    child = text(first.get(reverse("beneficiary-detail", args=[case.trust.pk, case.mv1.pk])))
    assert "(erased)" in child and "by two trustees" in child
    assert reverse("beneficiary-reveal", args=[case.trust.pk, case.mv1.pk]) not in child
    request_page = text(first.get(reverse("request-detail", args=[case.request.pk])))
    assert "(erased)" in request_page and PURPOSE not in request_page and TITLE not in request_page
    download = first.get(reverse("document-download", args=[case.document.uid]))
    assert download.status_code == 410


def test_the_retention_pages_for_other_people(case: Case, later: date) -> None:
    propose = reverse("erasure-propose", args=[case.trust.pk])
    data = {"beneficiary": case.mv1.pk, "reason": REASON}
    auditor = client_for(person("auditor", AUDITOR, case.trust))
    assert auditor.get(reverse("retention", args=[case.trust.pk])).status_code == 200
    assert auditor.post(propose, data).status_code == 403
    assert client_for(case.w.caseworker).post(propose, data).status_code == 404
    elsewhere = client_for(person("trustee-elsewhere", TRUSTEE, TrustFactory()))
    assert elsewhere.post(propose, data).status_code == 404
    assert not Erasure.objects.exists()


@pytest.mark.second_factor
def test_proposing_and_confirming_need_a_fresh_second_factor(case: Case, later: date) -> None:
    from tests.trust.test_second_factor import enrol
    from trust.twofactor import VERIFIED_AT

    client = Client()
    client.force_login(case.w.trustee)
    enrol(client)
    session = client.session
    session[VERIFIED_AT] = (timezone.now() - timedelta(minutes=16)).isoformat()
    session.save()
    stale = client.post(
        reverse("erasure-propose", args=[case.trust.pk]),
        {"beneficiary": case.mv1.pk, "reason": REASON},
    )
    assert stale.status_code == 302 and "fresh=1" in stale["Location"]
    assert not Erasure.objects.exists()
