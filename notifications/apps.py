"""App config: listens for coverage alerts, stored findings and failed syncs (see receivers)."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Destinations, routing rules, deliveries and ticket links."""

    name = "notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from findings.signals import findings_status_changed, findings_sync_failed, findings_upsert_starting
        from guardwatch.core.metrics import NOTIFICATION_DELIVERIES
        from guardwatch.core.signals import alert_raised
        from notifications import receivers, tickets
        from notifications.models import Delivery, Destination

        for kind in Destination.Kind.values:  # /metrics: every series from 0, before its first delivery
            for outcome in (Delivery.Status.SENT, Delivery.Status.FAILED, Delivery.Status.DEAD):
                NOTIFICATION_DELIVERIES.labels(kind=kind, outcome=outcome)

        alert_raised.connect(receivers.coverage_alert_received, dispatch_uid="notifications-coverage-alert")
        findings_upsert_starting.connect(receivers.findings_upsert_watch, dispatch_uid="notifications-upsert")
        findings_sync_failed.connect(receivers.findings_sync_failed_received, dispatch_uid="notifications-sync")
        findings_status_changed.connect(tickets.findings_status_changed_received, dispatch_uid="notifications-tickets")
