"""The API's import resources under ``/api/v1/``."""

from django.urls import path

from trust.api import imports

urlpatterns = [
    path(
        "trusts/<str:trust_id>/imports/orders/",
        imports.OrderImportView.as_view(),
        name="api-import-orders",
    ),
    path(
        "trusts/<str:trust_id>/imports/receipts/",
        imports.ReceiptImportView.as_view(),
        name="api-import-receipts",
    ),
]
