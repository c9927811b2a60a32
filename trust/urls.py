"""The trust app's pages (config/urls.py includes them at the root)."""

from django.urls import include, path

from trust import views

urlpatterns = [
    path("", views.home, name="home"),
    path("trusts/<int:trust_id>/", views.trust_detail, name="trust-detail"),
    path("audit/", include("trust.audit.urls")),
]
