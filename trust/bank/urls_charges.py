"""Interest and fees pages, relative to /trusts/<int:trust_id>/bank/ (config includes them)."""

from django.urls import path

from trust.bank.views import charges

urlpatterns = [
    path("charges/", charges.charges_view, name="bank_charges"),
    path("charges/<int:charge_id>/", charges.charge_detail, name="bank_charge_detail"),
    path("interest/new/", charges.interest_new, name="bank_interest_new"),
    path("fees/new/", charges.fee_new, name="bank_fee_new"),
]
