from django.apps import AppConfig


class DisbursementsConfig(AppConfig):
    name = "disbursements"

    def ready(self) -> None:
        from disbursements.invariants import payment_checks
        from disbursements.selectors import trust_panel
        from trust.dashboard import panel_register
        from trust.invariants import register_check

        register_check(payment_checks)
        panel_register(trust_panel)
