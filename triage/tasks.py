"""Triage Celery tasks: thin, idempotent interfaces to the triage and write-back services.

They keep the names they had when they lived in `findings.tasks` (`findings.tasks.…`), so messages
queued by a previous version and beat entries still find them.
"""

from celery import shared_task

from triage import bulk as bulk_actions
from triage import demo_history, exports, governance, investigations, writeback
from triage import services as triage


@shared_task(name="findings.tasks.writeback_flush")
def writeback_flush() -> dict:
    """Send due write-backs to GuardDuty; beat runs it every minute so failed rows are retried."""
    result = writeback.writebacks_flush()
    if result.more:
        writeback_flush.delay()
    return {"sent": result.sent, "failed": result.failed, "waiting": result.waiting, "calls": result.calls, "more": result.more}


@shared_task(name="findings.tasks.bulk_action_run")
def bulk_action_run(bulk_id: int) -> dict:
    """Apply a queued bulk action; a redelivered message finds it claimed and does nothing."""
    bulk = bulk_actions.bulk_action_run(bulk_id=bulk_id)
    return {"bulk": bulk_id, "ran": bulk is not None}


@shared_task(name="triage.tasks.bulk_actions_recover")
def bulk_actions_recover() -> list[int]:
    """Beat (watchdog): bulk actions whose worker died (or whose message was lost) are queued again."""
    return bulk_actions.bulk_actions_recover()


@shared_task(name="findings.tasks.accepted_risk_reopen")
def accepted_risk_reopen() -> int:
    """Beat: accepted risks past their expiry go back to New."""
    return triage.findings_accepted_risk_reopen()


@shared_task(name="findings.tasks.demo_history_seed", bind=True, max_retries=120)
def demo_history_seed(self) -> dict:
    """Demo only: once every region's first findings sync is in, the demo analyst's past month of triage."""
    result = demo_history.demo_history_seed()
    if result.waiting:
        raise self.retry(countdown=5)
    return {"acknowledged": result.acknowledged, "closed": result.closed, "skipped": result.skipped}


@shared_task(name="triage.tasks.suppression_rules_expire")
def suppression_rules_expire() -> list[str]:
    """Beat: rules past their expiry leave GuardDuty (their findings reopened or not, by the setting)."""
    return governance.suppression_rules_expire()


@shared_task(name="triage.tasks.suppression_reviews_due")
def suppression_reviews_due() -> list[str]:
    """Beat: an alert for each rule whose review date has passed."""
    return governance.suppression_reviews_due()


@shared_task(name="triage.tasks.suppression_hits_count")
def suppression_hits_count() -> int:
    """Beat: each rule's findings suppressed per day, recomputed from the store."""
    return governance.suppression_hits_count()


@shared_task(name="triage.tasks.suppression_filters_import")
def suppression_filters_import() -> int:
    """Beat and the Import button: GuardDuty filters GuardWatch did not create, shown read-only."""
    return governance.suppression_filters_import()


@shared_task(name="triage.tasks.investigation_poll")
def investigation_poll(investigation_id: int) -> dict:
    """Start or poll one GuardDuty investigation; the service queues the next poll (with backoff) while it runs."""
    next_poll = investigations.investigation_advance(investigation_id=investigation_id)
    return {"investigation": investigation_id, "next_poll": next_poll.isoformat() if next_poll else None}


@shared_task(name="triage.tasks.investigations_poll_due")
def investigations_poll_due() -> list[int]:
    """Beat (watchdog): investigations whose poll message was lost are polled again."""
    return investigations.investigations_poll_due()


# An export of a million findings on a saturated box runs at nice 19 for as long as the analysts keep the CPU:
# longer than the default hard limit (CELERY_TASK_TIME_LIMIT, 1 h) allows.
EXPORT_TIME_LIMIT_SECONDS = 6 * 3600


@shared_task(name="triage.tasks.finding_export_run", time_limit=EXPORT_TIME_LIMIT_SECONDS)
def finding_export_run(export_id: int) -> dict:
    """Write a queued export (the exports queue, a low-priority worker); a duplicate message does nothing."""
    export = exports.finding_export_run(export_id=export_id)
    return {"export": export_id, "ran": export is not None, "rows": export.rows_written if export else None}


@shared_task(name="triage.tasks.finding_exports_expire")
def finding_exports_expire() -> dict:
    """Beat: export files past GUARDWATCH_EXPORT_KEEP_HOURS are deleted; old ended exports leave the list."""
    return exports.finding_exports_expire()


@shared_task(name="triage.tasks.finding_exports_recover")
def finding_exports_recover() -> dict:
    """Beat (watchdog): exports whose worker died fail (export again); lost queued messages are sent again."""
    return exports.finding_exports_recover()
