"""Notifications Celery tasks: thin, idempotent interfaces to the services."""

from celery import shared_task

from notifications import escalation, events, owners, services, tickets


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


@shared_task(name="notifications.tasks.team_digests_send")
def team_digests_send() -> int:
    """Beat, every 15 minutes: each team whose digest hour has come gets its daily digest (once a day)."""
    return owners.team_digests_send()


@shared_task(name="notifications.tasks.sla_escalations_run")
def sla_escalations_run() -> int:
    """Beat, every 5 minutes: take the SLA escalation steps that fell due (each once per finding)."""
    return escalation.sla_escalations_run()


@shared_task(name="notifications.tasks.escalation_notify")
def escalation_notify(escalation_id: int) -> str | None:
    """Email one escalation step's recipients; a failed send is queued again by the next escalation run."""
    return escalation.escalation_notify(escalation_id=escalation_id)
