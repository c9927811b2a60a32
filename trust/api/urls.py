"""The trust app's API resources under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from trust.api import views

router = SimpleRouter()
router.register("trusts", views.TrustViewSet, basename="api-trust")
router.register("beneficiaries", views.BeneficiaryViewSet, basename="api-beneficiary")

urlpatterns = router.urls
