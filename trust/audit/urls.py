"""The auditor's pages, under ``/audit/`` (config/urls.py includes them)."""

from django.urls import path

from trust.audit import views

urlpatterns = [
    path("", views.audit_log, name="audit-log"),
    path("events/<int:event_id>/", views.audit_event, name="audit-event"),
    path("verify/", views.audit_verify_start, name="audit-verify"),
    path(
        "verifications/<str:operation_id>/",
        views.audit_verification,
        name="audit-verification",
    ),
    path("checkpoint.json", views.audit_checkpoint_latest, name="audit-checkpoint"),
    path("bundle.zip", views.audit_bundle, name="audit-bundle"),
]
