from django.apps import AppConfig


class DisbursementsConfig(AppConfig):
    name = "disbursements"
