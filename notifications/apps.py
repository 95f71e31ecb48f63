"""App config: listens for coverage alerts raised by the accounts app."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Destinations, routing rules, deliveries and ticket links."""

    name = "notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from guardwatch.core.signals import alert_raised
        from notifications.receivers import coverage_alert_received

        alert_raised.connect(coverage_alert_received, dispatch_uid="notifications-coverage-alert")
