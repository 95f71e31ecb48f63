"""Triage URLs (namespace `triage`), mounted at /findings/: the list, a finding's page and what analysts do."""

from django.urls import path, re_path

from triage import entity_views, views
from triage.evidence_views import (
    entity_evidence,
    entity_evidence_add,
    evidence_download,
    evidence_remove_view,
    finding_evidence_add,
)

app_name = "triage"

urlpatterns = [
    path("", views.finding_list, name="list"),
    path("<int:pk>/", views.finding_detail, name="detail"),
    path("<int:pk>/sequence/", views.finding_sequence_view, name="sequence"),
    path("entity/<slug:kind>/", entity_views.entity_detail, name="entity"),
    path("<int:pk>/status/", views.finding_status_view, name="status"),
    path("<int:pk>/assign/", views.finding_assign_view, name="assign"),
    path("<int:pk>/comment/", views.finding_comment_view, name="comment"),
    path("<int:pk>/feedback/", views.finding_feedback_view, name="feedback"),
    path("<int:pk>/investigation/", views.investigation_panel, name="investigation_panel"),
    path("<int:pk>/investigate/", views.investigation_start_view, name="investigate"),
    re_path(r"^investigations/account/(?P<account_id>[0-9]{12})/$", views.account_investigation_panel,
            name="account_investigation_panel"),
    re_path(r"^investigations/account/(?P<account_id>[0-9]{12})/start/$", views.account_investigation_start_view,
            name="account_investigate"),
    path("<int:pk>/evidence/", finding_evidence_add, name="evidence_add"),
    path("evidence/<int:pk>/download/", evidence_download, name="evidence_download"),
    path("evidence/<int:pk>/remove/", evidence_remove_view, name="evidence_remove"),
    path("entity/<slug:kind>/evidence/", entity_evidence, name="entity_evidence"),
    path("entity/<slug:kind>/evidence/add/", entity_evidence_add, name="entity_evidence_add"),
    path("bulk/", views.bulk_view, name="bulk"),
    path("bulk/<int:pk>/", views.bulk_progress, name="bulk_progress"),
    path("views/", views.saved_view_save_view, name="view_save"),
    path("views/<int:pk>/delete/", views.saved_view_delete_view, name="view_delete"),
    path("views/<int:pk>/default/", views.saved_view_default_view, name="view_default"),
    path("views/default/", views.saved_view_default_view, name="view_default_reset"),
    path("suppression/", views.suppression_list, name="suppression"),
    path("suppression/new/", views.suppression_create_view, name="suppression_create"),
    path("suppression/<int:pk>/", views.suppression_edit_view, name="suppression_edit"),
    path("suppression/<int:pk>/approve/", views.suppression_approve_view, name="suppression_approve"),
    path("suppression/<int:pk>/reject/", views.suppression_reject_view, name="suppression_reject"),
    path("suppression/<int:pk>/delete/", views.suppression_delete_view, name="suppression_delete"),
    path("suppression/<int:pk>/review/", views.suppression_review_view, name="suppression_review"),
    path("suppression/import/", views.suppression_import_view, name="suppression_import"),
    path("suppression/imported/<int:pk>/adopt/", views.suppression_adopt_view, name="suppression_adopt"),
    path("writebacks/<int:pk>/retry/", views.writeback_retry_view, name="writeback_retry"),
    path("export.csv", views.export_view, {"fmt": "csv"}, name="export_csv"),
    path("export.json", views.export_view, {"fmt": "json"}, name="export_json"),
    path("exports/", views.exports_view, name="exports"),
    path("exports/<int:pk>/", views.export_progress, name="export_progress"),
    path("exports/<int:pk>/cancel/", views.export_cancel_view, name="export_cancel"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
]
