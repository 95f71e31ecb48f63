"""Core URLs (mounted under the `core` namespace)."""

from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
]
