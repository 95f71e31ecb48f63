"""Findings writes besides the pull sync (findings.sync): archive/feedback reconciliation, the ids-only
comparison, ingest API keys, retention. EventBridge push ingest and its confirmation by GuardDuty are in
`findings.push`.

Every path stores findings through `findings_upsert` (see `upsert.py`), whose WHERE clause lets
only a strictly newer `updatedAt` replace a stored finding, so pull and push can race freely.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from findings import gateway
from findings.models import Finding, IngestApiKey, SyncState, WriteSource
from findings.parsing import findings_parse_skipping
from findings.sync import detector_id_known, error_describe
from findings.upsert import findings_upsert
from guardwatch.core.data_version import data_version_bump
from guardwatch.core.keys import key_hash, key_matches, key_new, key_prefix
from guardwatch.core.metrics import IDS_COMPARE_MISSING, IDS_COMPARE_RUNS
from guardwatch.core.services import audit_record

logger = logging.getLogger(__name__)


# --- Archive and feedback reconciliation ------------------------------------------------------

GUARDDUTY_RETENTION = timedelta(days=90)  # GuardDuty keeps findings 90 days; older ones are ours alone
_ARCHIVED_IN_GUARDDUTY = {"service.archived": {"Eq": ["true"]}}
_LOOKUP_CHUNK = 5000


@dataclass
class ReconcileResult:
    """What one reconciliation of a region changed here, and the GuardDuty calls it cost."""

    region: str
    list_calls: int = 0
    get_calls: int = 0
    detector_calls: int = 0
    fetched: int = 0
    archived: int = 0
    unarchived: int = 0
    feedback: int = 0
    error: str = ""

    @property
    def api_calls(self) -> int:
        return self.list_calls + self.get_calls + self.detector_calls


def findings_reconcile_region(*, region: str, now: datetime | None = None) -> ReconcileResult:
    """Bring archive, unarchive and feedback changes made in the GuardDuty console into GuardWatch.

    GuardDuty does not move `updatedAt` for them, so the incremental pull sync never lists them.
    One listing of the findings archived in GuardDuty (⌈archived / 50⌉ ListFindings) shows which
    stored findings disagree either way; GetFindings (50 ids a call) then fetches those, plus a
    slice of the open findings for feedback changes (at most GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS
    calls; a larger region is covered over successive runs). What comes back is stored through the
    pull upsert, which takes archive and feedback at an equal `updatedAt` and never touches triage
    state. Only findings within GuardDuty's 90-day retention are compared. Failures are logged and
    returned, never raised.
    """
    now = now or timezone.now()
    result = ReconcileResult(region=region)
    state, _ = SyncState.objects.get_or_create(region=region)
    try:
        result.detector_calls += detector_id_known(state)
        archived_there, result.list_calls = gateway.finding_ids_list(
            region=region, detector_id=state.detector_id, criteria=_ARCHIVED_IN_GUARDDUTY
        )
        wanted = _reconcile_candidates(region=region, archived_there=set(archived_there), now=now)
        for findings in gateway.findings_get(
            region=region, detector_id=state.detector_id, finding_ids=wanted
        ):
            result.get_calls += 1
            _reconcile_store(findings, result)
    except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
        result.error = error_describe(error)
        logger.warning("Findings reconciliation of %s failed: %s", region, result.error)
    if result.archived or result.unarchived or result.feedback:
        data_version_bump()
    return result


def _reconcile_candidates(*, region: str, archived_there: set[str], now: datetime) -> list[str]:
    """Ids to fetch: archived there but not here, archived here but not there, then the sweep's slice."""
    recent = Finding.objects.filter(region=region, updated_at__gte=now - GUARDDUTY_RETENTION).order_by()
    archived_here = set(recent.filter(archived=True).values_list("finding_id", flat=True))
    missing = sorted(archived_there - archived_here)
    newly_archived = []
    for start in range(0, len(missing), _LOOKUP_CHUNK):
        chunk = missing[start : start + _LOOKUP_CHUNK]
        newly_archived.extend(recent.filter(finding_id__in=chunk).values_list("finding_id", flat=True))
    unarchived = sorted(archived_here - archived_there)

    open_here = recent.filter(archived=False)
    budget = settings.GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS * gateway.PAGE_SIZE
    total = open_here.count()
    if total > budget:
        # A stable slice per run: ids with the same remainder, rotating with the beat interval.
        slices = -(-total // budget)
        interval = settings.GUARDWATCH_FINDINGS_RECONCILE_MINUTES * 60
        turn = int(now.timestamp() // interval) % slices
        open_here = open_here.annotate(slot=F("id") % slices).filter(slot=turn)
    sweep = list(open_here.order_by("id").values_list("finding_id", flat=True)[:budget])
    return list(dict.fromkeys([*sorted(newly_archived), *unarchived, *sweep]))


def _reconcile_store(findings: tuple[dict, ...], result: ReconcileResult) -> None:
    parsed = findings_parse_skipping(findings, what="Reconciliation")
    if not parsed:
        return
    result.fetched += len(parsed)
    stored_rows = Finding.objects.filter(arn__in=[p.arn for p in parsed]).values_list(
        "arn", "archived", "feedback"
    )
    before = {arn: (archived, feedback) for arn, archived, feedback in stored_rows}
    for finding in parsed:
        stored = before.get(finding.arn)
        if stored is None:
            continue
        if finding.archived != stored[0]:
            if finding.archived:
                result.archived += 1
            else:
                result.unarchived += 1
        if (finding.feedback or "") != stored[1]:
            result.feedback += 1
    findings_upsert(findings=parsed, source=WriteSource.PULL)


# --- Ids-only comparison ---------------------------------------------------------------------------


@dataclass
class IdsCompareResult:
    """What one ids-only comparison of a region found and fetched, and the GuardDuty calls it cost."""

    region: str
    in_guardduty: int = 0
    stored: int = 0
    missing: int = 0  # listed by GuardDuty, not stored here
    fetched: int = 0  # of the missing, stored now
    gone: int = 0  # stored here, no longer listed by GuardDuty (kept)
    gone_within_retention: int = 0  # of those, updated within GuardDuty's 90 days (a member left, say)
    list_calls: int = 0
    get_calls: int = 0
    detector_calls: int = 0
    error: str = ""

    @property
    def api_calls(self) -> int:
        return self.list_calls + self.get_calls + self.detector_calls


def findings_ids_compare_region(
    *, region: str, accounts: Sequence[str] = (), now: datetime | None = None
) -> IdsCompareResult:
    """Compare every finding id the administrator's detector lists in `region` with the ids stored here,
    and fetch what the incremental sync missed.

    ListFindings with no criteria (archived findings included: GuardWatch stores and shows them, and
    GuardDuty's listing includes them unless asked not to), ⌈N / 50⌉ calls; GetFindings for the missing
    ids, 50 a call, stored through the pull upsert. Ids stored here that GuardDuty no longer lists are
    kept and counted, as the reconciliation and retention treat them: past GuardDuty's 90-day retention
    (or of a member no longer associated) a finding is GuardWatch's alone, and only
    `findings_retention_purge` (GUARDWATCH_FINDINGS_RETENTION_DAYS) deletes it. An id the listing misses
    while findings change under it only shows as gone, so nothing is concluded from it. Failures are
    logged and returned, never raised.

    `accounts` narrows it to those accounts' findings (the ingestion ledger's targeted re-sync): one
    listing per 50 accounts (accountId Eq takes at most 50 values).
    """
    now = now or timezone.now()
    result = IdsCompareResult(region=region)
    state, _ = SyncState.objects.get_or_create(region=region)
    try:
        result.detector_calls += detector_id_known(state)
        there: set[str] = set()
        for criteria in _account_criteria(accounts):
            listed, calls = gateway.finding_ids_list(region=region, detector_id=state.detector_id, criteria=criteria)
            there.update(listed)
            result.list_calls += calls
        # Read after the listing, so what a sync stores meanwhile counts as stored, not missing.
        stored = Finding.objects.filter(region=region)
        if accounts:
            stored = stored.filter(account_id__in=list(accounts))
        here = dict(stored.order_by().values_list("finding_id", "updated_at"))
        missing = sorted(there - here.keys())
        gone = here.keys() - there
        cutoff = now - GUARDDUTY_RETENTION
        result.in_guardduty, result.stored, result.missing = len(there), len(here), len(missing)
        result.gone = len(gone)
        result.gone_within_retention = sum(1 for finding_id in gone if here[finding_id] >= cutoff)
        for findings in gateway.findings_get(region=region, detector_id=state.detector_id, finding_ids=missing):
            result.get_calls += 1
            result.fetched += _missing_store(findings)
    except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
        result.error = error_describe(error)
        logger.warning("Findings ids comparison of %s failed: %s", region, result.error)
    IDS_COMPARE_RUNS.labels(region=region, outcome="failed" if result.error else "succeeded").inc()
    IDS_COMPARE_MISSING.labels(region=region).inc(result.missing)
    if result.missing:
        logger.warning(
            "Findings ids comparison of %s: %d finding(s) GuardDuty lists were not stored; %d fetched now.",
            region, result.missing, result.fetched,
        )  # fmt: skip
    if result.fetched:
        data_version_bump(scope="findings")
    return result


def _account_criteria(accounts: Sequence[str]) -> list[dict]:
    """ListFindings criteria for the accounts, 50 a criterion; no accounts: one listing of everything."""
    chosen = sorted(set(accounts))
    if not chosen:
        return [{}]
    return [{"accountId": {"Eq": chosen[start : start + 50]}} for start in range(0, len(chosen), 50)]


def _missing_store(findings: tuple[dict, ...]) -> int:
    parsed = findings_parse_skipping(findings, what="Ids comparison")
    if not parsed:
        return 0
    stored = findings_upsert(findings=parsed, source=WriteSource.PULL)
    return stored.new + stored.updated


# --- Ingest API keys ---------------------------------------------------------------------------

KEY_PREFIX = "gw_"


@transaction.atomic
def ingest_key_create(
    *, name: str, actor, regions: Sequence[str] = (), accounts: Sequence[str] = ()
) -> tuple[IngestApiKey, str]:
    """A new key for EventBridge; the full secret is returned once and only its hash is kept.

    `regions` and `accounts` scope it (empty: every configured region, every monitored account); a region
    GuardWatch does not sync or an account id that is not 12 digits is refused with a ValidationError.
    """
    regions, accounts = sorted(set(regions)), sorted({a.strip() for a in accounts if a.strip()})
    errors = {}
    if unknown := [r for r in regions if r not in settings.GUARDWATCH_AWS_REGIONS]:
        errors["regions"] = f"GuardWatch does not sync {', '.join(unknown)}."
    if bad := [a for a in accounts if not (len(a) == 12 and a.isascii() and a.isdigit())]:
        errors["accounts"] = f"An AWS account id is exactly 12 digits: {', '.join(bad[:5])}."
    if errors:
        raise ValidationError(errors)
    prefix, secret = key_new(KEY_PREFIX)
    key = IngestApiKey.objects.create(
        name=name.strip()[:100], prefix=prefix, secret_hash=key_hash(secret), created_by=actor,
        regions=regions, accounts=accounts,
    )  # fmt: skip
    audit_record(actor=actor, verb="ingest_key.create", target=key,
                 details={"prefix": prefix, "regions": regions, "accounts": accounts})  # fmt: skip
    return key, secret


@transaction.atomic
def ingest_key_revoke(*, key: IngestApiKey, actor) -> None:
    """Stop accepting the key at once (kept for the record)."""
    if key.revoked_at is not None:
        return
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(actor=actor, verb="ingest_key.revoke", target=key, details={"prefix": key.prefix})


def ingest_key_authenticate(*, presented: str) -> IngestApiKey | None:
    """The active key matching `presented`, compared in constant time; None if there is none."""
    presented = presented.strip()
    prefix = key_prefix(presented, KEY_PREFIX)
    key = IngestApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first() if prefix else None
    if not key_matches(presented, key.secret_hash if key else None):
        return None
    now = timezone.now()
    # One write a minute at most, however often EventBridge calls.
    IngestApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1))
    ).update(last_used_at=now)
    return key


# --- Retention ---------------------------------------------------------------------------------

PURGE_CHUNK = 5000


def findings_retention_purge(*, now: datetime | None = None) -> int:
    """Delete findings last seen more than GUARDWATCH_FINDINGS_RETENTION_DAYS ago (0 keeps all)."""
    days = settings.GUARDWATCH_FINDINGS_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = Finding.objects.filter(Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True, updated_at__lt=cutoff))
    total = 0
    while True:
        ids = list(expired.order_by().values_list("id", flat=True)[:PURGE_CHUNK])
        if not ids:
            break
        with transaction.atomic():
            # Only the ids: the cascade needs no more, and loading each finding's raw JSON was ~40 % of a batch.
            Finding.objects.filter(id__in=ids).only("id").delete()
        total += len(ids)
    if total:
        audit_record(actor=None, verb="findings.retention_purge", target=("findings", "", "Findings"),
                     details={"deleted": total, "older_than_days": days, "cutoff": cutoff.isoformat()})  # fmt: skip
    return total
