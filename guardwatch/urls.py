"""Root URL configuration: the project's own pages, then each app's URLs (every path as it has always been)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.urls import include, path

from findings import ingest as findings_ingest
from guardwatch.core import views as core_views
from guardwatch.core.login import ThrottledAuthenticationForm
from guardwatch.monitoring import views as monitoring_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", monitoring_views.metrics, name="metrics"),  # 404 unless GUARDWATCH_METRICS is on
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=ThrottledAuthenticationForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("guardwatch.core.urls")),
    path("", include("reports.urls")),  # /, /findings/report/, /accounts/coverage/
    path("accounts/", include("accounts.urls")),
    path("findings/", include("findings.urls")),  # sync and ingest keys
    path("findings/", include("triage.urls")),  # the list, a finding's page, bulk, suppression
    path("settings/notifications/", include("notifications.urls")),
    path("ingest/eventbridge/", findings_ingest.eventbridge, name="ingest_eventbridge"),
]


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The Django admin's sign-in (staff only) under the same lock-out as /login/."""


if settings.GUARDWATCH_DJANGO_ADMIN:
    # Off in production unless asked for: GuardWatch's own pages manage users and settings. Where it is on,
    # its sign-in page is throttled like /login/, so it is no side door for guessing passwords.
    admin.site.login_form = ThrottledAdminAuthenticationForm
    urlpatterns.append(path("django-admin/", admin.site.urls))
