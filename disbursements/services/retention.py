"""What the disbursements app adds to the end of a trust (DOMAIN.md rule 17): closing waits for
every request to be settled, and erasing a child's identifying data blanks what this app keeps
about the child outside the child's data key. Both are registered in
``DisbursementsConfig.ready`` (``trust.services.closing``, ``trust.services.erasure``), so that
``trust`` never imports this app."""

from __future__ import annotations

import logging

from django.db import transaction

from disbursements.models import WAITS_FOR, DisbursementRequest, RequestDocument
from trust.models import Beneficiary, Trust

logger = logging.getLogger(__name__)

SHOWN = 10  # requests named one by one; the rest are counted


def requests_in_flight(trust: Trust) -> list[str]:
    """A closing check: each request of ``trust`` still waiting for something (a draft to
    submit, a decision, a payment, an acknowledgement), by number, pseudonym and status."""
    waiting = (
        DisbursementRequest.objects.filter(trust=trust, status__in=list(WAITS_FOR))
        .select_related("beneficiary")
        .order_by("pk")
    )
    count = waiting.count()
    lines = [
        f"Request #{r.pk} ({r.beneficiary.pseudonym}) is {r.get_status_display().lower()}: it "
        f"waits for {WAITS_FOR[r.status]}."
        for r in waiting[:SHOWN]
    ]
    if count > SHOWN:
        lines.append(f"And {count - SHOWN} more requests still waiting.")
    return lines


def child_requests_erase(beneficiary: Beneficiary) -> dict[str, int]:
    """An erasure step, inside the erasure's transaction: blanks the payee's name (encrypted
    under the field keys, not the child's key) and its blind index on the child's requests, and
    forgets the stored files of the child's documents. The rows keep their amounts, statuses,
    kinds and SHA-256 (what the ledger and the trail refer to).

    The sealed files could no longer be opened anyway (their key derived from the destroyed data
    key); a file stored in clear before documents were sealed could. Each row is marked sealed
    with no file (a download answers 410 Gone, ``rotate_field_keys`` leaves it alone), and the
    files are deleted from storage once the erasure commits (never for an erasure rolled back);
    a file that cannot be deleted is logged by its name (random, nothing about the child)."""
    payees = (
        DisbursementRequest.objects.filter(beneficiary=beneficiary)
        .exclude(payee_token="", payee_index="")
        .update(payee_token="", payee_index="")
    )
    documents = RequestDocument.objects.filter(request__beneficiary=beneficiary)
    names = [name for name in documents.values_list("file", flat=True) if name]
    documents.update(file="", sealed=True)
    storage = RequestDocument._meta.get_field("file").storage

    def delete_files() -> None:
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("an erased document's file %s could not be deleted", name)

    transaction.on_commit(delete_files)
    return {"payees_blanked": payees, "document_files": len(names)}
