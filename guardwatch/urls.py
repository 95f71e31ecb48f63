"""Root URL configuration: the project's own pages, then each app's URLs (every path as it has always been)."""

from allauth.account import views as allauth_views
from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from api import problems as api_problems
from api import views as api_views
from findings import ingest as findings_ingest
from guardwatch.core import views as core_views
from guardwatch.monitoring import views as monitoring_views
from notifications import hooks as notification_hooks

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", monitoring_views.metrics, name="metrics"),  # 404 unless GUARDWATCH_METRICS is on
    # Sign-in is allauth's (passwords under guardwatch.core.login's throttle, then MFA; single sign-on):
    # /login/ as it has always been, the rest under /auth/ (see docs/sso.md). People are added by Admins
    # or by single sign-on, so signing up and resetting a password by email are not offered.
    path("login/", allauth_views.login, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    re_path(r"^auth/(signup|password/reset)/", core_views.not_offered, name="not_offered"),
    path("auth/", include("allauth.urls")),
    path("", include("guardwatch.core.urls")),
    path("", include("reports.urls")),  # /, /findings/report/, /accounts/coverage/
    path("accounts/", include("accounts.urls")),
    path("findings/", include("findings.urls")),  # sync and ingest keys
    path("findings/", include("triage.urls")),  # the list, a finding's page, bulk, suppression
    path("settings/notifications/", include("notifications.urls")),
    path("ingest/eventbridge/", findings_ingest.eventbridge, name="ingest_eventbridge"),
    # Ticket status pushed back (signed by the ticket system, not a session): docs/notifications.md.
    path("hooks/jira/<int:pk>/", notification_hooks.jira_webhook, name="hooks_jira"),
    path("hooks/tickets/<int:pk>/", notification_hooks.ticket_callback, name="hooks_tickets"),
    path("api/v1/", include("api.urls")),  # the REST API (docs/api.md)
    path("settings/api-tokens/", api_views.tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", api_views.token_revoke, name="api_token_revoke"),
]
# Problem details (RFC 9457) under /api/, the usual pages elsewhere.
handler404 = api_problems.page_not_found
handler500 = api_problems.server_error


if settings.GUARDWATCH_DJANGO_ADMIN:
    # Off in production unless asked for: GuardWatch's own pages manage users and settings. Where it is on,
    # it has no sign-in page of its own: it sends people to /login/ (throttled, then MFA), so it is no
    # side door for guessing passwords or skipping the second factor.
    admin.site.login = secure_admin_login(admin.site.login)
    urlpatterns.append(path("django-admin/", admin.site.urls))
