"""The Celery application: Redis broker in production and tests, a queue per kind of work, each task's log
context, and the beat schedule defined here in code."""

import contextlib
import inspect
import logging.config
import os

from celery import Celery, signals
from celery.schedules import schedule

from guardwatch.core.logs import log_context_bind, log_context_reset
from guardwatch.core.queue import task_route

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")

app = Celery("guardwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each kind of work has its queue (guardwatch.core.queue.TASK_QUEUES, the one place tasks are routed):
# `.delay()`, sending by name and beat all pass through this router.
app.conf.task_routes = (task_route,)
app.autodiscover_tasks(["guardwatch.core", "accounts", "findings", "triage", "reports", "notifications"])

# --- Logs ----------------------------------------------------------------------------------------------
# Arguments that say what a task works on, copied to each of its log lines (docs/operations.md, "Logs").
TASK_LOG_ARGUMENTS = {"region": "region", "account": "account", "account_id": "account"}
_task_log_tokens: dict[str, object] = {}


@signals.setup_logging.connect
def _logging_from_settings(**_kwargs) -> None:
    """Workers and beat log through settings.LOGGING (JSON or console, redacted), not Celery's own set-up."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _task_log_context_bind(task_id=None, task=None, args=None, kwargs=None, **_kw) -> None:
    """Every line logged while a task runs names it, and the region (and account) it works on."""
    fields = {"task_id": task_id, "task_name": getattr(task, "name", None)}
    try:
        arguments = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments
    except (TypeError, ValueError):  # arguments the task does not take: Celery reports that itself
        arguments = dict(kwargs or {})
    for argument, field in TASK_LOG_ARGUMENTS.items():
        if arguments.get(argument) is not None:
            fields[field] = arguments[argument]
    _task_log_tokens[task_id] = log_context_bind(**fields)


@signals.task_postrun.connect
def _task_log_context_reset(task_id=None, **_kw) -> None:
    token = _task_log_tokens.pop(task_id, None)
    if token is not None:
        with contextlib.suppress(ValueError):  # bound in another context (never with Celery's pools)
            log_context_reset(token)


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
        # Coverage policies: drift from the tables the member and protection syncs keep (no AWS call).
        "drift-evaluate": ("accounts.tasks.drift_evaluate", settings.GUARDWATCH_MEMBER_SYNC_MINUTES * 60),
        # S3 malware protection per bucket tag: members' buckets and plans, read as each member (hourly: buckets
        # and their tags change slowly, and each bucket costs two S3 calls).
        "s3-inventory-sync": ("accounts.tasks.s3_inventory_sync", 3600),
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
        # GuardDuty's own counts per account × region against the stored ones: gaps alert and are re-synced.
        "findings-ledger": (
            "findings.tasks.findings_ledger_all_regions",
            settings.GUARDWATCH_FINDINGS_LEDGER_MINUTES * 60,
        ),
        "findings-retention": ("findings.tasks.findings_retention_purge", 24 * 3600),
        # Watchdogs: work whose worker died (kill -9, OOM, a lost host) is queued again within this long,
        # instead of waiting for the next sync tick or Redis's visibility timeout (1 h).
        "findings-sync-recover": ("findings.tasks.findings_sync_recover", settings.GUARDWATCH_WATCHDOG_SECONDS),
        "triage-bulk-recover": ("triage.tasks.bulk_actions_recover", settings.GUARDWATCH_WATCHDOG_SECONDS),
        "triage-exports-recover": ("triage.tasks.finding_exports_recover", settings.GUARDWATCH_WATCHDOG_SECONDS),
        # Exports: files older than GUARDWATCH_EXPORT_KEEP_HOURS are deleted.
        "triage-exports-expire": ("triage.tasks.finding_exports_expire", 15 * 60),
        # Reports: recompute stale findings report / dashboard snapshots (a no-op when none is stale).
        "findings-figures-refresh": ("findings.tasks.findings_figures_refresh", 60),
        # Entity pages: fold the hot entities' signed count rows (a no-op when no entity is hot).
        "findings-entity-rollups-fold": ("findings.tasks.entity_rollups_fold", 60),
        # Scheduled reports: claim due periods (and missed ones after downtime), deliver, retry, expire PDFs.
        "reports-scheduled-tick": ("reports.tasks.scheduled_reports_tick", 5 * 60),
        # Evidence packs past GUARDWATCH_EVIDENCE_KEEP_DAYS are deleted.
        "evidence-packs-purge": ("reports.tasks.evidence_packs_purge", 24 * 3600),
        # Triage: retry failed GuardDuty write-backs; reopen accepted risks past their expiry.
        "findings-writeback-flush": ("findings.tasks.writeback_flush", 60),
        "findings-accepted-risk-reopen": ("findings.tasks.accepted_risk_reopen", 15 * 60),
        # Suppression governance: expired rules leave GuardDuty, passed review dates alert, hit counts,
        # and GuardDuty filters GuardWatch did not create.
        "triage-suppression-expire": ("triage.tasks.suppression_rules_expire", 5 * 60),
        "triage-suppression-review": ("triage.tasks.suppression_reviews_due", 3600),
        "triage-suppression-hits": ("triage.tasks.suppression_hits_count", 3600),
        "triage-suppression-import": ("triage.tasks.suppression_filters_import", 24 * 3600),
        # GuardDuty Investigation: investigations whose poll message was lost are polled again.
        "triage-investigations-poll-due": ("triage.tasks.investigations_poll_due", 60),
        # Notifications: hourly-style digests, re-enqueue lost/due deliveries, newly overdue findings.
        "notifications-digests": ("notifications.tasks.digests_send", 5 * 60),
        "notifications-retry-due": ("notifications.tasks.deliveries_retry_due", 60),
        "notifications-overdue": ("notifications.tasks.overdue_findings_publish", 5 * 60),
        # Two-way tickets: Jira issue statuses back to their findings (webhooks make it immediate).
        "notifications-tickets-poll": ("notifications.tasks.tickets_poll", settings.GUARDWATCH_TICKET_POLL_SECONDS),
        # Owner routing and SLA: teams' daily digests (each at its own hour), escalation steps that fell due.
        "notifications-team-digests": ("notifications.tasks.team_digests_send", 15 * 60),
        "notifications-sla-escalations": ("notifications.tasks.sla_escalations_run", 5 * 60),
    }
    # Every entry, whether or not autodiscovery has imported its module in this process yet: beat
    # only sends task names, and filtering on `sender.tasks` dropped entries when the app finalized
    # before autodiscovery ran.
    for name, (task, seconds) in entries.items():
        BEAT_SCHEDULE[name] = {"task": task, "schedule": schedule(seconds)}
    sender.conf.beat_schedule = BEAT_SCHEDULE
