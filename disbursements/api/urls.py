"""The disbursements app's API resources under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from disbursements.api import policy, views

router = SimpleRouter()
router.register("partners", views.PartnerViewSet, basename="api-partner")
router.register("requests", views.RequestViewSet, basename="api-request")
router.register("documents", views.DocumentViewSet, basename="api-document")
router.register("payments", views.PaymentViewSet, basename="api-payment")

urlpatterns = router.urls + policy.urls()
