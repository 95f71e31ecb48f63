"""Report URLs (namespace `reports`), mounted at the site root: each page keeps the path it has always had."""

from django.urls import path

from reports import coverage_views, evidence_views, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/report/", views.findings_report, name="findings"),
    path("accounts/coverage/", coverage_views.coverage_page, name="coverage"),
    path("accounts/evidence/", evidence_views.evidence_list, name="evidence"),
    path("accounts/evidence/public-key.pem", evidence_views.evidence_public_key, name="evidence_public_key"),
    path("accounts/evidence/<int:pk>/", evidence_views.evidence_pack, name="evidence_pack"),
    path("accounts/evidence/<int:pk>/<str:kind>/", evidence_views.evidence_download, name="evidence_download"),
]
