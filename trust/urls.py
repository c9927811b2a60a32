"""The trust app's pages (config/urls.py includes them at the root)."""

from django.urls import include, path

from trust.views import (
    appointments,
    beneficiaries,
    books,
    jobs,
    orders,
    people,
    receipts,
    retention,
    tokens,
    trusts,
    twofactor,
)

urlpatterns = [
    path("", trusts.home, name="home"),
    path("trusts/new/", trusts.trust_new, name="trust-new"),
    path("trusts/<int:trust_id>/", trusts.trust_detail, name="trust-detail"),
    path("trusts/<int:trust_id>/edit/", trusts.trust_edit, name="trust-edit"),
    path("trusts/<int:trust_id>/close/", trusts.trust_close, name="trust-close"),
    path(
        "trusts/<int:trust_id>/close-for-good/",
        retention.trust_close_for_good,
        name="trust-close-for-good",
    ),
    path("trusts/<int:trust_id>/retention/", retention.retention_view, name="retention"),
    path("trusts/<int:trust_id>/jobs/failed/", jobs.failed_jobs_view, name="failed-jobs"),
    path("jobs/failed/", jobs.failed_jobs_all_view, name="failed-jobs-all"),
    path("jobs/failed/<int:job_id>/retry/", jobs.failed_job_retry_view, name="failed-job-retry"),
    path(
        "jobs/failed/<int:job_id>/dismiss/",
        jobs.failed_job_dismiss_view,
        name="failed-job-dismiss",
    ),
    path(
        "trusts/<int:trust_id>/retention/propose/",
        retention.erasure_propose_view,
        name="erasure-propose",
    ),
    path(
        "trusts/<int:trust_id>/erasures/<int:erasure_id>/confirm/",
        retention.erasure_confirm_view,
        name="erasure-confirm",
    ),
    path(
        "trusts/<int:trust_id>/erasures/<int:erasure_id>/withdraw/",
        retention.erasure_withdraw_view,
        name="erasure-withdraw",
    ),
    path("trusts/<int:trust_id>/journal/", books.journal_view, name="journal"),
    path("trusts/<int:trust_id>/balances/", books.balances_view, name="balances"),
    path("trusts/<int:trust_id>/entries/<int:entry_id>/", books.entry_detail, name="entry-detail"),
    path(
        "trusts/<int:trust_id>/accounts/<int:account_id>/",
        books.account_detail,
        name="account-detail",
    ),
    path("trusts/<int:trust_id>/receipts/", receipts.receipts_view, name="receipt-list"),
    path("trusts/<int:trust_id>/receipts/new/", receipts.receipt_new, name="receipt-new"),
    path("trusts/<int:trust_id>/receipts/import/", receipts.receipt_import, name="receipt-import"),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/",
        receipts.receipt_detail,
        name="receipt-detail",
    ),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/allocate/",
        receipts.receipt_allocate_view,
        name="receipt-allocate",
    ),
    path(
        "trusts/<int:trust_id>/receipts/<int:receipt_id>/reverse/",
        receipts.receipt_reverse_view,
        name="receipt-reverse",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/new/",
        beneficiaries.beneficiary_new,
        name="beneficiary-new",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/",
        beneficiaries.beneficiary_detail,
        name="beneficiary-detail",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/edit/",
        beneficiaries.beneficiary_edit,
        name="beneficiary-edit",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/identity/",
        beneficiaries.beneficiary_identity,
        name="beneficiary-identity",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/reveal/",
        beneficiaries.beneficiary_reveal,
        name="beneficiary-reveal",
    ),
    path(
        "trusts/<int:trust_id>/beneficiaries/<int:beneficiary_id>/views/",
        beneficiaries.beneficiary_views,
        name="beneficiary-views",
    ),
    path(
        "trusts/<int:trust_id>/appointments/", appointments.appointments_view, name="appointments"
    ),
    path(
        "trusts/<int:trust_id>/appointments/<int:appointment_id>/end/",
        appointments.appointment_end_view,
        name="appointment-end",
    ),
    path("trusts/<int:trust_id>/people/", people.people_view, name="people"),
    path("trusts/<int:trust_id>/defendants/", people.defendant_new, name="defendant-new"),
    path("trusts/<int:trust_id>/implicated/", people.implicated_new, name="implicated-new"),
    path("trusts/<int:trust_id>/orders/", orders.orders_view, name="order-list"),
    path("trusts/<int:trust_id>/orders/import/", orders.order_import_view, name="order-import"),
    path("trusts/<int:trust_id>/orders/new/", orders.order_new, name="order-new"),
    path(
        "trusts/<int:trust_id>/orders/<int:order_id>/amend/",
        orders.order_amend_view,
        name="order-amend",
    ),
    path("trusts/<int:trust_id>/orders/<int:order_id>/", orders.order_detail, name="order-detail"),
    path("account/two-factor/setup/", twofactor.setup, name="second-factor-setup"),
    path("account/two-factor/verify/", twofactor.verify_view, name="second-factor-verify"),
    path("account/tokens/", tokens.tokens_view, name="tokens"),
    path("account/tokens/<str:token_key>/revoke/", tokens.token_revoke_view, name="token-revoke"),
    path("trusts/<int:trust_id>/bank/", include("trust.bank.urls")),
    path("audit/", include("trust.audit.urls")),
]
