"""Triage URLs (namespace `triage`), mounted at /findings/: the list, a finding's page and what analysts do."""

from django.urls import path

from triage import entity_views, views

app_name = "triage"

urlpatterns = [
    path("", views.finding_list, name="list"),
    path("<int:pk>/", views.finding_detail, name="detail"),
    path("entity/<slug:kind>/", entity_views.entity_detail, name="entity"),
    path("<int:pk>/status/", views.finding_status_view, name="status"),
    path("<int:pk>/assign/", views.finding_assign_view, name="assign"),
    path("<int:pk>/comment/", views.finding_comment_view, name="comment"),
    path("<int:pk>/feedback/", views.finding_feedback_view, name="feedback"),
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
]
