"""Queueing background work by task name: how a service starts a Celery task without importing it.

The one pattern for work that goes to the background: tasks are thin interfaces that import and call
services (`<app>/tasks.py`); a service that must queue work names the task instead of importing its
module, which would import the service back (a cycle) or reach up into another app (the apps depend
one way: guardwatch.core <- accounts <- findings <- triage | reports | notifications). So:

    task_send_on_commit("accounts.tasks.member_operation_run", operation.pk)

The name is the task's registered name (`@shared_task(name=...)`); an unknown name raises KeyError
at once, never a silently dropped message. `pyproject.toml`'s import-linter contract
"tasks-call-services" keeps services, selectors and views from importing any tasks module.

Each kind of work has its own queue (TASK_QUEUES below, the one place tasks are routed; guardwatch/celery.py
installs `task_route` as Celery's router), so a slow report never holds up a sync (docs/operations.md).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import current_app
from celery.result import AsyncResult
from django.db import transaction


def task_get(name: str):
    """The registered task called `name` (KeyError if there is none)."""
    if name not in current_app.tasks:
        # Autodiscovery (what a worker does at start) has not imported the tasks modules in this process yet.
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def task_send(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> AsyncResult:
    """Queue `name(*args, **kwargs)` now; raises what the broker raises when it refuses."""
    task = task_get(name)
    if countdown is None:
        return task.delay(*args, **kwargs)
    return task.apply_async(args, kwargs, countdown=countdown)


def task_send_on_commit(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue `name(*args, **kwargs)` once the current transaction commits (at once outside one), so the
    worker finds the rows the caller wrote; nothing is queued if the transaction rolls back."""
    task_get(name)  # an unknown name fails here, in the caller's transaction, not after the commit
    transaction.on_commit(partial(task_send, name, *args, countdown=countdown, **kwargs))


# --- Queues ---------------------------------------------------------------------------------------
# Work of one kind waits only behind work of its kind: a slow report or a long member operation never
# holds up a sync, and a backlog of notifications never holds up a write-back. Each queue is named after
# GUARDWATCH_CELERY_QUEUE (the default queue itself), so installations sharing one Redis, and test
# sessions, keep their own: `guardwatch`, `guardwatch.syncs`, `guardwatch.members`, ...
QUEUE_KINDS = ("default", "syncs", "members", "reports", "notifications", "writebacks", "exports")

# Every task's queue, by its registered name (the names stay as they are: queued messages and beat find
# them). A task missing here goes to the default queue, which every deployment's workers consume.
TASK_QUEUES = {
    # Syncs: reading GuardDuty, Organizations and the regions into the store.
    "accounts.tasks.members_sync_all_regions": "syncs",
    "accounts.tasks.members_sync_region": "syncs",
    "accounts.tasks.member_protection_sync_region": "syncs",
    "accounts.tasks.organization_refresh": "syncs",
    "accounts.tasks.enabled_regions_discover": "syncs",
    "accounts.tasks.drift_evaluate": "syncs",
    "accounts.tasks.s3_inventory_sync": "syncs",
    "accounts.tasks.s3_inventory_account": "syncs",
    "findings.tasks.findings_sync_all_regions": "syncs",
    "findings.tasks.findings_sync_region": "syncs",
    "findings.tasks.findings_sync_recover": "syncs",
    "findings.tasks.findings_reconcile_all_regions": "syncs",
    "findings.tasks.findings_reconcile_region": "syncs",
    "findings.tasks.findings_ids_compare_all_regions": "syncs",
    "findings.tasks.findings_ids_compare_region": "syncs",
    "findings.tasks.findings_ledger_all_regions": "syncs",
    "findings.tasks.findings_ledger_region": "syncs",
    "findings.tasks.findings_push_confirm": "syncs",
    # Member operations: invitations, removals and their verification (someone is waiting on the page).
    "accounts.tasks.member_operation_run": "members",
    "accounts.tasks.member_invitations_verify": "members",
    # Reports: snapshots of the findings report and dashboard (may take seconds to minutes).
    "findings.tasks.findings_figures_refresh": "reports",
    "findings.tasks.findings_report_snapshot": "reports",
    "reports.tasks.findings_figures_rebuild": "reports",
    "reports.tasks.report_pdf_render": "reports",
    "reports.tasks.scheduled_reports_tick": "reports",
    "reports.tasks.scheduled_report_deliver": "reports",
    "reports.tasks.evidence_pack_render": "reports",
    "reports.tasks.evidence_packs_purge": "reports",
    # Kept counts of hot entities: counting a few hundred thousand entity rows once, folding them each minute.
    "findings.tasks.entity_rollup_promote": "reports",
    "findings.tasks.entity_rollups_fold": "reports",
    # Notifications: deliveries to outside systems (each bounded by GUARDWATCH_NOTIFY_TIMEOUT_SECONDS).
    "notifications.tasks.delivery_send": "notifications",
    "notifications.tasks.deliveries_retry_due": "notifications",
    "notifications.tasks.digests_send": "notifications",
    "notifications.tasks.overdue_findings_publish": "notifications",
    "notifications.tasks.tickets_poll": "notifications",
    "notifications.tasks.team_digests_send": "notifications",
    "notifications.tasks.sla_escalations_run": "notifications",
    "notifications.tasks.escalation_notify": "notifications",
    # Write-backs: triage decisions sent to GuardDuty, and the bulk actions that make them.
    "findings.tasks.writeback_flush": "writebacks",
    "findings.tasks.bulk_action_run": "writebacks",
    "triage.tasks.bulk_actions_recover": "writebacks",
    "findings.tasks.accepted_risk_reopen": "writebacks",
    # Suppression governance: expiry deletes filters and reopens findings (write-backs); importing reads
    # GuardDuty's filters (a sync); hit counts are report-like counting; review reminders are alerts.
    "triage.tasks.suppression_rules_expire": "writebacks",
    "triage.tasks.suppression_filters_import": "syncs",
    "triage.tasks.suppression_hits_count": "reports",
    "triage.tasks.suppression_reviews_due": "default",
    # GuardDuty Investigation: starting and polling AWS's AI investigations of findings (GuardDuty calls).
    "triage.tasks.investigation_poll": "writebacks",
    "triage.tasks.investigations_poll_due": "writebacks",
    # Exports: findings files for people to download, written by a low-priority worker (docs/operations.md);
    # their expiry and watchdog are housekeeping (default), never waiting behind an hour-long export.
    "triage.tasks.finding_export_run": "exports",
    "triage.tasks.finding_exports_expire": "default",
    "triage.tasks.finding_exports_recover": "default",
    # Default: housekeeping and probes (findings_retention_purge, demo_history_seed, worker_probe).
}


def queue_name(kind: str) -> str:
    """The queue of one kind of work in this installation (`guardwatch.syncs`; the default is `guardwatch`)."""
    from django.conf import settings

    if kind not in QUEUE_KINDS:
        raise KeyError(f"No queue kind {kind!r}; the kinds are {', '.join(QUEUE_KINDS)}.")
    prefix = settings.CELERY_TASK_DEFAULT_QUEUE
    return prefix if kind == "default" else f"{prefix}.{kind}"


def queue_names(*kinds: str) -> list[str]:
    """The queues of these kinds (all of them if none is named), as a worker's `-Q` takes them."""
    return [queue_name(kind) for kind in kinds or QUEUE_KINDS]


def task_route(name: str, args, kwargs, options, task=None, **_kw) -> dict:
    """Celery's router: every task goes to its kind's queue, read when it is sent (so the prefix is current)."""
    return {"queue": queue_name(TASK_QUEUES.get(name, "default"))}
