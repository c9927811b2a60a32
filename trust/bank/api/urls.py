"""The bank's API resources under ``/api/v1/trusts/{trust_id}/bank/`` (trust/api/urls.py
includes them)."""

from django.urls import path

from trust.bank.api import views

read = views.BankReadViewSet.as_view
write = views.BankWriteViewSet.as_view
BASE = "trusts/<str:trust_id>/bank/"

urlpatterns = [
    path(f"{BASE}accounts/", read({"get": "accounts"}), name="api-bank-account-list"),
    path(
        f"{BASE}accounts/<str:bank_id>/statements/",
        read({"get": "statements"}),
        name="api-bank-statement-list",
    ),
    path(f"{BASE}accounts/<str:bank_id>/lines/", read({"get": "lines"}), name="api-bank-line-list"),
    path(
        f"{BASE}accounts/<str:bank_id>/imports/",
        views.BankImportViewSet.as_view({"post": "create"}),
        name="api-bank-import",
    ),
    path(f"{BASE}lines/<str:line_id>/", read({"get": "line"}), name="api-bank-line-detail"),
    path(
        f"{BASE}lines/<str:line_id>/explain/",
        write({"post": "explain"}),
        name="api-bank-line-explain",
    ),
    path(f"{BASE}matches/", write({"post": "match"}), name="api-bank-match-list"),
    path(
        f"{BASE}matches/<str:match_id>/", write({"delete": "remove"}), name="api-bank-match-detail"
    ),
    path(
        f"{BASE}matches/<str:match_id>/undo/", write({"post": "undo"}), name="api-bank-match-undo"
    ),
    path(
        f"{BASE}statements/<str:statement_id>/reconciliation/",
        read({"get": "figures"}),
        name="api-bank-reconciliation-figures",
    ),
    path(
        f"{BASE}statements/<str:statement_id>/sign-off/",
        views.BankSignOffViewSet.as_view({"post": "create"}),
        name="api-bank-sign-off",
    ),
    path(
        f"{BASE}reconciliations/<str:reconciliation_id>/",
        read({"get": "reconciliation"}),
        name="api-bank-reconciliation-detail",
    ),
]
