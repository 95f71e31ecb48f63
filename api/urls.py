"""API URLs (namespace `api`), mounted at /api/v1/: the endpoints, the OpenAPI document and its docs page."""

from django.urls import path

from api import endpoints, views

app_name = "api"

urlpatterns = [
    path("findings/", endpoints.findings_list, name="findings"),
    path("findings/bulk/", endpoints.findings_bulk, name="findings_bulk"),
    path("findings/<int:pk>/", endpoints.finding_detail, name="finding"),
    path("findings/<int:pk>/timeline/", endpoints.finding_timeline, name="finding_timeline"),
    path("findings/<int:pk>/status/", endpoints.finding_status, name="finding_status"),
    path("findings/<int:pk>/assign/", endpoints.finding_assign, name="finding_assign"),
    path("findings/<int:pk>/comments/", endpoints.finding_comment, name="finding_comment"),
    path("findings/<int:pk>/feedback/", endpoints.finding_feedback, name="finding_feedback"),
    path("accounts/", endpoints.accounts, name="accounts"),
    path("accounts/import/", endpoints.accounts_import, name="accounts_import"),
    path("accounts/invite/", endpoints.accounts_invite, name="accounts_invite"),
    path("accounts/<str:account_id>/", endpoints.account_detail, name="account"),
    path("coverage/", endpoints.coverage_summary, name="coverage"),
    path("reports/findings/", endpoints.findings_figures, name="findings_figures"),
    path("suppression-rules/", endpoints.suppression_rules, name="suppression_rules"),
    path("alerts/", endpoints.alerts_list, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", endpoints.alert_acknowledge_endpoint, name="alert_acknowledge"),
    path("audit/", endpoints.audit_list, name="audit"),
    path("schema/", views.schema, name="schema"),
    path("docs/", views.docs, name="docs"),
]
