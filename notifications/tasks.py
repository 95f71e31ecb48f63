"""Notifications Celery tasks: thin, idempotent interfaces to the services."""

from celery import shared_task

from notifications import events, services, tickets


@shared_task(name="notifications.tasks.delivery_send")
def delivery_send(delivery_id: int) -> str | None:
    """Try one delivery; on failure schedule the next attempt with exponential backoff.

    A delivery that is not due, already sent, or claimed by another worker is left alone, so a
    duplicate task is harmless.
    """
    result = services.delivery_attempt(delivery_id=delivery_id)
    if result is None:
        return None
    if result.retry_in is not None:
        delivery_send.apply_async((delivery_id,), countdown=result.retry_in)
    return result.status


@shared_task(name="notifications.tasks.deliveries_retry_due")
def deliveries_retry_due() -> int:
    """Beat, every minute: re-enqueue deliveries whose task was lost (broker outage, killed worker)."""
    ids = services.deliveries_due()
    for pk in ids:
        delivery_send.delay(pk)
    return len(ids)


@shared_task(name="notifications.tasks.digests_send")
def digests_send() -> int:
    """Beat: send each digest rule's held events once its window has passed."""
    return services.digests_send()


@shared_task(name="notifications.tasks.overdue_findings_publish")
def overdue_findings_publish() -> int:
    """Beat, every 5 minutes: notify rules about findings whose triage SLA just ran out."""
    return events.overdue_findings_publish()


@shared_task(name="notifications.tasks.tickets_poll")
def tickets_poll() -> int:
    """Beat, every GUARDWATCH_TICKET_POLL_SECONDS: Jira issue statuses back to their findings."""
    return tickets.tickets_poll()
