"""The API's URLs: ``/api/v1/`` (each app's resources), the OpenAPI schema and its docs: Redoc at
``/api/docs/`` (reads well, accessible) and Swagger UI at ``/api/swagger/`` (to try calls)."""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

# The two docs pages are third-party apps (served from drf-spectacular-sidecar's wheel, nothing
# from elsewhere) that cannot run under the site's strict policy (settings.CONTENT_SECURITY_POLICY):
# Redoc styles itself through styled-components, which writes <style> elements (inline styles),
# and runs its search in a Worker made from a blob: URL; both draw icons from data: URLs. Scripts
# stay 'self' only. These pages show the API's description, never a child's data, so an injected
# style would have nothing to read; the relaxation is on these two URLs alone.
REDOC_POLICY = {"style-src": ["'unsafe-inline'"], "img-src": ["data:"], "worker-src": ["blob:"]}
SWAGGER_POLICY = {"img-src": ["data:"]}

urlpatterns = [
    path("v1/", include("trust.api.urls")),
    path("v1/", include("trust.api.audit_urls")),
    path("v1/", include("trust.api.import_urls")),
    path("v1/", include("disbursements.api.urls")),
    path("v1/", include("reports.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        csp_update(REDOC_POLICY)(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")
        ),
        name="api-docs",
    ),
    # The split view serves Swagger UI's start-up script from this URL (?script), not inline.
    path(
        "swagger/",
        csp_update(SWAGGER_POLICY)(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="api/swagger.html"
            )
        ),
        name="api-swagger",
    ),
]
