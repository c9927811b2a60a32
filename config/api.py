"""The API's URLs: ``/api/v1/`` (each app's resources), the OpenAPI schema and its docs: Redoc at
``/api/docs/`` (reads well, accessible) and Swagger UI at ``/api/swagger/`` (to try calls)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("v1/", include("trust.api.urls")),
    path("v1/", include("trust.api.audit_urls")),
    path("v1/", include("trust.api.import_urls")),
    path("v1/", include("disbursements.api.urls")),
    path("v1/", include("reports.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-docs",
    ),
    path("swagger/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-swagger"),
]
