"""Member account URLs."""

from django.urls import path, re_path

from accounts import team_views, views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("add/", views.account_add, name="add"),
    path("upload/", views.account_upload, name="upload"),
    path("upload/confirm/", views.account_upload_confirm, name="upload_confirm"),
    path("invite/", views.invite, name="invite"),
    path("bulk/", views.bulk, name="bulk"),
    path("refresh/", views.refresh, name="refresh"),
    path("operations/<int:pk>/", views.operation_detail, name="operation"),
    path("operations/<int:pk>/retry/", views.operation_retry, name="operation_retry"),
    path("organization/", views.organization, name="organization"),
    path("organization/refresh/", views.organization_refresh, name="organization_refresh"),
    path("teams/", team_views.team_list, name="teams"),
    path("teams/<int:pk>/", team_views.team_edit, name="team_edit"),
    path("teams/<int:pk>/delete/", team_views.team_delete, name="team_delete"),
    path("teams/people/<int:pk>/", team_views.user_teams, name="user_teams"),
    path("organization/auto-enable/", views.organization_auto_enable, name="organization_auto_enable"),
    path("policies/", views.policy_list, name="policies"),
    path("policies/add/", views.policy_edit, name="policy_add"),
    path("policies/<int:pk>/", views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", views.policy_delete, name="policy_delete"),
    path("drift/", views.drift, name="drift"),
    path("drift/fix/", views.drift_fix, name="drift_fix"),
    re_path(r"^(?P<account_id>[0-9]{12})/$", views.account_detail, name="detail"),
    re_path(r"^(?P<account_id>[0-9]{12})/edit/$", views.account_edit, name="edit"),
    re_path(r"^(?P<account_id>[0-9]{12})/action/$", views.account_action, name="action"),
    re_path(r"^(?P<account_id>[0-9]{12})/recreate/$", views.account_recreate, name="recreate"),
    re_path(r"^(?P<account_id>[0-9]{12})/remove/$", views.account_remove, name="remove"),
]
