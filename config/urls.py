"""Every URL: each app lists its own pages in its ``urls.py``; sign-in and the admin are here."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("trust.urls")),
    path("", include("disbursements.urls")),
    path("", include("reports.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
]
