"""Findings store URLs (namespace `findings`): sync status and ingest keys, under /findings/ beside triage's."""

from django.urls import path

from findings import views

app_name = "findings"

urlpatterns = [
    path("sync/", views.sync_status, name="sync"),
    path("sync/run/", views.sync_now, name="sync_now"),
    path("ingest-keys/", views.ingest_keys, name="ingest_keys"),
    path("ingest-keys/<int:pk>/revoke/", views.ingest_key_revoke_view, name="ingest_key_revoke"),
    path("sla/", views.sla_settings, name="sla"),
]
