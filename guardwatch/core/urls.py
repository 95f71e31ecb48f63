"""Core URLs (mounted under the `core` namespace)."""

from django.urls import path

from guardwatch.core import views

app_name = "core"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
    path("users/", views.users, name="users"),
    path("users/<int:pk>/role/", views.user_role_view, name="user_role"),
    path("users/<int:pk>/active/", views.user_active_view, name="user_active"),
    path("users/<int:pk>/password/", views.user_password_view, name="user_password"),
    path("users/sso/", views.sso_mappings, name="sso_mappings"),
    path("users/sso/<int:pk>/delete/", views.sso_mapping_delete_view, name="sso_mapping_delete"),
]
