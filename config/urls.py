from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from disbursements import views as disbursement_views
from trust import views as trust_views

urlpatterns = [
    path("", trust_views.home, name="home"),
    path("trusts/<int:trust_id>/", trust_views.trust_detail, name="trust-detail"),
    path(
        "documents/<uuid:uid>/",
        disbursement_views.document_download,
        name="document-download",
    ),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
