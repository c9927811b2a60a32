"""The disbursement services: care partners, caseworkers, policy and budgets, requests up to their
decision, their documents and notifications, and payments. One module per concept:

- ``partners``: care partners, their vetting (``vetting_current``) and payout account.
- ``caseworkers``: placing a caseworker with a partner; the partner a user works for.
- ``policy``: a trust's disbursement policy (dual-approval threshold, who bears fees) and the
  care-plan budgets.
- ``requests``: the request lifecycle (draft, submit, approve, reject, cancel), what is reserved
  and available on a sub-ledger, the checks before approving or paying, and the event every
  transition records. Its docstring describes the lifecycle and the locking order.
- ``documents``: quotes, invoices and proof of use attached to a request.
- ``notifications``: which events tell whom, and sending each message once.
- ``payments``: paying an approved request, acknowledging or returning the payment (import its
  services from ``disbursements.services.payments``).

The arrows point one way: ``payments`` and ``documents`` use ``requests``, which uses
``partners``, ``caseworkers``, ``policy`` and ``notifications``; no module imports this package
or ``disbursements.tasks`` (notifications are queued by task name). The names below are
re-exported so that ``from disbursements.services import request_approve`` works.
"""

from disbursements.services.caseworkers import caseworker_add
from disbursements.services.documents import DOCUMENT_TYPES, request_document_add
from disbursements.services.notifications import (
    TO_REQUESTER,
    TO_TRUSTEES,
    request_event_notify,
)
from disbursements.services.partners import (
    care_partner_create,
    care_partner_set_payout,
    care_partner_vet,
    vetting_current,
)
from disbursements.services.policy import (
    DEFAULT_DUAL_APPROVAL,
    budget_set,
    policy_for,
    policy_set_dual_approval,
    policy_set_fee_bearer,
)
from disbursements.services.requests import (
    DraftKeyReused,
    Payee,
    available,
    refuse_unpayable,
    request_approve,
    request_cancel,
    request_draft,
    request_reject,
    request_submit,
    reserved_minor,
)

__all__ = [
    "DEFAULT_DUAL_APPROVAL",
    "DOCUMENT_TYPES",
    "TO_REQUESTER",
    "TO_TRUSTEES",
    "DraftKeyReused",
    "Payee",
    "available",
    "budget_set",
    "care_partner_create",
    "care_partner_set_payout",
    "care_partner_vet",
    "caseworker_add",
    "policy_for",
    "policy_set_dual_approval",
    "policy_set_fee_bearer",
    "refuse_unpayable",
    "request_approve",
    "request_cancel",
    "request_document_add",
    "request_draft",
    "request_event_notify",
    "request_reject",
    "request_submit",
    "reserved_minor",
    "vetting_current",
]
