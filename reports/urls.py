"""Report URLs (namespace `reports`), mounted at the site root: each page keeps the path it has always had."""

from django.urls import path

from reports import coverage_views, evidence_views, scheduled_views, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/report/", views.findings_report, name="findings"),
    path("accounts/coverage/", coverage_views.coverage_page, name="coverage"),
    path("reports/scheduled/", scheduled_views.scheduled_reports, name="scheduled"),
    path("reports/scheduled/<int:pk>/", scheduled_views.scheduled_report_archive, name="scheduled_archive"),
    path(
        "reports/scheduled/<int:pk>/delete/", scheduled_views.scheduled_report_delete, name="scheduled_delete"
    ),
    path("reports/scheduled/runs/<int:pk>/pdf/", scheduled_views.scheduled_report_pdf, name="scheduled_pdf"),
    path("accounts/evidence/", evidence_views.evidence_list, name="evidence"),
    path("accounts/evidence/public-key.pem", evidence_views.evidence_public_key, name="evidence_public_key"),
    path("accounts/evidence/<int:pk>/", evidence_views.evidence_pack, name="evidence_pack"),
    path("accounts/evidence/<int:pk>/<str:kind>/", evidence_views.evidence_download, name="evidence_download"),
]
