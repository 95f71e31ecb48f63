"""The ingestion ledger: GuardWatch's finding counts per account × region against GuardDuty's own.

A pull sync proves only that it stored what ListFindings showed it; the ledger checks the result with
a second, independent source: `GetFindingsStatistics` grouped by account (AWS API reference,
GetFindingsStatistics: "You must provide either findingStatisticTypes or groupBy parameter, and not
both"; `MaxResults` 1–100, default 25, only with `groupBy`; the request has no NextToken, so a
grouping answers at most 100 groups). Both sides count the findings whose `updatedAt` lies in the same
window, which ends at the region's sync checkpoint (`SyncState.settled_through`, GuardDuty's own time:
everything updated before it has been stored) and starts `LEDGER_WINDOW` earlier, inside GuardDuty's
90-day retention.

Reading a difference:
- GuardDuty counts more than GuardWatch → findings are missing or stale here: an alert per account and
  region, and a targeted ids comparison of those accounts (ListFindings by account, GetFindings for the
  ids not stored) queued at once.
- GuardWatch counts more → expected: a finding GuardDuty updated after the checkpoint left GuardDuty's
  window but not ours until the next sync, and the findings of a member no longer associated stop
  being visible to the administrator while GuardWatch keeps them. Shown, not alerted.
- Only the archived counts differ → an archive made in the console, which does not move `updatedAt`:
  the reconciliation of the region is queued.
Each region costs 2 calls when it has at most 100 accounts with findings in the window (one grouping of
all findings, one of the archived ones); beyond that, 2 calls per 50 known accounts (a criterion takes
at most 50 values), plus one call per account with a gap for its severities.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from findings import gateway
from findings.models import Finding, LedgerCheck, SyncState
from findings.parsing import severity_band
from findings.sync import detector_id_known, error_describe
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import alert_raise

logger = logging.getLogger(__name__)

LEDGER_WINDOW = timedelta(days=85)  # inside GuardDuty's 90-day retention, with room for its purge's timing
GROUP_LIMIT = 100  # GetFindingsStatistics MaxResults maximum (botocore model)
ACCOUNTS_PER_CRITERION = 50  # Condition Eq: at most 50 values (model text)


@dataclass
class LedgerResult:
    """One region's check: how many account rows, gaps, calls; an error instead of raising."""

    region: str
    accounts: int = 0
    missing_accounts: list[str] = field(default_factory=list)
    archived_differ: int = 0
    calls: int = 0
    error: str = ""


def findings_ledger_region(*, region: str, now: datetime | None = None) -> LedgerResult:
    """Compare the region's counts per account with GuardDuty's; record, alert and queue the repairs."""
    result = LedgerResult(region=region)
    state, _ = SyncState.objects.get_or_create(region=region)
    if state.settled_through is None:
        result.error = "Not synced yet: nothing to compare."
        return result
    window_end = state.settled_through
    window_start = window_end - LEDGER_WINDOW
    window = {"updatedAt": {"GreaterThanOrEqual": gateway.to_epoch_ms(window_start),
                            "LessThan": gateway.to_epoch_ms(window_end)}}  # fmt: skip
    try:
        result.calls += detector_id_known(state)
        theirs, theirs_archived = _guardduty_counts(state, window, result)
    except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
        result.error = error_describe(error)
        logger.warning("Findings ledger of %s failed: %s", region, result.error)
        SyncState.objects.filter(pk=state.pk).update(ledger_checked_at=now or timezone.now(), ledger_error=result.error)
        return result
    ours = _stored_counts(region, window_start, window_end)
    checked_at = now or timezone.now()
    rows = []
    for account_id in sorted(set(theirs) | set(ours)):
        total, archived = ours.get(account_id, (0, 0))
        rows.append(LedgerCheck(
            region=region, account_id=account_id, checked_at=checked_at,
            window_start=window_start, window_end=window_end,
            guardduty_total=theirs.get(account_id, 0), guardwatch_total=total,
            guardduty_archived=theirs_archived.get(account_id, 0), guardwatch_archived=archived,
        ))  # fmt: skip
    missing = [row for row in rows if row.missing > 0]
    for row in missing:
        try:
            row.missing_by_band = _missing_by_band(state, window, row, result)
        except (ClientError, BotoCoreError) as error:
            logger.warning("Findings ledger of %s: severities of %s not read: %s", region, row.account_id,
                           error_describe(error))  # fmt: skip
    result.accounts = len(rows)
    result.missing_accounts = [row.account_id for row in missing]
    result.archived_differ = sum(1 for row in rows if not row.missing and row.guardduty_archived != row.guardwatch_archived)
    _ledger_store(region=region, rows=rows, result=result, checked_at=checked_at)
    return result


@transaction.atomic
def _ledger_store(*, region: str, rows: list[LedgerCheck], result: LedgerResult, checked_at: datetime) -> None:
    LedgerCheck.objects.filter(region=region).exclude(account_id__in=[row.account_id for row in rows]).delete()
    LedgerCheck.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["region", "account_id"],
        update_fields=["checked_at", "window_start", "window_end", "guardduty_total", "guardwatch_total",
                       "guardduty_archived", "guardwatch_archived", "missing_by_band"],
    )  # fmt: skip
    SyncState.objects.filter(region=region).update(ledger_checked_at=checked_at, ledger_error="")
    for row in rows:
        if row.missing <= 0:
            continue
        bands = ", ".join(f"{band} {count}" for band, count in row.missing_bands) or "severities not read"
        alert_raise(
            kind="findings.ledger_gap",
            severity="high",
            title=f"GuardDuty has {row.missing} finding(s) of {row.account_id} in {region} that GuardWatch lacks",
            message=(f"GuardDuty counts {row.guardduty_total} findings updated between "
                     f"{row.window_start:%Y-%m-%d %H:%M} and {row.window_end:%Y-%m-%d %H:%M} UTC; GuardWatch stores "
                     f"{row.guardwatch_total} ({bands}). The account's findings are being compared id by id now; "
                     f"the Sync page shows the next check."),  # fmt: skip
            target=("accounts.memberaccount", row.account_id, f"{row.account_id} in {region}"),
            dedupe_key=f"findings.ledger:{region}:{row.account_id}",
        )
    if result.missing_accounts:
        logger.warning("Findings ledger of %s: %d account(s) missing findings: %s; comparing their ids now.",
                       region, len(result.missing_accounts), ", ".join(result.missing_accounts[:10]))  # fmt: skip
        task_send_on_commit("findings.tasks.findings_ids_compare_region", region, accounts=result.missing_accounts)
    elif result.archived_differ:
        task_send_on_commit("findings.tasks.findings_reconcile_region", region)


def _guardduty_counts(state: SyncState, window: dict, result: LedgerResult) -> tuple[dict[str, int], dict[str, int]]:
    """GuardDuty's count per account in the window, all findings and archived ones."""
    archived = {**window, "service.archived": {"Eq": ["true"]}}
    totals, calls = gateway.findings_count_by_account(region=state.region, detector_id=state.detector_id,
                                                      criteria=window, limit=GROUP_LIMIT)  # fmt: skip
    result.calls += calls
    if len(totals) < GROUP_LIMIT:
        archived_totals, calls = gateway.findings_count_by_account(
            region=state.region, detector_id=state.detector_id, criteria=archived, limit=GROUP_LIMIT
        )
        result.calls += calls
        return totals, archived_totals
    # More accounts than one grouping answers: ask per batch of the accounts known here.
    known = sorted(set(totals) | _known_accounts(state.region))
    totals, archived_totals = {}, {}
    for start in range(0, len(known), ACCOUNTS_PER_CRITERION):
        batch = {"accountId": {"Eq": known[start : start + ACCOUNTS_PER_CRITERION]}}
        for criteria, into in (({**window, **batch}, totals), ({**archived, **batch}, archived_totals)):
            counted, calls = gateway.findings_count_by_account(region=state.region, detector_id=state.detector_id,
                                                               criteria=criteria, limit=ACCOUNTS_PER_CRITERION)  # fmt: skip
            result.calls += calls
            into.update(counted)
    return totals, archived_totals


def _known_accounts(region: str) -> set[str]:
    from accounts.models import Membership

    stored = set(Finding.objects.filter(region=region).order_by().values_list("account_id", flat=True).distinct())
    return stored | set(Membership.objects.filter(region=region).values_list("account__account_id", flat=True))


def _stored_counts(region: str, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """GuardWatch's count per account of the region's findings updated in [start, end): (all, archived).

    One pass over the region's findings (no index on updatedAt: the upsert would pay for it on every
    finding; the ledger runs in the background, hourly)."""
    rows = (
        Finding.objects.filter(region=region, updated_at__gte=start, updated_at__lt=end)
        .order_by().values("account_id")
        .annotate(total=Count("id"), archived=Count("id", filter=Q(archived=True)))
    )  # fmt: skip
    return {row["account_id"]: (row["total"], row["archived"]) for row in rows}


def _missing_by_band(state: SyncState, window: dict, row: LedgerCheck, result: LedgerResult) -> dict[str, int]:
    """Where an account's gap lies: GuardDuty's count per severity band minus GuardWatch's (bands short only)."""
    criteria = {**window, "accountId": {"Eq": [row.account_id]}}
    theirs, calls = gateway.findings_count_by_severity(region=state.region, detector_id=state.detector_id,
                                                       criteria=criteria)  # fmt: skip
    result.calls += calls
    short: dict[str, int] = defaultdict(int)
    for severity, count in theirs.items():
        short[severity_band(severity)] += count
    stored = (
        Finding.objects.filter(region=state.region, account_id=row.account_id,
                               updated_at__gte=row.window_start, updated_at__lt=row.window_end)
        .order_by().values_list("severity", flat=True)
    )  # fmt: skip
    for severity in stored:
        short[severity_band(severity)] -= 1
    return {band: count for band, count in short.items() if count > 0}
