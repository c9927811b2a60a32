"""The trust app's API resources under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from trust.api import ledger_views, trusts, views

router = SimpleRouter()
router.register("trusts", trusts.TrustViewSet, basename="api-trust")
router.register("appointments", trusts.AppointmentViewSet, basename="api-appointment")
router.register("beneficiaries", views.BeneficiaryViewSet, basename="api-beneficiary")
router.register("defendants", ledger_views.DefendantViewSet, basename="api-defendant")
router.register("orders", ledger_views.OrderViewSet, basename="api-order")
router.register("receipts", ledger_views.ReceiptViewSet, basename="api-receipt")
router.register("accounts", ledger_views.AccountViewSet, basename="api-account")
router.register("entries", ledger_views.EntryViewSet, basename="api-entry")

urlpatterns = router.urls
