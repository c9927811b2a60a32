"""The disbursements app's pages (config/urls.py includes them at the root)."""

from django.urls import path

from disbursements import views

urlpatterns = [
    path("documents/<uuid:uid>/", views.document_download, name="document-download"),
]
