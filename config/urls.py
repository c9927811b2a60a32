from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from disbursements import views as disbursement_views
from reports import views as report_views
from trust import views as trust_views
from trust import views_audit

urlpatterns = [
    path("", trust_views.home, name="home"),
    path("trusts/<int:trust_id>/", trust_views.trust_detail, name="trust-detail"),
    path(
        "documents/<uuid:uid>/",
        disbursement_views.document_download,
        name="document-download",
    ),
    path("audit/", views_audit.audit_log, name="audit-log"),
    path("audit/verify/", views_audit.audit_verify_start, name="audit-verify"),
    path(
        "audit/verifications/<str:operation_id>/",
        views_audit.audit_verification,
        name="audit-verification",
    ),
    path("audit/checkpoint.json", views_audit.audit_checkpoint_latest, name="audit-checkpoint"),
    path("audit/bundle.zip", views_audit.audit_bundle, name="audit-bundle"),
    path("reports/", report_views.report_list, name="report-list"),
    path("reports/new/", report_views.report_create, name="report-create"),
    path("reports/verify/", report_views.report_verify, name="report-verify"),
    path("reports/<uuid:uid>/", report_views.report_detail, name="report-detail"),
    path("reports/<uuid:uid>/pdf/", report_views.report_download, name="report-download"),
    path("reports/batches/<str:operation_id>/", report_views.report_batch, name="report-batch"),
    path("payments/<int:payment_id>/advice/", report_views.payment_advice, name="payment-advice"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
