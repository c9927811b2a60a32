from django.apps import AppConfig


class DisbursementsConfig(AppConfig):
    name = "disbursements"

    def ready(self) -> None:
        from disbursements.invariants import payment_checks
        from trust.invariants import register_check

        register_check(payment_checks)
