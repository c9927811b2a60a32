"""The bank pages of a trust (trust/urls.py includes them at ``trusts/<trust_id>/bank/``):
its bank accounts, one account's statements and lines, importing a file, a line's match, and
the three-way reconciliation."""

from django.urls import include, path

from trust.bank.views import accounts, lines, reconciliations, statements

urlpatterns = [
    path("", accounts.accounts_view, name="bank-accounts"),
    path("details/<int:account_id>/", accounts.bank_details_view, name="bank-details"),
    path("<int:bank_id>/", accounts.bank_account_view, name="bank-account"),
    path("<int:bank_id>/match/", accounts.auto_match_view, name="bank-auto-match"),
    path("<int:bank_id>/import/", statements.import_view, name="bank-import"),
    path("<int:bank_id>/reconcile/", reconciliations.reconcile_view, name="bank-reconcile"),
    path(
        "statements/<int:statement_id>/reconcile/",
        reconciliations.statement_reconcile_view,
        name="bank-statement-reconcile",
    ),
    path(
        "statements/<int:statement_id>/sign-off/",
        reconciliations.sign_off_view,
        name="bank-sign-off",
    ),
    path(
        "reconciliations/<int:reconciliation_id>/",
        reconciliations.reconciliation_view,
        name="bank-reconciliation",
    ),
    path("lines/<int:line_id>/", lines.line_view, name="bank-line"),
    path("lines/<int:line_id>/match/", lines.line_match_view, name="bank-line-match"),
    path("lines/<int:line_id>/explain/", lines.line_explain_view, name="bank-line-explain"),
    path("matches/<int:match_id>/undo/", lines.match_undo_view, name="bank-match-undo"),
    # Interest and fees (shared among the beneficiaries).
    path("", include("trust.bank.urls_charges")),
]
