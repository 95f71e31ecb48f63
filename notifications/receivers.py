"""Signal receivers: coverage alerts from the accounts app become `coverage_alert` events."""

import logging

logger = logging.getLogger(__name__)


def coverage_alert_received(sender, alert, **_kwargs) -> None:
    """`core.signals.alert_raised` (sent on commit): route the new alert to matching rules.

    Never raises into the sender: a notification problem must not break the member sync.
    """
    from notifications.events import alert_event, events_publish

    try:
        events_publish(events=[alert_event(alert)])
    except Exception:
        logger.exception("Could not publish coverage alert %s", getattr(alert, "pk", "?"))
