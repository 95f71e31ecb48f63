"""The pull sync: one region at a time (a claim per region), ListFindings pages parsed ahead, stored in batches.

Every path stores findings through `findings_upsert` (see `upsert.py`), whose WHERE clause lets only a
strictly newer `updatedAt` replace a stored finding, so pull and push can race freely.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django import db
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from findings import gateway
from findings.fields import JSONText, json_text
from findings.models import SyncRun, SyncState, WriteSource
from findings.parsing import FindingParseError, parse_finding
from findings.signals import findings_sync_failed
from findings.upsert import findings_upsert
from guardwatch.core.data_version import data_version_bump
from guardwatch.core.db.locks import advisory_lock
from guardwatch.core.metrics import FINDINGS_REFUSED, SYNC_RUNS
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
    with advisory_lock(ADVISORY_LOCK_CLASS, _region_lock_key(region)) as acquired:
        yield SyncClaim(region=region, acquired=acquired, kind="advisory")


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


# --- Listing in updatedAt windows ----------------------------------------------------------------
#
# Why the sync does not simply follow NextTokens from one ListFindings query: AWS documents nothing about
# what a token holds (ListFindingsRequest.NextToken: "fill nextToken in the request with the value of
# NextToken from the previous response to continue listing data"). If it is an offset into the query's
# current result, a finding updated while the sync pages moves to the end of an updatedAt-sorted result,
# everything after it shifts one place, and the finding at the next page boundary is never listed. It is
# older than what the sync stores after it, so no later run would list it either.
#
# The strategy: windows on updatedAt whose lower bound only moves over what was seen.
# - The first call lists [start, ∞) and dates the run from GuardDuty's clock: D = the answer's HTTP Date,
#   R = its round trip. Every later call is bounded by hi = D + 1 s (Date is whole seconds), so a run ends
#   however busy the region is. T = D − R − lag is the run's settled point: a finding updated after the
#   first listing was evaluated carries an updatedAt ≥ T, where lag (GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS)
#   allows for a new version taking that long to show in ListFindings. The worker's clock is never read.
# - Each further page is a fresh query without a token: updatedAt in [cursor, upper), id not among the
#   findings already taken at `cursor` (a Neq of at most 50), oldest first, 50 at most. Once GetFindings has
#   answered, the cursor moves to the newest fetched updatedAt below T: such a value is what the listing
#   saw (a finding changed since sits at ≥ T), and every finding the listing held below it was on the page.
#   No position is ever reused, so nothing can shift past the sync. A full page costs what a token page did
#   (1 ListFindings + 1 GetFindings for 50 new findings).
# - More than 50 findings in one millisecond: that millisecond alone is paged by NextToken, and listed again
#   until a pass brings nothing new (a settled millisecond can lose findings to updates, never gain any).
# - A page that brings nothing below T ends the settled part: the rest of [cursor, T) is listed with
#   upper = T, then the recent part [T, hi) is paged by NextToken. A finding a shifting token skips there
#   is listed by the next run, which starts at or before T.
# - The checkpoint (`SyncState.settled_through`) moves to the cursor with each committed batch and to T when
#   the run completes: a failed run resumes from its last batch; the next run re-lists the last `lag`.

MAX_LISTING_PASSES = 5  # passes over one crowded millisecond before the run gives up (and resumes there later)
MAX_STALLED_PAGES = 10  # pages in a row whose every finding changed under the listing, likewise


class ListingUnstable(Exception):
    """GuardDuty's listing kept changing under the sync; the run stops where it is settled and resumes later."""


def listing_pages(
    *, region: str, detector_id: str, start_ms: int | None, lag_ms: int
) -> Iterator[gateway.FindingPage]:
    """Every finding updated at or after `start_ms` (None: all), as pages of the strategy above, each
    carrying the checkpoint the sync may commit with it. Touches no database (it runs ahead, in a thread)."""
    number = 0

    def fetched(ids) -> tuple[tuple[dict, ...], int]:
        found: list[dict] = []
        calls = 0
        for batch in gateway.findings_get(region=region, detector_id=detector_id, finding_ids=list(ids)):
            found.extend(batch)
            calls += 1
        return tuple(found), calls

    def page_of(listed: gateway.IdsPage, ids, checkpoint: int | None) -> tuple[gateway.FindingPage, tuple]:
        nonlocal number
        findings, calls = fetched(ids) if ids else ((), 0)
        number += 1
        return gateway.FindingPage(
            number=number, finding_ids=listed.finding_ids, findings=findings, api_calls=1 + calls,
            checkpoint_ms=checkpoint,
        ), findings  # fmt: skip

    def token_pages(low: int, high: int, skip: set[str], checkpoint: int) -> Iterator[tuple[gateway.FindingPage, set]]:
        """One NextToken walk over [low, high); yields each page and the ids it brought that `skip` lacked."""
        token = None
        while True:
            listed = gateway.finding_ids_page(
                region=region, detector_id=detector_id, updated_from_ms=low, updated_before_ms=high,
                next_token=token,
            )  # fmt: skip
            new = [i for i in listed.finding_ids if i not in skip]
            page, _ = page_of(listed, new, checkpoint)
            yield page, set(new)
            token = listed.next_token
            if not token:
                return

    listed = gateway.finding_ids_page(region=region, detector_id=detector_id, updated_from_ms=start_ms)
    now_ms = gateway.to_epoch_ms(listed.server_time)
    high = now_ms + 1000
    settled = now_ms - int(listed.round_trip * 1000) - 1 - lag_ms
    cursor = start_ms if start_ms is not None else 0
    taken: set[str] = set()  # fetched findings whose updatedAt is `cursor`
    upper = high
    stalled = 0
    while True:
        new = [i for i in listed.finding_ids if i not in taken]
        complete = listed.next_token is None
        if complete:
            page, _ = page_of(listed, new, settled)
            yield page
            break
        page_findings = fetched(new) if new else ((), 0)
        below = [
            (raw.get("Id"), stamp) for raw in page_findings[0]
            if (stamp := gateway.updated_ms(raw)) is not None and cursor <= stamp < settled
        ]  # fmt: skip
        top = max((stamp for _, stamp in below), default=None)
        if top is not None and top > cursor:
            cursor, taken, stalled = top, {i for i, stamp in below if stamp == top}, 0
        elif any(stamp == cursor for _, stamp in below):
            taken |= {i for i, stamp in below if stamp == cursor}
            stalled = 0
        elif upper != settled:
            upper = settled  # nothing settled on this page: finish [cursor, T), then the recent part
        else:
            stalled += 1
            if stalled >= MAX_STALLED_PAGES:
                raise ListingUnstable(
                    f"ListFindings: {stalled} pages in a row changed while they were read; resuming later."
                )
        number += 1
        yield gateway.FindingPage(
            number=number, finding_ids=listed.finding_ids, findings=page_findings[0],
            api_calls=1 + page_findings[1], checkpoint_ms=min(cursor, settled),
        )  # fmt: skip
        if len(taken) > gateway.PAGE_SIZE:
            # A crowded millisecond: list it alone by NextToken until a pass brings nothing new.
            for _ in range(MAX_LISTING_PASSES):
                brought: set[str] = set()
                for page, new_ids in token_pages(cursor, cursor + 1, taken, min(cursor, settled)):
                    brought |= new_ids
                    yield page
                if not brought:
                    break
                taken |= brought
            else:
                raise ListingUnstable(f"ListFindings: the findings updated at {cursor} ms kept changing; resuming later.")
            cursor, taken = cursor + 1, set()
        if cursor >= upper:
            break
        listed = gateway.finding_ids_page(
            region=region, detector_id=detector_id, updated_from_ms=cursor, updated_before_ms=upper,
            excluded_ids=taken,
        )  # fmt: skip
    if upper == settled:
        # The settled part is complete; the recent part, paged by NextToken, is listed again next run.
        for page, _ in token_pages(max(settled, cursor), high, set(), settled):
            yield page


def findings_sync_region(*, region: str, trigger: str = "beat", requested_by: str = "") -> SyncRun | None:
    """Pull every finding updated since the region's watermark; None if another run holds the region.

    Page by page (`listing_pages`: bounded updatedAt windows, "now" from GuardDuty's Date header):
    ListFindings (50 ids, oldest update first), GetFindings for those ids, parse; every 10 pages (and
    before a failing page) one bulk upsert, with the checkpoint and the watermark moved in the same
    transaction, so a crash at any point resumes from the last committed batch. Failures are recorded on the run and the region's state, never raised:
    other regions carry on. Archive and feedback changes made in the console do not move
    `updatedAt`; `findings_reconcile_region` catches those.
    """
    with sync_claim(region=region) as claim:
        if not claim.acquired:
            return None
        return _sync_claimed_region(claim, trigger=trigger, requested_by=requested_by)


def _run_take_over_or_start(*, region: str, trigger: str, requested_by: str) -> SyncRun:
    """The run this worker carries out: a dead worker's unfinished run of the region, or a new one.

    Holding the region's claim proves no other run is alive, so a "running" row left here lost its
    worker (kill -9, an OOM kill, a lost machine). Its findings up to its last committed batch are
    stored and the checkpoint moved with them, so the run is taken over and carries on from there
    (its counters, waits and errors continue): a dead worker costs a pause, not a failed run.
    """
    left = SyncRun.objects.filter(region=region, status=SyncRun.Status.RUNNING).order_by("-started_at", "-id")
    run = left.first()
    if run is None:
        return SyncRun.objects.create(
            region=region, trigger=trigger, requested_by=requested_by[:150], started_at=timezone.now()
        )
    # Only one run per region can be running; an older leftover (none is expected) is closed.
    left.exclude(pk=run.pk).update(
        status=SyncRun.Status.FAILED, finished_at=timezone.now(),
        errors="Interrupted: the worker stopped before the run finished; a later run took the region over.",
    )  # fmt: skip
    run.resumed += 1
    run.save(update_fields=["resumed"])
    logger.warning("Findings sync of %s: taking over run %s, whose worker stopped (resumed %s time(s)).",
                   region, run.pk, run.resumed)  # fmt: skip
    return run


def _sync_claimed_region(claim: SyncClaim, *, trigger: str, requested_by: str) -> SyncRun:
    region = claim.region
    run = _run_take_over_or_start(region=region, trigger=trigger, requested_by=requested_by)
    progress = _RunProgress(run, errors=[line for line in run.errors.splitlines() if line])
    state = SyncState.objects.get(region=region)
    try:
        _sync_pages(claim, state, progress)
    except (ClientError, BotoCoreError, gateway.DetectorNotFound, gateway.MissingServerTime,
            ListingUnstable) as error:  # fmt: skip
        logger.warning("Findings sync of %s failed: %s", region, error_describe(error))
        _sync_failed(state, progress, error_describe(error))
        return progress.run
    except Exception as error:  # a bug or a database outage: record it, and let the log have the trace
        logger.exception("Findings sync of %s failed", region)
        _sync_failed(state, progress, f"{type(error).__name__}: {error}")
        return progress.run
    finished = timezone.now()
    state.last_success_at = finished
    state.last_error = ""
    state.save(update_fields=["last_success_at", "last_error"])
    progress.run.status = SyncRun.Status.SUCCEEDED
    progress.run.finished_at = finished
    progress.save("status", "finished_at")
    SYNC_RUNS.labels(region=region, outcome="succeeded").inc()
    if progress.run.new or progress.run.updated:  # reports: findings figures are stale only if findings changed
        data_version_bump(scope="findings")
    return progress.run


# AWS error codes (and HTTP statuses) that say "try again later", not "this is wrong".
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded",
    "InternalServerErrorException", "InternalFailure", "ServiceUnavailableException", "ServiceUnavailable",
})  # fmt: skip
FAULT_FIRST_PAUSE = 1.0  # seconds; doubled after each further failure, at most FAULT_MAX_PAUSE
FAULT_MAX_PAUSE = 30.0


def transient(error: Exception) -> bool:
    """Whether GuardDuty (or the network to it) may well answer if asked again in a while."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES or status == 429 or status >= 500
    return isinstance(error, BotoCoreError)  # connection refused or reset, read timeout: the network


def _sync_pages(claim: SyncClaim, state: SyncState, progress: _RunProgress) -> None:
    """List and store from the checkpoint; ride through faults within the run.

    botocore retries each call (GUARDWATCH_AWS_MAX_ATTEMPTS); when a call still fails with throttling,
    a 5xx or a network error, the run waits (1 s, doubling, at most 30 s) and carries on from the
    checkpoint its last committed batch moved, until GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS of
    waiting are spent: a fault shorter than that costs a pause, not a failed run. A lost database
    connection (a terminated backend) is retried at once on a fresh connection; lost again (a PostgreSQL
    restart refuses connections for a few seconds), the run waits for the database with the same backoff
    and budget.
    Anything else fails the run at once (access denied, a bad request: waiting would not help).
    """
    run = progress.run
    budget = settings.GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS
    pause = FAULT_FIRST_PAUSE
    database_lost = resuming = False
    while True:
        try:
            if resuming:  # after a fault: keep the pause, carry on from the checkpoint the last batch committed
                progress.save("waited_seconds", "pages", "api_calls", "new", "updated", "unchanged")
                state.refresh_from_db()
                claim.renew()
            _sync_from_checkpoint(claim, state, progress)
            return
        except (ClientError, BotoCoreError) as error:
            if not transient(error) or run.waited_seconds + pause > budget:
                raise
            logger.warning("Findings sync of %s: %s; carrying on in %.0f s.", state.region, error_describe(error),
                           pause)  # fmt: skip
            time.sleep(pause)  # backing off from GuardDuty, as its throttling asks
            run.waited_seconds += pause
            pause = min(pause * 2, FAULT_MAX_PAUSE)
        except (db.OperationalError, db.InterfaceError) as error:
            connection.close()  # the next query opens a new connection
            if database_lost:
                if run.waited_seconds + pause > budget:
                    raise
                logger.warning("Findings sync of %s lost its database connection again (%s); waiting %.0f s for "
                               "the database.", state.region, error, pause)  # fmt: skip
                time.sleep(pause)
                run.waited_seconds += pause
                pause = min(pause * 2, FAULT_MAX_PAUSE)
            else:
                logger.warning("Findings sync of %s lost its database connection (%s); retrying on a fresh one.",
                               state.region, error)  # fmt: skip
            database_lost = True
        resuming = True


def _sync_from_checkpoint(claim: SyncClaim, state: SyncState, progress: _RunProgress) -> None:
    run = progress.run
    cached = bool(state.detector_id)
    if not cached:
        _detector_refresh(state, run)
    # The checkpoint is GuardDuty's time (see listing_pages); None: nothing listed yet, a full sync.
    start_ms = gateway.to_epoch_ms(state.settled_through) if state.settled_through else None
    try:
        _sync_from(claim, state, progress, start_ms)
    except ClientError as error:
        # A cached detector id can go stale (GuardDuty disabled and re-enabled): look it up once more.
        if not (cached and run.pages == 0 and gateway.is_missing_detector(error)):
            raise
        run.api_calls += 1
        _detector_refresh(state, run)
        _sync_from(claim, state, progress, start_ms)


def detector_id_known(state: SyncState) -> bool:
    """Fill the region's administrator detector id from GuardDuty if it is not kept yet; True if that took a call."""
    if state.detector_id:
        return False
    state.detector_id = gateway.detector_id_get(region=state.region)
    state.save(update_fields=["detector_id"])
    return True


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
    pages = listing_pages(
        region=state.region, detector_id=state.detector_id, start_ms=start_ms,
        lag_ms=settings.GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS * 1000,
    )  # fmt: skip
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
    checkpoint_ms: int | None = None  # the newest checkpoint its pages carried (see listing_pages)


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
                        FINDINGS_REFUSED.labels(source=WriteSource.PULL, reason="unparseable").inc()
                        batch.errors.append(
                            f"Finding {raw.get('Id', '?') if isinstance(raw, dict) else '?'}: {error}"
                        )
                batch.pages += 1
                batch.api_calls += page.api_calls
                if getattr(page, "checkpoint_ms", None) is not None:
                    batch.checkpoint_ms = page.checkpoint_ms
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
    """Upsert a batch, count it on the run and move the checkpoint and the watermark, in one transaction."""
    run = progress.run
    with transaction.atomic():
        result = findings_upsert(findings=batch.parsed, source=WriteSource.PULL)
        run.pages += batch.pages
        run.api_calls += batch.api_calls
        run.new += result.new
        run.updated += result.updated
        run.unchanged += result.unchanged
        progress.save("pages", "api_calls", "new", "updated", "unchanged")
        moved = []
        if result.max_updated_at and (state.watermark is None or result.max_updated_at > state.watermark):
            state.watermark = result.max_updated_at
            moved.append("watermark")
        if batch.checkpoint_ms is not None:
            checkpoint = gateway.EPOCH + timedelta(milliseconds=batch.checkpoint_ms)
            if state.settled_through is None or checkpoint > state.settled_through:
                state.settled_through = checkpoint
                moved.append("settled_through")
        if moved:
            state.save(update_fields=moved)


def _sync_failed(state: SyncState, progress: _RunProgress, message: str) -> None:
    now = timezone.now()
    progress.error(message)
    progress.run.status = SyncRun.Status.FAILED
    progress.run.finished_at = now
    progress.save("status", "finished_at", "pages", "api_calls", "new", "updated", "unchanged")
    state.last_failure_at = now
    state.last_error = message[:2000]
    state.save(update_fields=["last_failure_at", "last_error"])
    SYNC_RUNS.labels(region=state.region, outcome="failed").inc()
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
    """The watchdog: a region whose "running" run has no live worker gets a worker queued now.

    A run's worker holds its region's claim for the whole run (a session advisory lock on Postgres,
    released when a killed worker's connection ends), so a "running" row whose region can be
    claimed is a dead worker's. Beat runs this every GUARDWATCH_WATCHDOG_SECONDS instead of leaving
    the region until the next sync tick; the queued task takes the run over (`_run_take_over_or_start`)
    and carries on from its checkpoint. A region is queued once per two watchdog periods (noted in the
    cache; when the cache is down it is queued again, which costs a task that finds nothing to do).
    """
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("region", "-started_at", "-id")
    newest = {}
    for pk, region, started_at in running.values_list("pk", "region", "started_at"):
        newest.setdefault(region, f"{pk}:{started_at.timestamp()}")
    recovered = []
    for region, run_key in newest.items():
        with sync_claim(region=region) as claim:
            if not claim.acquired:
                continue  # a live worker holds it
        if not _recovery_note(region, run_key):
            continue  # queued by an earlier watchdog tick, which its task has not reached yet
        logger.warning("The findings sync of %s lost its worker; a worker is queued to take the run over.", region)
        recovered.append(region)
        task_send_on_commit("findings.tasks.findings_sync_region", region, trigger="recovery")
    return recovered


def _recovery_note(region: str, run_key: str) -> bool:
    """True if no recovery of this run was queued within the last two watchdog periods (and note this one)."""
    try:
        key = f"findings:sync-recovery:{region}:{run_key}"
        return bool(cache.add(key, 1, timeout=2 * settings.GUARDWATCH_WATCHDOG_SECONDS))
    except Exception:  # the cache is down: queue anyway; a second task finds the region taken or done
        logger.warning("The cache is unreachable; queueing the recovery of %s without its note.", region)
        return True
