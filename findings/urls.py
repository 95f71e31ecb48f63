"""Finding URLs."""

from django.urls import path

from . import report_views, triage_urls, triage_views, views

app_name = "findings"

urlpatterns = [
    path("", triage_views.finding_list, name="list"),
    path("report/", report_views.findings_report, name="report"),
    path("sync/", views.sync_status, name="sync"),
    path("sync/run/", views.sync_now, name="sync_now"),
    path("ingest-keys/", views.ingest_keys, name="ingest_keys"),
    path("ingest-keys/<int:pk>/revoke/", views.ingest_key_revoke_view, name="ingest_key_revoke"),
    *triage_urls.urlpatterns,
]
