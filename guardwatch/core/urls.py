"""Core URLs (mounted under the `core` namespace)."""

from django.urls import path

from guardwatch.core import views

app_name = "core"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
]
