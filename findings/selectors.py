"""Findings reads: one finding, sync status per region, recent runs, the ingestion ledger, ingest keys, the kept
counts of hot entities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from findings.models import (
    EntityRollup,
    Finding,
    FindingEntity,
    HotEntity,
    IngestApiKey,
    LedgerCheck,
    SyncRun,
    SyncState,
)
from guardwatch.core.scope import scope_q


@dataclass(frozen=True)
class RegionLedger:
    """One region's ledger at its last check: accounts compared, accounts short, findings short."""

    accounts: int
    short_accounts: int
    missing: int
    guardduty_total: int
    guardwatch_total: int


@dataclass(frozen=True)
class RegionSyncStatus:
    """One row of the sync status page."""

    region: str
    state: SyncState | None
    last_run: SyncRun | None
    running: bool
    ledger: RegionLedger | None = None

    @property
    def freshness(self):
        """Age of the last successful run, or None if the region never synced."""
        if self.state is None or self.state.last_success_at is None:
            return None
        return timezone.now() - self.state.last_success_at

    @property
    def stale(self) -> bool:
        """No success within two sync intervals (or ever)."""
        age = self.freshness
        return age is None or age.total_seconds() > 2 * 60 * settings.GUARDWATCH_FINDINGS_SYNC_MINUTES


def sync_status_list() -> list[RegionSyncStatus]:
    """Every configured region (and any region with history), with its state and newest run.

    Five queries whatever the number of regions.
    """
    states = {s.region: s for s in SyncState.objects.all()}
    latest = {
        run.region: run for run in SyncRun.objects.order_by("region", "-started_at", "-id").distinct("region")
    } if _distinct_on() else _latest_runs_portable()
    running = set(SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values_list("region", flat=True))
    ledgers = ledger_by_region()
    regions = list(settings.GUARDWATCH_AWS_REGIONS) + sorted(set(states) - set(settings.GUARDWATCH_AWS_REGIONS))
    return [
        RegionSyncStatus(region=r, state=states.get(r), last_run=latest.get(r), running=r in running,
                         ledger=ledgers.get(r))  # fmt: skip
        for r in regions
    ]


def ledger_by_region() -> dict[str, RegionLedger]:
    """Each region's ledger summary, in one aggregate query."""
    short = Q(guardduty_total__gt=F("guardwatch_total"))
    rows = (
        LedgerCheck.objects.order_by().values("region")
        .annotate(accounts=Count("id"), short_accounts=Count("id", filter=short),
                  missing=Sum(F("guardduty_total") - F("guardwatch_total"), filter=short),
                  guardduty=Sum("guardduty_total"), guardwatch=Sum("guardwatch_total"))
    )  # fmt: skip
    return {
        row["region"]: RegionLedger(accounts=row["accounts"], short_accounts=row["short_accounts"],
                                    missing=row["missing"] or 0, guardduty_total=row["guardduty"] or 0,
                                    guardwatch_total=row["guardwatch"] or 0)  # fmt: skip
        for row in rows
    }


def ledger_gaps(*, limit: int = 50) -> list[LedgerCheck]:
    """The account × region pairs GuardDuty counts more findings for than GuardWatch stores, largest first."""
    return list(
        LedgerCheck.objects.filter(guardduty_total__gt=F("guardwatch_total"))
        .annotate(short=F("guardduty_total") - F("guardwatch_total"))
        .order_by("-short", "region", "account_id")[:limit]
    )


def _distinct_on() -> bool:
    from django.db import connection

    return connection.features.can_distinct_on_fields


def _latest_runs_portable() -> dict[str, SyncRun]:
    latest: dict[str, SyncRun] = {}
    for run in SyncRun.objects.order_by("region", "-started_at", "-id"):
        latest.setdefault(run.region, run)
    return latest


def sync_runs_recent(*, limit: int = 20) -> QuerySet[SyncRun]:
    """The newest runs of every region."""
    return SyncRun.objects.order_by("-started_at", "-id")[:limit]


def sync_any_running() -> bool:
    return SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()


def ingest_key_list() -> QuerySet[IngestApiKey]:
    """Every ingest key, newest first, with who created it."""
    return IngestApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at", "-id")


def finding_get(*, pk: int, user) -> Finding:
    """One finding with its assignee, or 404 (also for a finding outside a team-scoped user's accounts)."""
    try:
        return Finding.objects.select_related("assignee").filter(scope_q(user)).get(pk=pk)
    except Finding.DoesNotExist:
        raise Http404("No such finding.") from None


@dataclass(frozen=True)
class EntityCounts:
    """A hot entity's kept counts (`findings.entity_rollup`): per (account, region) with the earliest first
    sighting, per UTC day of last sighting, and its latest sighting."""

    places: list[tuple[str, str, int, datetime | None]]
    days: dict[date, int]
    last_seen: datetime | None


def entity_counts_kept(*, kind: str, value: str) -> EntityCounts | None:
    """The kept counts of an entity, or None when it has none to trust: not hot, not counted yet, or a place
    lost a row since it was counted (its earliest sighting may have moved). Two short statements: the kept rows
    summed per key, and the latest sighting from the entity index's first entry."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.axis, r.account_id, r.region, r.day, sum(r.n), min(r.first_seen), bool_or(r.stale)"  # noqa: S608
            f" FROM {HotEntity._meta.db_table} h LEFT JOIN {EntityRollup._meta.db_table} r"
            " ON r.kind = h.kind AND r.value = h.value"
            " WHERE h.kind = %s AND h.value = %s AND h.based_at IS NOT NULL"
            " GROUP BY r.axis, r.account_id, r.region, r.day",
            [kind, value],
        )
        rows = cursor.fetchall()
        if not rows:
            return None  # not hot, or not counted yet
        places, days = [], {}
        for axis, account, region, day, n, first, stale in rows:
            if not n:  # a key every row left (or the entity's only row: a hot entity without kept rows)
                continue
            if axis == EntityRollup.PLACE:
                if stale:
                    return None
                places.append((account, region, n, first))
            elif day is not None:
                days[day] = n
        cursor.execute(
            f"SELECT last_seen FROM {FindingEntity._meta.db_table} WHERE kind = %s AND value = %s"  # noqa: S608
            " ORDER BY last_seen DESC NULLS LAST LIMIT 1",
            [kind, value],
        )
        latest = cursor.fetchone()
    return EntityCounts(places=places, days=days, last_seen=latest[0] if latest else None)
