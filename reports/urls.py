"""The reports app's pages (config/urls.py includes them at the root)."""

from django.urls import path

from reports import views

urlpatterns = [
    path("reports/", views.report_list, name="report-list"),
    path("reports/new/", views.report_create, name="report-create"),
    path("reports/verify/", views.report_verify, name="report-verify"),
    path("reports/<uuid:uid>/", views.report_detail, name="report-detail"),
    path("reports/<uuid:uid>/pdf/", views.report_download, name="report-download"),
    path("reports/batches/<str:operation_id>/", views.report_batch, name="report-batch"),
    path("payments/<int:payment_id>/advice/", views.payment_advice, name="payment-advice"),
    # Who saw this child, as a PDF (the page is the trust app's ``beneficiary-views``).
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/views.pdf",
        views.beneficiary_views_pdf,
        name="beneficiary-views-pdf",
    ),
]
