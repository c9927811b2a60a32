from django.apps import AppConfig


class DisbursementsConfig(AppConfig):
    name = "disbursements"

    def ready(self) -> None:
        from disbursements.invariants import payment_checks
        from disbursements.selectors import reserved_by_sub_ledger, trust_panel
        from disbursements.services.documents import documents_seal_stored
        from disbursements.services.retention import child_requests_erase, requests_in_flight
        from trust.bank.services.charges import reserved_provider_register
        from trust.dashboard import panel_register
        from trust.invariants import register_check
        from trust.services.closing import closing_check_register
        from trust.services.erasure import erasure_step_register
        from trust.services.keys import rotation_step_register

        register_check(payment_checks)
        panel_register(trust_panel)
        rotation_step_register("disbursements.RequestDocument files", documents_seal_stored)
        closing_check_register(requests_in_flight)
        erasure_step_register("disbursements", child_requests_erase)
        reserved_provider_register(reserved_by_sub_ledger)
