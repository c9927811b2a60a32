"""The reports app's API resources under ``/api/v1/``."""

from rest_framework.routers import SimpleRouter

from reports.api import views

router = SimpleRouter()
router.register("reports", views.ReportViewSet, basename="api-report")

urlpatterns = router.urls
