"""The roles and what each may do, as data: named once here, decided in ``trust.access`` (docs/roles.md).

A user holds a role *in a trust*: trustee, auditor or administrator by an appointment with start and
end dates (``trust.models.Appointment``); caseworker by working for a care partner
(``disbursements.models.Caseworker``), in the trusts where that partner has children in its care,
and only for those children and what hangs off them. A superuser holds no role of its own: it is an
administrator of every trust (users and configuration, never money).

This module imports nothing of the apps, so every layer may read it.
"""

from __future__ import annotations

from enum import StrEnum

TRUSTEE = "trustee"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"
CASEWORKER = "caseworker"
ROLES = (TRUSTEE, AUDITOR, ADMINISTRATOR, CASEWORKER)
# Roles held by appointment to a trust (a caseworker's comes from their care partner).
APPOINTED = (TRUSTEE, AUDITOR, ADMINISTRATOR)
LABELS = {
    TRUSTEE: "Trustee",
    AUDITOR: "Auditor",
    ADMINISTRATOR: "Administrator",
    CASEWORKER: "Caseworker",
}


class Action(StrEnum):
    """What a user may want to do with a trust's things."""

    TRUST_VIEW = "trust.view"  # the trust exists for them: caption, their part of it
    LEDGER_VIEW = "ledger.view"  # cash, every sub-ledger, the journal, the trust identity
    TRUST_MANAGE = "trust.manage"  # terms, accounts, closing a period
    APPOINTMENT_MANAGE = "appointment.manage"  # who holds which role in the trust
    BENEFICIARY_VIEW = "beneficiary.view"
    BENEFICIARY_MANAGE = "beneficiary.manage"  # create, edit, place, identity
    IDENTITY_REVEAL = "identity.reveal"
    IDENTITY_ERASE = "identity.erase"  # propose or confirm erasing a child's identifying data
    VIEW_LOG = "beneficiary.view_log"  # who saw this child: every view, per child
    ORDER_MANAGE = "order.manage"  # defendants, orders, implicated people
    RECEIPT_MANAGE = "receipt.manage"  # record, allocate, reverse
    # bank statements: import, match, explain; reconcile and sign off; interest and fees
    BANK_MANAGE = "bank.manage"
    PARTNER_MANAGE = "partner.manage"  # vet, payout details, caseworkers, budgets, policy
    REQUEST_VIEW = "request.view"
    REQUEST_DRAFT = "request.draft"  # draft, submit, cancel one's own
    REQUEST_DECIDE = "request.decide"  # approve, reject, cancel
    DOCUMENT_ADD = "document.add"
    PAYMENT_RECORD = "payment.record"  # record, return
    PAYMENT_ACKNOWLEDGE = "payment.acknowledge"
    REPORT_VIEW = "report.view"
    REPORT_REQUEST = "report.request"  # ask for documents, check a printed code
    AUDIT_VIEW = "audit.view"  # the audit trail of the trust, verification, proofs


_ALL_READERS = frozenset({TRUSTEE, AUDITOR})

# Who may do what, in a trust. A caseworker's rows hold only for their partner's children and
# what hangs off them (requests, documents, payments, statements, remittance advices).
MAY: dict[Action, frozenset[str]] = {
    Action.TRUST_VIEW: frozenset(ROLES),
    Action.LEDGER_VIEW: _ALL_READERS,
    Action.TRUST_MANAGE: frozenset({TRUSTEE}),
    Action.APPOINTMENT_MANAGE: frozenset({ADMINISTRATOR}),
    Action.BENEFICIARY_VIEW: _ALL_READERS | {CASEWORKER},
    Action.BENEFICIARY_MANAGE: frozenset({TRUSTEE}),
    # The responsible caseworker (their partner cares for the child) and the trustees.
    Action.IDENTITY_REVEAL: frozenset({TRUSTEE, CASEWORKER}),
    Action.IDENTITY_ERASE: frozenset({TRUSTEE}),
    Action.VIEW_LOG: _ALL_READERS,
    Action.ORDER_MANAGE: frozenset({TRUSTEE}),
    Action.RECEIPT_MANAGE: frozenset({TRUSTEE}),
    Action.BANK_MANAGE: frozenset({TRUSTEE}),
    Action.PARTNER_MANAGE: frozenset({TRUSTEE}),
    Action.REQUEST_VIEW: _ALL_READERS | {CASEWORKER},
    Action.REQUEST_DRAFT: frozenset({CASEWORKER}),
    Action.REQUEST_DECIDE: frozenset({TRUSTEE}),
    Action.DOCUMENT_ADD: frozenset({TRUSTEE, CASEWORKER}),
    Action.PAYMENT_RECORD: frozenset({TRUSTEE}),
    Action.PAYMENT_ACKNOWLEDGE: frozenset({CASEWORKER}),
    Action.REPORT_VIEW: _ALL_READERS | {CASEWORKER},
    Action.REPORT_REQUEST: _ALL_READERS,
    Action.AUDIT_VIEW: _ALL_READERS,
}

# Who is told by email when a nightly check of a trust's books or of the audit trail fails.
ALERTED = (TRUSTEE, AUDITOR)


def may(role: str, action: Action) -> bool:
    return role in MAY[action]
