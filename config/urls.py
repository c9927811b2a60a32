"""Every URL: each app lists its own pages in its ``urls.py``; sign-in, one's password (change it,
or reset it by e-mail: Django's views, our templates) and the admin are here."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from config import operations

# An uncaught error: Django's 500 page, or 503 with Retry-After when the database is away.
handler500 = "config.views.server_error"

urlpatterns = [
    path("", include("trust.urls")),
    path("", include("disbursements.urls")),
    path("", include("reports.urls")),
    # For load balancers, monitoring and Prometheus (docs/operations.md).
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("metrics", operations.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="account/password_change.html",
            success_url=reverse_lazy("password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "account/password/changed/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="account/password_change_done.html"
        ),
        name="password-change-done",
    ),
    # The same answer whether or not an account has the address typed (Django's views).
    path(
        "account/password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="account/password_reset.html",
            email_template_name="account/password_reset_email.txt",
            subject_template_name="account/password_reset_subject.txt",
            success_url=reverse_lazy("password-reset-sent"),
        ),
        name="password-reset",
    ),
    path(
        "account/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="account/password_reset_sent.html"),
        name="password-reset-sent",
    ),
    path(
        "account/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="account/password_reset_confirm.html",
            success_url=reverse_lazy("password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "account/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="account/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
]
