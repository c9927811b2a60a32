"""The migrations that brought each child a data key convert a database already in use: a date of
birth, an identity under the field keys, a request's purpose and reasons and a document's title,
written in the old form, read the same afterwards and are no longer in clear. Invented data."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from trust import crypto

BEFORE = [("trust", "0014_trust_caseworker_second_factor"), ("disbursements", "0004_payments")]
AFTER = [
    ("trust", "0015_child_data_keys_retention"),
    ("disbursements", "0005_child_data_encrypted"),
]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_rows_are_converted_and_read_the_same(postgres_tx: None) -> None:
    # PostgreSQL: how production databases are converted. (Going back to the old schema to
    # write the old rows is not possible on SQLite: its table rebuild trips the ledger triggers.)
    old = _migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        Trust = old.get_model("trust", "Trust")
        Account = old.get_model("trust", "Account")
        Beneficiary = old.get_model("trust", "Beneficiary")
        Identity = old.get_model("trust", "BeneficiaryIdentity")
        Partner = old.get_model("disbursements", "CarePartner")
        Request = old.get_model("disbursements", "DisbursementRequest")
        Event = old.get_model("disbursements", "RequestEvent")
        Document = old.get_model("disbursements", "RequestDocument")
        person = User.objects.create(username="migrating-caseworker")
        trust = Trust.objects.create(caption="Invented v. Migration", court="C", case_number="1")
        child = Beneficiary.objects.create(
            trust=trust, pseudonym="MV-1", date_of_birth=date(2013, 5, 6)
        )
        Identity.objects.create(
            beneficiary=child,
            token=crypto.encrypt_text(
                json.dumps({"legal_name": "Invented Quorra Pell", "guardian_contact": ""}),
                context=f"beneficiary-identity:{child.pk}",
            ),
        )
        partner = Partner.objects.create(name="Invented Partner", country="PH")
        account = Account.objects.create(
            trust=trust, code="2100-MV-1", name="s", type="liability", currency="USD"
        )
        request = Request.objects.create(
            trust=trust,
            beneficiary=child,
            partner=partner,
            sub_ledger=account,
            category="medical",
            purpose="Invented Thimbledown clinic visit",
            budget_override_reason="Invented Marrowgate override",
            amount_minor=100,
            currency="USD",
            requested_by=person,
            idempotency_key="m1",
        )
        Event.objects.create(
            request=request,
            action="rejected",
            actor=person,
            status_to="rejected",
            reason="Invented Brackenfold reason",
        )
        Document.objects.create(
            request=request,
            kind="quote",
            file="requests/x.pdf",
            content_type="application/pdf",
            size=1,
            sha256="0" * 64,
            title="Invented Pellwick invoice",
            uploaded_by=person,
        )
    finally:
        new = _migrate(AFTER)
    from disbursements.models import DisbursementRequest
    from trust.models import Beneficiary as Child
    from trust.models import BeneficiaryIdentity

    converted = Child.objects.get(pseudonym="MV-1")
    assert converted.date_of_birth == date(2013, 5, 6) and converted.uid
    token = BeneficiaryIdentity.objects.get(beneficiary=converted).token
    text = converted.data_key().decrypt_text(token, context=f"beneficiary-identity:{converted.pk}")
    assert json.loads(text)["legal_name"] == "Invented Quorra Pell"
    moved = DisbursementRequest.objects.get(idempotency_key="m1")
    assert moved.purpose == "Invented Thimbledown clinic visit"
    assert moved.budget_override_reason == "Invented Marrowgate override"
    assert moved.events.get().reason == "Invented Brackenfold reason"
    assert moved.documents.get().title == "Invented Pellwick invoice"
    assert not moved.documents.get().sealed  # rotate_field_keys seals the file
    with connection.cursor() as cursor:
        for table in (
            "trust_beneficiary",
            "trust_beneficiary_identity",
            "disbursements_request",
            "disbursements_request_event",
            "disbursements_request_document",
        ):
            cursor.execute(f"SELECT * FROM {table}")
            dumped = repr(cursor.fetchall())
            for secret in (
                "2013-05-06",
                "Quorra",
                "Thimbledown",
                "Marrowgate",
                "Brackenfold",
                "Pellwick",
            ):
                assert secret not in dumped, (secret, table)
    assert new is not None
