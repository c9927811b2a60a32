"""The disbursements app's pages (config/urls.py includes them at the root)."""

from django.urls import path

from disbursements import views

urlpatterns = [
    path("children/", views.children, name="children"),
    path("requests/", views.requests, name="request-list"),
    path("requests/new/", views.request_new, name="request-new"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/submit/", views.request_submit_view, name="request-submit"),
    path("requests/<int:pk>/approve/", views.request_approve_view, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject_view, name="request-reject"),
    path("requests/<int:pk>/cancel/", views.request_cancel_view, name="request-cancel"),
    path(
        "requests/<int:pk>/documents/", views.request_document_upload, name="request-document-add"
    ),
    path("requests/<int:pk>/payment/", views.payment_record_view, name="payment-record"),
    path(
        "requests/<int:pk>/acknowledge/",
        views.payment_acknowledge_view,
        name="payment-acknowledge",
    ),
    path("documents/<uuid:uid>/", views.document_download, name="document-download"),
    path("trusts/<int:trust_id>/policy/", views.trust_policy, name="trust-policy"),
    path(
        "trusts/<int:trust_id>/policy/threshold/", views.policy_threshold, name="policy-threshold"
    ),
    path("trusts/<int:trust_id>/policy/fees/", views.policy_fees, name="policy-fees"),
    path("trusts/<int:trust_id>/budgets/", views.budget_new, name="budget-new"),
    path("partners/", views.partners, name="partner-list"),
    path("partners/new/", views.partner_new, name="partner-new"),
    path("partners/<int:pk>/", views.partner_detail, name="partner-detail"),
    path("partners/<int:pk>/vet/", views.partner_vet, name="partner-vet"),
    path("partners/<int:pk>/payout/", views.partner_payout, name="partner-payout"),
    path("partners/<int:pk>/caseworkers/", views.partner_caseworker_add, name="partner-caseworker"),
]
