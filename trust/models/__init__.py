"""The trust app's models, one module per concept; import them from here. The audit trail's
models live in ``trust.audit.models`` and are imported here so that Django registers them with
the trust app (their tables keep their names)."""

from trust.audit.models import (
    AuditChain,
    AuditCheckpoint,
    AuditEvent,
    AuditVerification,
)
from trust.bank.models import (
    BankAccount,
    BankMatch,
    BankStatement,
    MatchedEntry,
    Reconciliation,
    ReconciliationChange,
    SharedCharge,
    SharedChargeShare,
    StatementImport,
    StatementLine,
)
from trust.models.access import Appointment
from trust.models.api import ApiToken, IdempotencyRecord
from trust.models.ledger import (
    Account,
    AccountDay,
    EntryKind,
    ImmutableLedgerRow,
    JournalEntry,
    LedgerCheck,
    Posting,
    Trust,
)
from trust.models.notices import Notice
from trust.models.orders import OrderLine, RestitutionOrder
from trust.models.outbox import FailedJob, OutboxMessage
from trust.models.people import (
    ERASED,
    Beneficiary,
    BeneficiaryIdentity,
    Defendant,
    Erasure,
    IdentityErased,
    IdentityReveal,
    ImplicatedPerson,
    VictimKind,
)
from trust.models.receipts import Allocation, AllocationShare, Receipt

__all__ = [
    "ERASED",
    "Account",
    "AccountDay",
    "Allocation",
    "AllocationShare",
    "ApiToken",
    "Appointment",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditVerification",
    "BankAccount",
    "BankMatch",
    "BankStatement",
    "Beneficiary",
    "BeneficiaryIdentity",
    "Defendant",
    "EntryKind",
    "Erasure",
    "FailedJob",
    "IdempotencyRecord",
    "IdentityErased",
    "IdentityReveal",
    "ImmutableLedgerRow",
    "ImplicatedPerson",
    "JournalEntry",
    "LedgerCheck",
    "MatchedEntry",
    "Notice",
    "OrderLine",
    "OutboxMessage",
    "Posting",
    "Receipt",
    "Reconciliation",
    "ReconciliationChange",
    "RestitutionOrder",
    "SharedCharge",
    "SharedChargeShare",
    "StatementImport",
    "StatementLine",
    "Trust",
    "VictimKind",
]
