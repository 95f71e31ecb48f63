"""Notification settings URLs, mounted at /settings/notifications/."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.destination_list, name="destinations"),
    path("destinations/new/", views.destination_create, name="destination_create"),
    path("destinations/<int:pk>/", views.destination_edit, name="destination_edit"),
    path("destinations/<int:pk>/delete/", views.destination_delete, name="destination_delete"),
    path("destinations/<int:pk>/test/", views.destination_test, name="destination_test"),
    path("destinations/<int:pk>/deliveries/", views.delivery_log, name="delivery_log"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_create, name="rule_create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("teams/", views.team_list, name="teams"),
    path("teams/<int:pk>/", views.team_routing_edit, name="team_routing"),
    path("dead-letters/", views.dead_letters, name="dead_letters"),
    path("deliveries/<int:pk>/resend/", views.delivery_resend, name="delivery_resend"),
    path("tickets/<int:finding_pk>/", views.ticket_create, name="ticket_create"),
    path("tickets/<int:finding_pk>/panel/", views.ticket_panel, name="ticket_panel"),
]
