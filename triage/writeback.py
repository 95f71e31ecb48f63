"""Write-back to GuardDuty: the queue of archive/unarchive/feedback changes triage owes GuardDuty.

Triage services add `WriteBack` rows in the same transaction as the status change; a Celery task
(`findings.tasks.writeback_flush`, enqueued on commit and run by beat every minute for retries)
sends them in batches of 50 per region and operation, in the administrator's detector. A failure
keeps the row with its error and a growing backoff; nothing is dropped. Every send and failure is
recorded in the finding's timeline.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from findings import gateway
from findings.models import Finding, FindingEvent, SyncState, WriteSource
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.db.lookups import ids_in
from guardwatch.core.metrics import WRITEBACKS
from guardwatch.core.queue import task_send
from triage.models import WriteBack

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
FLUSH_LIMIT = 5000  # rows claimed per flush; the task re-enqueues itself while more are due

Op = WriteBack.Operation
OPPOSITE = {
    Op.ARCHIVE: Op.UNARCHIVE,
    Op.UNARCHIVE: Op.ARCHIVE,
    Op.USEFUL: Op.NOT_USEFUL,
    Op.NOT_USEFUL: Op.USEFUL,
}


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 2 min, … capped at an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def writebacks_enqueue(
    *, findings: list[tuple[int, str]], operation: str, actor_name: str, now: datetime
) -> int:
    """Queue `operation` for (finding pk, region) pairs; a pending opposite change is superseded.

    Called inside the caller's transaction; the flush is scheduled when it commits.
    """
    if not findings:
        return 0
    ids = [pk for pk, _region in findings]
    opposite = OPPOSITE[Op(operation)]
    for start in range(0, len(ids), 5000):
        WriteBack.objects.filter(
            ids_in(ids[start : start + 5000], "finding_id"),
            operation=opposite,
            status__in=[WriteBack.Status.PENDING, WriteBack.Status.FAILED],
        ).update(status=WriteBack.Status.SUPERSEDED, error="Superseded by a later change.")
    rows_insert(
        model=WriteBack,
        varying={"finding_id": ids, "region": [region for _pk, region in findings]},
        fixed={
            "operation": operation,
            "actor_name": actor_name,
            "created_at": now,
            "next_attempt_at": now,
            "status": WriteBack.Status.PENDING,
            "attempts": 0,
            "error": "",
        },
    )
    _flush_on_commit()
    return len(findings)


def _flush_on_commit() -> None:
    """One flush per transaction, however many changes it queued (a status move queues up to three)."""
    connection = transaction.get_connection()
    if not any(func is _schedule_flush for _sids, func, _robust in connection.run_on_commit):
        transaction.on_commit(_schedule_flush)


def _schedule_flush() -> None:
    try:
        task_send("findings.tasks.writeback_flush")
    except Exception:  # noqa: BLE001 - the broker being down must not fail the analyst's action
        logger.warning("Could not enqueue the write-back flush; beat will pick the rows up.", exc_info=True)


class DetectorMissing(Exception):
    """The administrator has no detector in the region."""


def _detector(region: str, cache: dict[str, str]) -> str:
    if region not in cache:
        known = SyncState.objects.filter(region=region).values_list("detector_id", flat=True).first()
        cache[region] = known or gateway.detector_id_get(region=region)
    return cache[region]


@dataclass
class FlushResult:
    sent: int = 0
    failed: int = 0
    calls: int = 0
    more: bool = False
    waiting: int = 0


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', str(error))}"[:1000]
    return f"{type(error).__name__}: {error}"[:1000]


def writebacks_flush(*, now: datetime | None = None, limit: int = FLUSH_LIMIT) -> FlushResult:
    """Send every due write-back, batched by region and operation; rows are locked while sent.

    `SKIP LOCKED` lets two flushes run at once without sending a row twice.
    """
    now = now or timezone.now()
    result = FlushResult()
    detectors: dict[str, str] = {}
    with transaction.atomic():
        due = list(
            WriteBack.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("finding")
            .only("id", "operation", "region", "attempts", "status", "finding__id", "finding__finding_id",
                  "finding__arn", "finding__source")  # fmt: skip
            .filter(
                Q(status=WriteBack.Status.PENDING) | Q(status=WriteBack.Status.FAILED),
                next_attempt_at__lte=now,
            )
            .order_by("id")[: limit + 1]
        )
        result.more = len(due) > limit
        due = _confirmed_only(due[:limit], now=now, result=result)
        groups: dict[tuple[str, str], list[WriteBack]] = defaultdict(list)
        for row in due:
            groups[(row.region, row.operation)].append(row)
        events: list[FindingEvent] = []
        for (region, operation), rows in groups.items():
            try:
                detector = _detector(region, detectors)
                result.calls += _send(region, detector, operation, [r.finding.finding_id for r in rows])
            except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
                message = _describe(error)
                logger.warning("Write-back %s in %s failed: %s", operation, region, message)
                for row in rows:
                    attempts = row.attempts + 1
                    WriteBack.objects.filter(pk=row.pk).update(
                        status=WriteBack.Status.FAILED,
                        attempts=attempts,
                        error=message,
                        next_attempt_at=now + backoff(attempts),
                    )
                    events.append(
                        _event(row, now, f"{Op(operation).label} failed (attempt {attempts}): {message}")
                    )
                result.failed += len(rows)
                continue
            ids = [r.pk for r in rows]
            WriteBack.objects.filter(pk__in=ids).update(
                status=WriteBack.Status.SENT, sent_at=now, error="", attempts=F("attempts") + 1
            )
            _reflect(operation, [r.finding.id for r in rows])
            events.extend(_event(row, now, f"{Op(operation).label} sent to GuardDuty") for row in rows)
            result.sent += len(rows)
        FindingEvent.objects.bulk_create(events, batch_size=2000)
    WRITEBACKS.labels(outcome="sent").inc(result.sent)
    WRITEBACKS.labels(outcome="failed").inc(result.failed)
    return result


CONFIRM_WAIT = timedelta(minutes=1)
WAITING_FOR_GUARDDUTY = (
    "Waiting for GuardDuty to confirm this pushed finding (GetFindings, matched by ARN) before writing back."
)


def _confirmed_only(rows: list[WriteBack], *, now: datetime, result: FlushResult) -> list[WriteBack]:
    """The rows whose finding holds GuardDuty's own values; the others wait, unsent.

    A write-back names the finding by id in the administrator's detector, and ids are only unique per
    detector: a pushed decoy whose `id` copies a real finding's would archive the real one. A finding's
    values come from GuardDuty (source `pull`) only once GetFindings returned its ARN, so only then is
    its id known to be that ARN's (`findings.push.findings_push_confirm`); a pushed finding GuardDuty
    never confirms is deleted, and its write-backs with it.
    """
    waiting = [row for row in rows if row.finding.source != WriteSource.PULL]
    if waiting:
        WriteBack.objects.filter(pk__in=[row.pk for row in waiting]).update(
            next_attempt_at=now + CONFIRM_WAIT, error=WAITING_FOR_GUARDDUTY
        )
        result.waiting += len(waiting)
    return [row for row in rows if row.finding.source == WriteSource.PULL]


def _send(region: str, detector: str, operation: str, finding_ids: list[str]) -> int:
    if operation == Op.ARCHIVE:
        return gateway.findings_archive(region=region, detector_id=detector, finding_ids=finding_ids)
    if operation == Op.UNARCHIVE:
        return gateway.findings_unarchive(region=region, detector_id=detector, finding_ids=finding_ids)
    feedback = "USEFUL" if operation == Op.USEFUL else "NOT_USEFUL"
    return gateway.findings_feedback(
        region=region, detector_id=detector, finding_ids=finding_ids, feedback=feedback
    )


def _reflect(operation: str, pks: list[int]) -> None:
    """Show what GuardDuty confirmed at once; the next pull sync reports the same state."""
    if operation in (Op.ARCHIVE, Op.UNARCHIVE):
        Finding.objects.filter(pk__in=pks).update(archived=operation == Op.ARCHIVE)
    else:
        Finding.objects.filter(pk__in=pks).update(
            feedback="USEFUL" if operation == Op.USEFUL else "NOT_USEFUL"
        )


def _event(row: WriteBack, now: datetime, text: str) -> FindingEvent:
    return FindingEvent(
        finding_id=row.finding.id,
        kind=FindingEvent.Kind.WRITEBACK,
        actor_name="GuardWatch",
        created_at=now,
        body=text,
        details={"operation": row.operation, "writeback": row.pk},
    )


def writeback_retry(*, writeback: WriteBack, actor) -> None:
    """Send a failed write-back at the next flush instead of waiting for its backoff."""
    from guardwatch.core.services import audit_record

    with transaction.atomic():
        WriteBack.objects.filter(pk=writeback.pk, status=WriteBack.Status.FAILED).update(
            next_attempt_at=timezone.now()
        )
        audit_record(
            actor=actor,
            verb="findings.writeback_retry",
            target=writeback.finding,
            details={"id": writeback.pk},
        )
        transaction.on_commit(_schedule_flush)


def writeback_queue() -> dict:
    """What the write-back queue section shows: pending and failed rows, newest failures first."""
    base = WriteBack.objects.select_related("finding").only(
        "id", "operation", "region", "status", "attempts", "error", "created_at", "next_attempt_at",
        "finding__id", "finding__title", "finding__finding_id",
    )  # fmt: skip
    return {
        "pending": WriteBack.objects.filter(status=WriteBack.Status.PENDING).count(),
        "failed": list(base.filter(status=WriteBack.Status.FAILED).order_by("-id")[:100]),
        "failed_count": WriteBack.objects.filter(status=WriteBack.Status.FAILED).count(),
    }
