"""The Celery application: Redis broker in production and tests, beat schedule defined here in code."""

import os

from celery import Celery
from celery.schedules import schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")

# --- Queues ---------------------------------------------------------------------------------------
# Work of one kind waits only behind work of its kind: a slow report or a long member operation never
# holds up a sync, and a backlog of notifications never holds up a write-back. Each queue is named after
# GUARDWATCH_CELERY_QUEUE (the default queue itself), so installations sharing one Redis, and test
# sessions, keep their own: `guardwatch`, `guardwatch.syncs`, `guardwatch.members`, ...
QUEUE_KINDS = ("default", "syncs", "members", "reports", "notifications", "writebacks")

# Every task's queue, by its registered name (the names stay as they are: queued messages and beat find
# them). A task missing here goes to the default queue, which every deployment's workers consume.
TASK_QUEUES = {
    # Syncs: reading GuardDuty, Organizations and the regions into the store.
    "accounts.tasks.members_sync_all_regions": "syncs",
    "accounts.tasks.members_sync_region": "syncs",
    "accounts.tasks.member_protection_sync_region": "syncs",
    "accounts.tasks.organization_refresh": "syncs",
    "accounts.tasks.enabled_regions_discover": "syncs",
    "findings.tasks.findings_sync_all_regions": "syncs",
    "findings.tasks.findings_sync_region": "syncs",
    "findings.tasks.findings_sync_recover": "syncs",
    "findings.tasks.findings_reconcile_all_regions": "syncs",
    "findings.tasks.findings_reconcile_region": "syncs",
    "findings.tasks.findings_ids_compare_all_regions": "syncs",
    "findings.tasks.findings_ids_compare_region": "syncs",
    "findings.tasks.findings_push_confirm": "syncs",
    # Member operations: invitations, removals and their verification (someone is waiting on the page).
    "accounts.tasks.member_operation_run": "members",
    "accounts.tasks.member_invitations_verify": "members",
    # Reports: snapshots of the findings report and dashboard (may take seconds to minutes).
    "findings.tasks.findings_figures_refresh": "reports",
    "findings.tasks.findings_report_snapshot": "reports",
    "reports.tasks.findings_figures_rebuild": "reports",
    # Notifications: deliveries to outside systems (each bounded by GUARDWATCH_NOTIFY_TIMEOUT_SECONDS).
    "notifications.tasks.delivery_send": "notifications",
    "notifications.tasks.deliveries_retry_due": "notifications",
    "notifications.tasks.digests_send": "notifications",
    "notifications.tasks.overdue_findings_publish": "notifications",
    # Write-backs: triage decisions sent to GuardDuty, and the bulk actions that make them.
    "findings.tasks.writeback_flush": "writebacks",
    "findings.tasks.bulk_action_run": "writebacks",
    "triage.tasks.bulk_actions_recover": "writebacks",
    "findings.tasks.accepted_risk_reopen": "writebacks",
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


app = Celery("guardwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The one place tasks are routed; sending by name (guardwatch.core.queue), `.delay()` and beat all pass here.
app.conf.task_routes = (task_route,)
app.autodiscover_tasks(["guardwatch.core", "accounts", "findings", "triage", "reports", "notifications"])

# Periodic work lives in code (no django-celery-beat: it caps Django below 6.1). Exactly one beat
# process runs this schedule; each task is idempotent and claims its own work, so a late or doubled
# tick is harmless.
BEAT_SCHEDULE: dict[str, dict] = {}


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **_kwargs) -> None:
    """Build the schedule once settings are loaded, so intervals come from the environment."""
    from django.conf import settings

    entries = {
        "members-status-sync": (
            "accounts.tasks.members_sync_all_regions",
            settings.GUARDWATCH_MEMBER_SYNC_MINUTES * 60,
        ),
        # The Organization page's snapshot (the page itself never calls AWS on a GET).
        "organization-refresh": (
            "accounts.tasks.organization_refresh",
            settings.GUARDWATCH_MEMBER_SYNC_MINUTES * 60,
        ),
        # Coverage: the regions enabled for the administrator account and its detectors there.
        "enabled-regions-discover": ("accounts.tasks.enabled_regions_discover", 3600),
        "findings-pull-sync": (
            "findings.tasks.findings_sync_all_regions",
            settings.GUARDWATCH_FINDINGS_SYNC_MINUTES * 60,
        ),
        # Console archive/feedback changes (they do not move updatedAt, so the pull sync misses them).
        "findings-reconcile": (
            "findings.tasks.findings_reconcile_all_regions",
            settings.GUARDWATCH_FINDINGS_RECONCILE_MINUTES * 60,
        ),
        # EventBridge pushes: confirm pushed findings GuardDuty has not answered for yet (the push's own
        # task may have failed or found them not yet visible).
        "findings-push-confirm": (
            "findings.tasks.findings_push_confirm",
            settings.GUARDWATCH_INGEST_CONFIRM_MINUTES * 60,
        ),
        # Every finding id GuardDuty lists against the stored ones: fetches what the incremental sync missed.
        "findings-ids-compare": (
            "findings.tasks.findings_ids_compare_all_regions",
            settings.GUARDWATCH_FINDINGS_IDS_COMPARE_HOURS * 3600,
        ),
        "findings-retention": ("findings.tasks.findings_retention_purge", 24 * 3600),
        # Watchdogs: work whose worker died (kill -9, OOM, a lost host) is queued again within this long,
        # instead of waiting for the next sync tick or Redis's visibility timeout (1 h).
        "findings-sync-recover": ("findings.tasks.findings_sync_recover", settings.GUARDWATCH_WATCHDOG_SECONDS),
        "triage-bulk-recover": ("triage.tasks.bulk_actions_recover", settings.GUARDWATCH_WATCHDOG_SECONDS),
        # Reports: recompute stale findings report / dashboard snapshots (a no-op when none is stale).
        "findings-figures-refresh": ("findings.tasks.findings_figures_refresh", 60),
        # Triage: retry failed GuardDuty write-backs; reopen accepted risks past their expiry.
        "findings-writeback-flush": ("findings.tasks.writeback_flush", 60),
        "findings-accepted-risk-reopen": ("findings.tasks.accepted_risk_reopen", 15 * 60),
        # Notifications: hourly-style digests, re-enqueue lost/due deliveries, newly overdue findings.
        "notifications-digests": ("notifications.tasks.digests_send", 5 * 60),
        "notifications-retry-due": ("notifications.tasks.deliveries_retry_due", 60),
        "notifications-overdue": ("notifications.tasks.overdue_findings_publish", 5 * 60),
    }
    # Every entry, whether or not autodiscovery has imported its module in this process yet: beat
    # only sends task names, and filtering on `sender.tasks` dropped entries when the app finalized
    # before autodiscovery ran.
    for name, (task, seconds) in entries.items():
        BEAT_SCHEDULE[name] = {"task": task, "schedule": schedule(seconds)}
    sender.conf.beat_schedule = BEAT_SCHEDULE
