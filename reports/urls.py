"""Report URLs (namespace `reports`), mounted at the site root: each page keeps the path it has always had."""

from django.urls import path

from reports import coverage_views, views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/report/", views.findings_report, name="findings"),
    path("accounts/coverage/", coverage_views.coverage_page, name="coverage"),
]
