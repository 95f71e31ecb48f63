"""Findings Celery tasks: thin, idempotent interfaces to the services (beat runs the *_all_regions ones and the purge)."""

from celery import shared_task
from django.conf import settings

from findings import entity_rollup, ledger, push, services, sync


@shared_task(name="findings.tasks.findings_sync_all_regions")
def findings_sync_all_regions() -> list[str]:
    """Beat: one pull-sync task per configured region, so a slow or failing region blocks no other."""
    for region in settings.GUARDWATCH_AWS_REGIONS:
        findings_sync_region.delay(region)
    return list(settings.GUARDWATCH_AWS_REGIONS)


@shared_task(name="findings.tasks.findings_sync_region")
def findings_sync_region(region: str, trigger: str = "beat", requested_by: str = "") -> dict:
    """Pull-sync one region; a run already holding the region makes this a no-op."""
    run = sync.findings_sync_region(region=region, trigger=trigger, requested_by=requested_by)
    if run is None:
        return {"region": region, "status": "already running"}
    return {
        "region": region,
        "run": run.pk,
        "status": run.status,
        "pages": run.pages,
        "new": run.new,
        "updated": run.updated,
        "unchanged": run.unchanged,
    }


@shared_task(name="findings.tasks.findings_sync_recover")
def findings_sync_recover() -> list[str]:
    """Beat (watchdog): queue a new run for each region whose running sync lost its worker."""
    return sync.findings_sync_recover()


@shared_task(name="findings.tasks.findings_reconcile_all_regions")
def findings_reconcile_all_regions() -> list[str]:
    """Beat: one archive/feedback reconciliation task per configured region."""
    for region in settings.GUARDWATCH_AWS_REGIONS:
        findings_reconcile_region.delay(region)
    return list(settings.GUARDWATCH_AWS_REGIONS)


@shared_task(name="findings.tasks.findings_reconcile_region")
def findings_reconcile_region(region: str) -> dict:
    """Bring console archive/feedback changes of one region in; safe to run twice (it only copies state)."""
    result = services.findings_reconcile_region(region=region)
    return {
        "region": region,
        "api_calls": result.api_calls,
        "fetched": result.fetched,
        "archived": result.archived,
        "unarchived": result.unarchived,
        "feedback": result.feedback,
        "error": result.error,
    }


@shared_task(name="findings.tasks.findings_ids_compare_all_regions")
def findings_ids_compare_all_regions() -> list[str]:
    """Beat: one ids-only comparison task per configured region."""
    for region in settings.GUARDWATCH_AWS_REGIONS:
        findings_ids_compare_region.delay(region)
    return list(settings.GUARDWATCH_AWS_REGIONS)


@shared_task(name="findings.tasks.findings_ids_compare_region")
def findings_ids_compare_region(region: str, accounts: list[str] | None = None) -> dict:
    """Compare GuardDuty's finding ids of one region (or of some accounts in it) with the stored ones, fetch
    the missing; safe to run twice."""
    result = services.findings_ids_compare_region(region=region, accounts=accounts or ())
    return {
        "region": region,
        "api_calls": result.api_calls,
        "in_guardduty": result.in_guardduty,
        "stored": result.stored,
        "missing": result.missing,
        "fetched": result.fetched,
        "gone": result.gone,
        "error": result.error,
    }


@shared_task(name="findings.tasks.findings_ledger_all_regions")
def findings_ledger_all_regions() -> list[str]:
    """Beat: one ingestion-ledger check per configured region."""
    for region in settings.GUARDWATCH_AWS_REGIONS:
        findings_ledger_region.delay(region)
    return list(settings.GUARDWATCH_AWS_REGIONS)


@shared_task(name="findings.tasks.findings_ledger_region")
def findings_ledger_region(region: str) -> dict:
    """Compare one region's finding counts per account with GuardDuty's statistics; safe to run twice."""
    result = ledger.findings_ledger_region(region=region)
    return {"region": region, "accounts": result.accounts, "missing_accounts": result.missing_accounts,
            "calls": result.calls, "error": result.error}  # fmt: skip


@shared_task(name="findings.tasks.findings_retention_purge")
def findings_retention_purge() -> int:
    """Daily: delete findings past GUARDWATCH_FINDINGS_RETENTION_DAYS (a no-op when it is 0)."""
    return services.findings_retention_purge()


@shared_task(name="findings.tasks.findings_push_confirm")
def findings_push_confirm(arns: list[str] | None = None) -> dict:
    """GuardDuty's answer for pushed findings (those ARNs, or every one still unconfirmed); safe to run twice."""
    result = push.findings_push_confirm(arns=arns)
    if result.more:
        findings_push_confirm.delay()
    return {
        "asked": result.asked,
        "confirmed": result.confirmed,
        "discarded": result.discarded,
        "waiting": result.waiting,
        "calls": result.calls,
        "errors": result.errors,
        "more": result.more,
    }


@shared_task(name="findings.tasks.entity_rollup_promote")
def entity_rollup_promote(kind: str, value: str) -> bool:
    """Keep counts of one entity named by many findings (queued by its page), or count them again; safe to run twice."""
    return entity_rollup.entity_rollup_promote(kind=kind, value=value)


@shared_task(name="findings.tasks.entity_rollups_fold")
def entity_rollups_fold() -> int:
    """Beat: fold the hot entities' signed count rows into one row per key."""
    return entity_rollup.entity_rollups_fold()
