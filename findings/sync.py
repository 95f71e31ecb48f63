"""The pull sync: one region at a time (a claim per region), ListFindings pages parsed ahead, stored in batches.

Every path stores findings through `findings_upsert` (see `upsert.py`), whose WHERE clause lets only a
strictly newer `updatedAt` replace a stored finding, so pull and push can race freely.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from findings import gateway
from findings.fields import JSONText, json_text
from findings.models import SyncRun, SyncState, WriteSource
from findings.parsing import FindingParseError, parse_finding
from findings.signals import findings_sync_failed
from findings.upsert import findings_upsert
from guardwatch.core.data_version import data_version_bump
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import audit_record

logger = logging.getLogger(__name__)

MAX_RUN_ERRORS = 50  # error lines kept on one SyncRun
ADVISORY_LOCK_CLASS = 0x67775379  # "gwSy": GuardWatch findings sync, first key of pg_advisory_lock(int, int)


# --- One sync per region at a time -------------------------------------------------------------


@dataclass
class SyncClaim:
    """The right to sync one region now. `renew()` keeps a lease alive between pages."""

    region: str
    acquired: bool
    token: str = ""
    kind: str = ""

    def renew(self) -> None:
        if self.acquired and self.kind == "lease":
            SyncState.objects.filter(region=self.region, claimed_by=self.token).update(
                claimed_until=timezone.now() + _lease()
            )


def _lease() -> timedelta:
    return timedelta(seconds=settings.GUARDWATCH_FINDINGS_SYNC_LEASE_SECONDS)


def _region_lock_key(region: str) -> int:
    return zlib.crc32(region.encode()) & 0x7FFFFFFF


@contextmanager
def sync_claim(*, region: str) -> Iterator[SyncClaim]:
    """Claim `region` for one sync across every worker and host, or learn that another run holds it.

    Postgres: a session advisory lock on a dedicated connection. Postgres releases it when that
    connection ends, so a killed worker never leaves the region locked. SQLite (the demo, one
    worker): a conditional UPDATE claim on the SyncState row with a lease renewed every page.
    """
    SyncState.objects.get_or_create(region=region)
    if connection.vendor == "postgresql":
        with _advisory_claim(region) as claim:
            yield claim
    else:
        with _lease_claim(region) as claim:
            yield claim


@contextmanager
def _advisory_claim(region: str) -> Iterator[SyncClaim]:
    lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
    key = (ADVISORY_LOCK_CLASS, _region_lock_key(region))
    try:
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            acquired = bool(cursor.fetchone()[0])
        try:
            yield SyncClaim(region=region, acquired=acquired, kind="advisory")
        finally:
            if acquired:
                with lock_connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        lock_connection.close()


@contextmanager
def _lease_claim(region: str) -> Iterator[SyncClaim]:
    token = uuid.uuid4().hex
    now = timezone.now()
    acquired = bool(
        SyncState.objects.filter(region=region)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_by=token, claimed_until=now + _lease())
    )
    try:
        yield SyncClaim(region=region, acquired=acquired, token=token, kind="lease")
    finally:
        if acquired:
            SyncState.objects.filter(region=region, claimed_by=token).update(claimed_by="", claimed_until=None)


# --- Pull sync ---------------------------------------------------------------------------------


@dataclass
class _RunProgress:
    run: SyncRun
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_RUN_ERRORS:
            self.errors.append(message)
        elif len(self.errors) == MAX_RUN_ERRORS:
            self.errors.append("… further errors omitted")

    def save(self, *fields: str) -> None:
        self.run.errors = "\n".join(self.errors)
        self.run.save(update_fields=[*fields, "errors"])


def listing_start_ms(*, state: SyncState, overlap: timedelta) -> int | None:
    """The inclusive `updatedAt` (epoch ms) the next listing starts from; None means a full sync.

    Everything up to `min(watermark, settled_through)` is known to have been listed and stored, so
    listing starts just after it. Before any run has completed, the overlap is applied to the
    watermark instead (a first sync that failed part-way).
    """
    if state.watermark is None:
        return None
    if state.settled_through is None:
        return gateway.to_epoch_ms(state.watermark - overlap)
    return gateway.to_epoch_ms(min(state.watermark, state.settled_through)) + 1


def findings_sync_region(*, region: str, trigger: str = "beat", requested_by: str = "") -> SyncRun | None:
    """Pull every finding updated since the region's watermark; None if another run holds the region.

    Page by page: ListFindings (50 ids, oldest update first), GetFindings for those ids, parse;
    every 10 pages (and before a failing page) one bulk upsert, with the watermark moved to the
    newest stored `updatedAt` in the same transaction, so a crash at any point resumes from the
    last committed batch. Failures are recorded on the run and the region's state, never raised:
    other regions carry on. Archive and feedback changes made in the console do not move
    `updatedAt`; `findings_reconcile_region` catches those.
    """
    with sync_claim(region=region) as claim:
        if not claim.acquired:
            return None
        return _sync_claimed_region(claim, trigger=trigger, requested_by=requested_by)


def _sync_claimed_region(claim: SyncClaim, *, trigger: str, requested_by: str) -> SyncRun:
    region = claim.region
    now = timezone.now()
    # Holding the claim proves no other run is alive: a "running" row left here is a dead worker's.
    SyncRun.objects.filter(region=region, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        errors="Interrupted: the worker stopped before the run finished; the next run resumed from the watermark.",
    )
    progress = _RunProgress(
        SyncRun.objects.create(region=region, trigger=trigger, requested_by=requested_by[:150], started_at=now)
    )
    state = SyncState.objects.get(region=region)
    overlap = timedelta(seconds=settings.GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS)
    listing_started = timezone.now()
    try:
        _sync_pages(claim, state, progress, overlap)
    except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
        _sync_failed(state, progress, error_describe(error))
        return progress.run
    except Exception as error:  # a bug or a database outage: record it, and let the log have the trace
        logger.exception("Findings sync of %s failed", region)
        _sync_failed(state, progress, f"{type(error).__name__}: {error}")
        return progress.run
    finished = timezone.now()
    settled = listing_started - overlap
    if state.settled_through is None or settled > state.settled_through:
        state.settled_through = settled
    state.last_success_at = finished
    state.last_error = ""
    state.save(update_fields=["settled_through", "last_success_at", "last_error"])
    progress.run.status = SyncRun.Status.SUCCEEDED
    progress.run.finished_at = finished
    progress.save("status", "finished_at")
    if progress.run.new or progress.run.updated:  # reports: findings figures are stale only if findings changed
        data_version_bump(scope="findings")
    return progress.run


def _sync_pages(claim: SyncClaim, state: SyncState, progress: _RunProgress, overlap: timedelta) -> None:
    run = progress.run
    cached = bool(state.detector_id)
    if not cached:
        _detector_refresh(state, run)
    start_ms = listing_start_ms(state=state, overlap=overlap)
    try:
        _sync_from(claim, state, progress, start_ms)
    except ClientError as error:
        # A cached detector id can go stale (GuardDuty disabled and re-enabled): look it up once more.
        if not (cached and run.pages == 0 and gateway.is_missing_detector(error)):
            raise
        run.api_calls += 1
        _detector_refresh(state, run)
        _sync_from(claim, state, progress, start_ms)


def _detector_refresh(state: SyncState, run: SyncRun) -> None:
    run.api_calls += 1
    state.detector_id = gateway.detector_id_get(region=state.region)
    state.save(update_fields=["detector_id"])


def _sync_from(claim: SyncClaim, state: SyncState, progress: _RunProgress, start_ms: int | None) -> None:
    """Store and commit the pages in batches of SYNC_COMMIT_FINDINGS findings, while the next pages
    are fetched and parsed ahead (see `parsed_batches`).

    A page that fails to arrive first has the pages before it stored, so the watermark stops
    exactly at the last page received.
    """
    pages = gateway.finding_pages(
        region=state.region, detector_id=state.detector_id, updated_from_ms=start_ms
    )
    for batch in parsed_batches(pages, size=SYNC_COMMIT_FINDINGS):
        for message in batch.errors:
            progress.error(message)
        _batch_store(batch, state=state, progress=progress)
        claim.renew()


SYNC_COMMIT_FINDINGS = 500  # findings (10 pages) stored and committed together by the pull sync
_AHEAD = 2  # batches fetched and parsed ahead of the one being stored


@dataclass
class ParsedBatch:
    """Consecutive pages, parsed: what one transaction of the pull sync stores."""

    parsed: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pages: int = 0
    api_calls: int = 0


@dataclass
class _SourceFailed:
    error: BaseException


def _raw_json_text(raw: dict) -> JSONText:
    return JSONText(json_text(raw))


def parsed_batches(pages: Iterator, *, size: int) -> Iterator[ParsedBatch]:
    """Batches of at least `size` parsed findings (the last one smaller) from `pages` (objects with
    `findings` and `api_calls`, e.g. `gateway.FindingPage`).

    A background thread fetches and parses up to `_AHEAD` batches ahead while the caller stores
    the previous one: GuardDuty's latency, parsing (Python) and the upsert (Postgres) overlap on
    the two cores instead of taking turns. The thread touches no database. An exception raised by
    `pages` is re-raised here after the batch of the pages before it; stopping early stops the thread.
    """
    ahead: queue.Queue = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        batch = ParsedBatch()
        try:
            for page in pages:
                for raw in page.findings:
                    try:
                        # Its JSON text too, made here while the upsert waits on Postgres rather
                        # than after, on the upsert's path.
                        batch.parsed.append(parse_finding(raw, raw_as=_raw_json_text))
                    except FindingParseError as error:
                        batch.errors.append(
                            f"Finding {raw.get('Id', '?') if isinstance(raw, dict) else '?'}: {error}"
                        )
                batch.pages += 1
                batch.api_calls += page.api_calls
                if len(batch.parsed) >= size:
                    if not put(batch):
                        return
                    batch = ParsedBatch()
            if batch.pages and not put(batch):
                return
            put(None)
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            if batch.pages and not put(batch):
                return
            put(_SourceFailed(error))

    worker = threading.Thread(target=produce, name="findings-pages-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ahead.get()
            if item is None:
                return
            if isinstance(item, _SourceFailed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=60)


def _batch_store(batch: ParsedBatch, *, state: SyncState, progress: _RunProgress) -> None:
    """Upsert a batch, count it on the run and move the watermark, in one transaction."""
    run = progress.run
    with transaction.atomic():
        result = findings_upsert(findings=batch.parsed, source=WriteSource.PULL)
        run.pages += batch.pages
        run.api_calls += batch.api_calls
        run.new += result.new
        run.updated += result.updated
        run.unchanged += result.unchanged
        progress.save("pages", "api_calls", "new", "updated", "unchanged")
        if result.max_updated_at and (state.watermark is None or result.max_updated_at > state.watermark):
            state.watermark = result.max_updated_at
            state.save(update_fields=["watermark"])


def _sync_failed(state: SyncState, progress: _RunProgress, message: str) -> None:
    now = timezone.now()
    progress.error(message)
    progress.run.status = SyncRun.Status.FAILED
    progress.run.finished_at = now
    progress.save("status", "finished_at", "pages", "api_calls", "new", "updated", "unchanged")
    state.last_failure_at = now
    state.last_error = message[:2000]
    state.save(update_fields=["last_failure_at", "last_error"])
    findings_sync_failed.send(sender=SyncRun, region=state.region, run_id=progress.run.pk, error=message)


def error_describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        op = getattr(error, "operation_name", "") or "GuardDuty"
        code = info.get("Code", "Error")
        attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts")
        tail = f" (after {attempts} retries)" if attempts else ""
        return f"{op}: {code}: {info.get('Message', '')}{tail}".strip()
    return f"{type(error).__name__}: {error}"




def findings_sync_request(*, regions: list[str] | None = None, actor) -> list[str]:
    """"Sync now": queue a pull sync of each region (all configured regions by default), after commit."""
    chosen = [r for r in (regions or settings.GUARDWATCH_AWS_REGIONS) if r in settings.GUARDWATCH_AWS_REGIONS]
    username = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
    audit_record(actor=actor, verb="findings.sync_request", target=("sync", ",".join(chosen), "Findings sync"),
                 details={"regions": chosen})  # fmt: skip
    for region in chosen:
        task_send_on_commit("findings.tasks.findings_sync_region", region, trigger="manual", requested_by=username)
    return chosen


def findings_sync_recover() -> list[str]:
    """The watchdog: regions whose "running" run has no live worker get a new run queued now.

    A run's worker holds its region's claim for the whole run (a session advisory lock on Postgres,
    released when a killed worker's connection ends), so a "running" row whose region can be
    claimed is a dead worker's. Beat runs this every GUARDWATCH_WATCHDOG_SECONDS instead of leaving
    the region until the next sync tick; the new run resumes from the watermark.
    """
    regions = sorted(set(SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values_list("region", flat=True)))
    recovered = []
    for region in regions:
        with sync_claim(region=region) as claim:
            if not claim.acquired:
                continue  # a live worker holds it
            ended = SyncRun.objects.filter(region=region, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                errors="Interrupted: the worker stopped before the run finished; the watchdog queued a new run, "
                "which resumes from the watermark.",
            )
        if ended:
            logger.warning("The findings sync of %s lost its worker; a new run is queued.", region)
            recovered.append(region)
            task_send_on_commit("findings.tasks.findings_sync_region", region, trigger="recovery")
    return recovered
