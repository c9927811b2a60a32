"""The disbursements app's pages (config/urls.py includes them at the root)."""

from django.urls import path

from disbursements.views import partners, payments, policy, requests

urlpatterns = [
    path("children/", requests.children, name="children"),
    path("requests/", requests.requests, name="request-list"),
    path("requests/new/", requests.request_new, name="request-new"),
    path("requests/<int:pk>/", requests.request_detail, name="request-detail"),
    path("requests/<int:pk>/submit/", requests.request_submit_view, name="request-submit"),
    path("requests/<int:pk>/approve/", requests.request_approve_view, name="request-approve"),
    path("requests/<int:pk>/reject/", requests.request_reject_view, name="request-reject"),
    path("requests/<int:pk>/cancel/", requests.request_cancel_view, name="request-cancel"),
    path(
        "requests/<int:pk>/documents/",
        requests.request_document_upload,
        name="request-document-add",
    ),
    path("requests/<int:pk>/payment/", requests.payment_record_view, name="payment-record"),
    path(
        "requests/<int:pk>/acknowledge/",
        requests.payment_acknowledge_view,
        name="payment-acknowledge",
    ),
    path("documents/<uuid:uid>/", requests.document_download, name="document-download"),
    path("trusts/<int:trust_id>/policy/", policy.trust_policy, name="trust-policy"),
    path(
        "trusts/<int:trust_id>/policy/threshold/", policy.policy_threshold, name="policy-threshold"
    ),
    path("trusts/<int:trust_id>/policy/fees/", policy.policy_fees, name="policy-fees"),
    path("trusts/<int:trust_id>/budgets/", policy.budget_new, name="budget-new"),
    path(
        "trusts/<int:trust_id>/in-transit/",
        payments.payments_in_transit_view,
        name="payments-in-transit",
    ),
    path("partners/", partners.partners, name="partner-list"),
    path("partners/new/", partners.partner_new, name="partner-new"),
    path("partners/<int:pk>/", partners.partner_detail, name="partner-detail"),
    path("partners/<int:pk>/vet/", partners.partner_vet, name="partner-vet"),
    path("partners/<int:pk>/payout/", partners.partner_payout, name="partner-payout"),
    path(
        "partners/<int:pk>/caseworkers/", partners.partner_caseworker_add, name="partner-caseworker"
    ),
]
