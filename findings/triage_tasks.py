"""Triage Celery tasks: thin, idempotent interfaces to the triage and write-back services.

Imported at the end of `findings/tasks.py` so Celery's autodiscovery registers them; names are
explicit (`findings.tasks.…`) so beat entries and queued messages stay stable.
"""

from urllib.parse import urlparse

from celery import shared_task
from django.conf import settings

from . import demo_history, report_snapshots, triage, writeback


@shared_task(name="findings.tasks.writeback_flush")
def writeback_flush() -> dict:
    """Send due write-backs to GuardDuty; beat runs it every minute so failed rows are retried."""
    result = writeback.writebacks_flush()
    if result.more:
        writeback_flush.delay()
    return {"sent": result.sent, "failed": result.failed, "calls": result.calls, "more": result.more}


@shared_task(name="findings.tasks.bulk_action_run")
def bulk_action_run(bulk_id: int) -> dict:
    """Apply a queued bulk action; a redelivered message finds it claimed and does nothing."""
    bulk = triage.bulk_action_run(bulk_id=bulk_id)
    return {"bulk": bulk_id, "ran": bulk is not None}


@shared_task(name="findings.tasks.accepted_risk_reopen")
def accepted_risk_reopen() -> int:
    """Beat: accepted risks past their expiry go back to New."""
    return triage.findings_accepted_risk_reopen()


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@shared_task(name="findings.tasks.demo_history_seed", bind=True, max_retries=120)
def demo_history_seed(self) -> dict:
    """Demo only: once every region's first findings sync is in, the demo analyst's past month of triage."""
    if not settings.DEMO:
        return {"skipped": "demo mode only"}
    # It archives findings and sends feedback: never to a real GuardDuty, only to the local simulator.
    if urlparse(settings.GUARDWATCH_AWS_ENDPOINT_URL or "").hostname not in LOCAL_HOSTS:
        return {"skipped": "only against the local GuardDuty simulator"}
    if not demo_history.demo_first_sync_done():
        raise self.retry(countdown=5)
    result = demo_history.demo_history_seed()
    if result.acknowledged:  # a month of history rewritten: the report should show it now
        report_snapshots.findings_figures_rebuild()
    return {"acknowledged": result.acknowledged, "closed": result.closed, "skipped": result.skipped}
