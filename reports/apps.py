from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from reports.selectors.bank_reconciliation import reconciliation_document_url
        from reports.services.requests import bank_reconciliation_signed_off
        from trust.bank.selectors.reconciliation import reconciliation_document_register
        from trust.bank.services.reconciliations import signed_off_hook_register

        # A signed-off bank reconciliation becomes a document (asked for once it commits).
        signed_off_hook_register(bank_reconciliation_signed_off)
        # Its page links the newest document of it the user may read.
        reconciliation_document_register(reconciliation_document_url)
