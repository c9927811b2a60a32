"""The trust app's pages (config/urls.py includes them at the root)."""

from django.urls import include, path

from trust import views

urlpatterns = [
    path("", views.home, name="home"),
    path("trusts/new/", views.trust_new, name="trust-new"),
    path("trusts/<int:trust_id>/", views.trust_detail, name="trust-detail"),
    path("trusts/<int:trust_id>/close/", views.trust_close, name="trust-close"),
    path("trusts/<int:trust_id>/journal/", views.journal_view, name="journal"),
    path("trusts/<int:trust_id>/entries/<int:entry_id>/", views.entry_detail, name="entry-detail"),
    path(
        "trusts/<int:trust_id>/accounts/<int:account_id>/",
        views.account_detail,
        name="account-detail",
    ),
    path("trusts/<int:trust_id>/receipts/", views.receipts_view, name="receipt-list"),
    path("trusts/<int:trust_id>/receipts/new/", views.receipt_new, name="receipt-new"),
    path("trusts/<int:trust_id>/receipts/import/", views.receipt_import, name="receipt-import"),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/",
        views.receipt_detail,
        name="receipt-detail",
    ),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/allocate/",
        views.receipt_allocate_view,
        name="receipt-allocate",
    ),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/reverse/",
        views.receipt_reverse_view,
        name="receipt-reverse",
    ),
    path("trusts/<int:trust_id>/beneficiaries/new/", views.beneficiary_new, name="beneficiary-new"),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/",
        views.beneficiary_detail,
        name="beneficiary-detail",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/edit/",
        views.beneficiary_edit,
        name="beneficiary-edit",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/identity/",
        views.beneficiary_identity,
        name="beneficiary-identity",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/reveal/",
        views.beneficiary_reveal,
        name="beneficiary-reveal",
    ),
    path("trusts/<int:trust_id>/appointments/", views.appointments_view, name="appointments"),
    path(
        "trusts/<int:trust_id>/appointments/<int:appointment_id>/end/",
        views.appointment_end_view,
        name="appointment-end",
    ),
    path("trusts/<int:trust_id>/people/", views.people_view, name="people"),
    path("trusts/<int:trust_id>/defendants/", views.defendant_new, name="defendant-new"),
    path("trusts/<int:trust_id>/implicated/", views.implicated_new, name="implicated-new"),
    path("trusts/<int:trust_id>/orders/", views.orders_view, name="order-list"),
    path("trusts/<int:trust_id>/orders/import/", views.order_import_view, name="order-import"),
    path("trusts/<int:trust_id>/orders/<int:order_id>/", views.order_detail, name="order-detail"),
    path("audit/", include("trust.audit.urls")),
]
