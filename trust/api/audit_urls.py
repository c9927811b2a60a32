"""The API's audit resources under ``/api/v1/``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from trust.api import audit

router = SimpleRouter()
router.register("audit/events", audit.AuditEventViewSet, basename="api-audit-event")
router.register(
    "audit/verifications", audit.AuditVerificationViewSet, basename="api-audit-verification"
)

urlpatterns = [
    *router.urls,
    path("audit/checkpoint/", audit.AuditCheckpointView.as_view(), name="api-audit-checkpoint"),
    path("audit/bundle/", audit.AuditBundleView.as_view(), name="api-audit-bundle"),
]
