"""The trust app's pages (config/urls.py includes them at the root)."""

from django.urls import include, path

from trust import views

urlpatterns = [
    path("", views.home, name="home"),
    path("trusts/<int:trust_id>/", views.trust_detail, name="trust-detail"),
    path("trusts/<int:trust_id>/journal/", views.journal_view, name="journal"),
    path("trusts/<int:trust_id>/entries/<int:entry_id>/", views.entry_detail, name="entry-detail"),
    path(
        "trusts/<int:trust_id>/accounts/<int:account_id>/",
        views.account_detail,
        name="account-detail",
    ),
    path("audit/", include("trust.audit.urls")),
]
