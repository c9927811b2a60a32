"""The figures of every document, read from the books (nothing here writes).

Each ``*_figures`` function returns plain dataclasses of integer minor units, dates and short
texts; the document modules (``reports/documents/``, same module names) lay them out, and what
their ``figures()`` returns is what the verification code hashes.

The ledger side of a document is a query over postings by (account, effective date), the
index the ledger keeps for exactly this; balances at a date come from the daily account totals,
so an account to the court over a year of a large trust reads each posting of the period once
and nothing before it.

One module per document, named as in ``reports/documents/``; they import ``entries`` and
nothing else of this package (but ``court_account``, which prints the signed-off bank
reconciliations through ``bank_reconciliation``):

- ``entries``: what each ledger entry was (``EntryInfo``, ``entry_infos``), balances at a date,
  and the raw-read helpers the documents share (IN lists of ids, ``natural_key``).
- ``beneficiary_statement``: a beneficiary's sub-ledgers over a period, and reservations.
- ``court_account``: the trustee's account to the court.
- ``remittance_advice``: one payment to a care partner.
- ``order_status``: ordered, collected and outstanding under the restitution orders.
- ``audit_certificate``: a checkpoint, a verification of the trail and the log's counts.
- ``bank_reconciliation``: a signed-off bank reconciliation as signed, and the latest ones the
  account to the court shows.
"""

from reports.selectors.audit_certificate import AuditCertificateFigures, audit_certificate_figures
from reports.selectors.bank_reconciliation import (
    BankReconciliationFigures,
    SignedReconciliation,
    bank_reconciliation_figures,
    signed_reconciliations,
)
from reports.selectors.beneficiary_statement import (
    STATEMENT_GROUPS,
    BeneficiaryStatementFigures,
    beneficiary_statement_figures,
)
from reports.selectors.court_account import (
    ROLE_LABELS,
    CourtAccountFigures,
    CurrencyAccount,
    court_account_figures,
)
from reports.selectors.entries import natural_key
from reports.selectors.order_status import OrderStatusFigures, order_status_figures
from reports.selectors.remittance_advice import RemittanceFigures, remittance_figures

__all__ = [
    "ROLE_LABELS",
    "STATEMENT_GROUPS",
    "AuditCertificateFigures",
    "BankReconciliationFigures",
    "BeneficiaryStatementFigures",
    "CourtAccountFigures",
    "CurrencyAccount",
    "OrderStatusFigures",
    "RemittanceFigures",
    "SignedReconciliation",
    "audit_certificate_figures",
    "bank_reconciliation_figures",
    "beneficiary_statement_figures",
    "court_account_figures",
    "natural_key",
    "order_status_figures",
    "remittance_figures",
    "signed_reconciliations",
]
