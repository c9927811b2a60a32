"""The trust app's API resources under ``/api/v1/``."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from trust.api import beneficiaries, ledger, trusts

router = SimpleRouter()
router.register("trusts", trusts.TrustViewSet, basename="api-trust")
router.register("appointments", trusts.AppointmentViewSet, basename="api-appointment")
router.register("beneficiaries", beneficiaries.BeneficiaryViewSet, basename="api-beneficiary")
router.register("defendants", ledger.DefendantViewSet, basename="api-defendant")
router.register("orders", ledger.OrderViewSet, basename="api-order")
router.register("receipts", ledger.ReceiptViewSet, basename="api-receipt")
router.register("accounts", ledger.AccountViewSet, basename="api-account")
router.register("entries", ledger.EntryViewSet, basename="api-entry")

urlpatterns = [*router.urls, path("", include("trust.bank.api.urls"))]
