"""Signal receivers: what the apps below notifications announce becomes events for the routing rules.

- `core.signals.alert_raised`: coverage alerts become `coverage_alert` events;
- `findings.signals.findings_upsert_starting`: stored findings become new / raised / repeat events;
- `findings.signals.findings_sync_failed`: a failed findings sync becomes a `sync_failing` event.
"""

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


def findings_upsert_watch(sender, findings, now, **_kwargs):
    """`findings.signals.findings_upsert_starting`: watch the batch; the upsert publishes what changed."""
    from notifications.events import findings_changes_watch

    return findings_changes_watch(findings=findings, now=now)


def findings_sync_failed_received(sender, region, run_id, error, **_kwargs) -> None:
    """`findings.signals.findings_sync_failed`: tell the rules that listen for failing syncs."""
    from notifications.events import sync_failure_publish

    sync_failure_publish(region=region, run_id=run_id, error=error)
