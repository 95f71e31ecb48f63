"""Bulk actions: one change to many findings (a selection or a whole filter), in a Celery task when large.

A bulk action applies the same services as a single move (`triage.services`), set-based, so
timelines, audit and write-backs are exactly those of moving each finding by hand.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.models import F, QuerySet
from django.http import QueryDict
from django.utils import timezone

from findings.models import Finding
from guardwatch.core.db.locks import advisory_lock, lock_is_free
from guardwatch.core.db.lookups import ids_in
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.scope import scope_q
from guardwatch.core.services import actor_user, audit_record
from triage.filters import FindingFilters, filter_query, findings_filtered
from triage.models import BulkAction
from triage.services import (
    TriageError,
    accepted_until_parse,
    findings_archive_set,
    findings_assign,
    findings_comment_add,
    findings_status_set,
    status_validate,
)

BULK_ASYNC_THRESHOLD = 500  # above this many findings a bulk action runs in a Celery task
BULK_CHUNK = 2000  # findings per transaction when a task applies a large bulk action
# Chunks a task applies at once, each in its own transaction on its own connection (PostgreSQL). At 5,000,000
# findings a 2,000-finding status move is ~0.3 s of the database's CPU, then the chunk's Python (timeline rows,
# write-backs): a third connection keeps both cores of the benchmark machine busy while one chunk is in Python.
# Interleaved runs of 10 moves of 10,000 (docs/benchmarks.md): median 1.36-1.43 s at 3, 1.48-1.83 s at 1.
BULK_PARALLEL = 3


# --- Bulk actions ----------------------------------------------------------------------------------------

BULK_ACTIONS = {
    "assign": "Assign",
    "status": "Change status",
    "comment": "Comment",
    "archive": "Archive in GuardDuty",
    "unarchive": "Unarchive in GuardDuty",
}


@dataclass
class BulkRequest:
    """A validated bulk action: what to do, and to which findings (ids, or a filter's query string)."""

    action: str
    params: dict
    ids: list[int] | None
    query: str


def bulk_request_clean(
    *, action: str, params: dict, ids: list[str], query: str, select_all: bool, actor=None
) -> BulkRequest:
    """Check a bulk form; raises TriageError with what is wrong.

    A comment given with any action goes on every finding's timeline too; "me" as the assignee is `actor`.
    """
    if action not in BULK_ACTIONS:
        raise TriageError("Choose a bulk action.")
    clean: dict = {}
    if action == "assign":
        username = (params.get("assignee") or "").strip()
        if username.lower() == "me" and actor_user(actor) is not None:
            username = actor_user(actor).get_username()
        if username and not get_user_model().objects.filter(username=username).exists():
            raise TriageError(f"No user named “{username}”.")
        clean["assignee"] = username
    elif action == "status":
        status = params.get("status") or ""
        until = accepted_until_parse(params.get("accepted_until") or "")
        status_validate(status=status, reason=params.get("reason") or "", accepted_until=until)
        clean.update(
            status=status,
            reason=(params.get("reason") or "").strip(),
            accepted_until=until.isoformat() if until else "",
        )
    elif action == "comment" and not (params.get("comment") or "").strip():
        raise TriageError("A comment cannot be empty.")
    comment = (params.get("comment") or "").strip()
    if comment:
        if len(comment) > 10_000:
            raise TriageError("A comment is limited to 10,000 characters.")
        clean["comment"] = comment
    if select_all:
        return BulkRequest(action, clean, None, filter_query(QueryDict(query)))
    try:
        selected = sorted({int(i) for i in ids})
    except ValueError:
        raise TriageError("The selection is not valid.") from None
    if not selected:
        raise TriageError("Select findings first, or choose “all matching this filter”.")
    return BulkRequest(action, clean, selected, "")


def bulk_findings(*, request: BulkRequest, actor) -> QuerySet[Finding]:
    """The findings a bulk request covers, the filter re-evaluated server side; only the actor's teams'
    findings when they are team-scoped (selected ids outside their accounts are dropped)."""
    if request.ids is not None:
        return Finding.objects.filter(scope_q(actor_user(actor)), ids_in(request.ids))
    return findings_filtered(filters=FindingFilters.from_query(QueryDict(request.query)), user=actor)


def findings_bulk_apply(*, request: BulkRequest, actor) -> tuple[int, BulkAction | None]:
    """Run a bulk action now (small) or queue it for a Celery task (above BULK_ASYNC_THRESHOLD).

    Returns (findings covered, the queued BulkAction or None when it already ran).
    """
    findings = bulk_findings(request=request, actor=actor)
    total = findings.count()
    if total > BULK_ASYNC_THRESHOLD:
        with transaction.atomic():
            bulk = BulkAction.objects.create(
                actor=actor_user(actor),
                action=request.action,
                params=request.params,
                query=request.query,
                finding_ids=request.ids or [],
                total=total,
            )
            audit_record(
                actor=actor,
                verb="findings.bulk_queued",
                target=bulk,
                details={"action": request.action, "count": total},
            )
            task_send_on_commit("findings.tasks.bulk_action_run", bulk.pk)
        return total, bulk
    changed = _bulk_execute(request=request, findings=findings, actor=actor)
    audit_record(
        actor=actor,
        verb=f"findings.bulk_{request.action}",
        target=("findings.finding", "", f"{total} findings"),
        details={"count": total, "changed": changed, **{k: str(v)[:200] for k, v in request.params.items()}},
    )
    return total, None


def _bulk_execute(*, request: BulkRequest, findings: QuerySet[Finding], actor) -> int:
    """Apply the action, then the comment given with it (to the same findings: a filter such as
    status=new would no longer match them once their status changed, so their ids are taken first)."""
    comment = request.params.get("comment", "")
    if request.action == "comment" or not comment:
        return _bulk_action(request=request, findings=findings, actor=actor)
    with transaction.atomic():
        ids = list(findings.order_by().values_list("id", flat=True))
        changed = _bulk_action(request=request, findings=Finding.objects.filter(ids_in(ids)), actor=actor)
        findings_comment_add(findings=Finding.objects.filter(ids_in(ids)), body=comment, actor=actor, audit=False)
    return changed


def _bulk_action(*, request: BulkRequest, findings: QuerySet[Finding], actor) -> int:
    p = request.params
    if request.action == "assign":
        assignee = (
            get_user_model().objects.filter(username=p["assignee"]).first() if p.get("assignee") else None
        )
        return findings_assign(findings=findings, assignee=assignee, actor=actor, audit=False)
    if request.action == "status":
        until = datetime.fromisoformat(p["accepted_until"]) if p.get("accepted_until") else None
        return findings_status_set(
            findings=findings,
            status=p["status"],
            actor=actor,
            reason=p.get("reason", ""),
            accepted_until=until,
            audit=False,
        )
    if request.action == "comment":
        return findings_comment_add(findings=findings, body=p["comment"], actor=actor, audit=False)
    return findings_archive_set(
        findings=findings, archived=request.action == "archive", actor=actor, audit=False
    )


BULK_LOCK_CLASS = 0x67774275  # "gwBu": first key of the advisory lock a running bulk action holds
# A queued bulk action no worker has started this long after it was queued lost its message (the
# worker that had reserved it died): the watchdog queues it again (a duplicate finds it claimed).
BULK_QUEUED_GRACE_SECONDS = 120


def bulk_action_run(*, bulk_id: int) -> BulkAction | None:
    """The Celery task's body: claim the action, apply it in chunks, record progress.

    The running worker holds an advisory lock for the action (`guardwatch.core.db.locks`): a
    redelivered or duplicate message finds it held and does nothing, and a worker killed mid-way
    leaves it free, so the action resumes where it stopped. The first run freezes the findings it
    covers (their ids, in order); each chunk and its progress commit together, so a resumed run
    starts after the last committed chunk and never applies a chunk twice (a comment is added once).
    """
    with advisory_lock(BULK_LOCK_CLASS, bulk_id) as held:
        if not held:
            return None  # running elsewhere
        # Off Postgres (the demo's single worker) there is no lock to prove a RUNNING one dead.
        claimable = [BulkAction.Status.QUEUED]
        if connection.vendor == "postgresql":
            claimable.append(BulkAction.Status.RUNNING)
        claimed = BulkAction.objects.filter(pk=bulk_id, status__in=claimable).update(
            status=BulkAction.Status.RUNNING
        )
        if not claimed:
            return None  # already run: a redelivered task is a no-op
        return _bulk_run_claimed(bulk_id)


def _bulk_run_claimed(bulk_id: int) -> BulkAction:
    bulk = BulkAction.objects.select_related("actor").get(pk=bulk_id)
    actor = bulk.actor or "system"
    request = BulkRequest(bulk.action, bulk.params, bulk.finding_ids or None, bulk.query)
    try:
        ids = list(bulk.finding_ids)
        if not ids or bulk.done == 0:  # first run: freeze what the filter covers now
            ids = list(
                bulk_findings(request=request, actor=bulk.actor).order_by("id").values_list("id", flat=True)
            )
            BulkAction.objects.filter(pk=bulk_id).update(total=len(ids), finding_ids=ids)
        request = BulkRequest(bulk.action, bulk.params, ids, bulk.query)
        chunks = _chunks_pending(bulk.done_ranges, bulk.done, len(ids))
        if _side_by_side(chunks):
            _chunks_side_by_side(bulk_id, request, ids, chunks, actor)
        else:
            for start, end in chunks:
                _chunk_apply(bulk_id, request, ids, start, end, actor)
    except Exception as error:
        BulkAction.objects.filter(pk=bulk_id).update(
            status=BulkAction.Status.FAILED, error=str(error)[:1000], finished_at=timezone.now()
        )
        raise
    BulkAction.objects.filter(pk=bulk_id).update(status=BulkAction.Status.DONE, finished_at=timezone.now())
    audit_record(actor=actor, verb=f"findings.bulk_{bulk.action}", target=bulk, details={"count": len(ids)})
    bulk.refresh_from_db()
    return bulk


def _chunks_pending(done_ranges: list, done: int, total: int) -> list[tuple[int, int]]:
    """The [start, end) chunks of the frozen ids not committed yet, at most BULK_CHUNK each.

    `done_ranges` are the committed chunks (any order, any size: a resumed run skips exactly them); an action
    started by a release that kept only `done` has the prefix [0, done) committed."""
    covered = sorted((int(start), int(end)) for start, end in done_ranges) or ([(0, done)] if done else [])
    gaps, at = [], 0
    for start, end in covered:
        if start > at:
            gaps.append((at, start))
        at = max(at, end)
    if at < total:
        gaps.append((at, total))
    return [(start, min(start + BULK_CHUNK, end)) for low, end in gaps for start in range(low, end, BULK_CHUNK)]


def _chunk_apply(bulk_id: int, request: BulkRequest, ids: list[int], start: int, end: int, actor) -> None:
    """One chunk and its progress, in one transaction: committed together or not at all."""
    with transaction.atomic():
        _commit_without_flush_wait()
        _bulk_execute(request=request, findings=Finding.objects.filter(ids_in(ids[start:end])), actor=actor)
        # The action's row is locked last, once the chunk's findings are: chunks applied side by side queue here
        # only for the moment before their commit, and never hold it while waiting for a finding.
        ranges = BulkAction.objects.select_for_update().values_list("done_ranges", flat=True).get(pk=bulk_id)
        BulkAction.objects.filter(pk=bulk_id).update(done=F("done") + (end - start),
                                                     done_ranges=[*ranges, [start, end]])  # fmt: skip


def _side_by_side(chunks: list[tuple[int, int]]) -> bool:
    """Chunks go BULK_PARALLEL at a time on PostgreSQL: a status move writes an entry in each of the findings
    table's 16 indexes, CPU work of the database that one connection does on one core. Not inside a
    transaction (other connections could not see its rows; the tests' own), nor on SQLite (one writer)."""
    return (
        BULK_PARALLEL > 1 and len(chunks) > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    )


def _chunks_side_by_side(bulk_id: int, request: BulkRequest, ids: list[int], chunks: list, actor) -> None:
    """The chunks by BULK_PARALLEL threads, each with its own connection; the first failure stops the others
    taking new chunks and is raised once they are done (what committed stays committed, as one by one)."""
    failed = threading.Event()

    def apply(chunk: tuple[int, int]) -> None:
        if failed.is_set():
            return
        try:
            _chunk_apply(bulk_id, request, ids, *chunk, actor)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=BULK_PARALLEL, thread_name_prefix="bulk") as pool:
        futures = [pool.submit(_in_own_connection, apply, chunk) for chunk in chunks]
    for future in futures:
        future.result()  # the first failure, in chunk order


def _in_own_connection(function, *args) -> None:
    """Run `function` in this thread, then close the database connection Django opened for the thread."""
    try:
        function(*args)
    finally:
        connections.close_all()


def _commit_without_flush_wait() -> None:
    """Let this chunk's transaction commit without waiting for its WAL to reach the disk (Postgres).

    A chunk of 2,000 status moves writes ~12 MB of WAL (every index of the findings table gets an entry
    per row), and its commit waited ~0.1 s for the flush: over a tenth of a 10,000-finding bulk action
    (`bench/bench_triage.py --bulk-only`). Safe to lose: a chunk commits together with the action's
    progress, and a crash loses only the last transactions, whole and in order, so the watchdog resumes
    the action after its last durable chunk and the moves lost are made again (the pull sync's upsert
    commits the same way; `findings.upsert`).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def bulk_actions_recover(*, now=None) -> list[int]:
    """The watchdog: bulk actions whose worker died, queued again. Returns their ids.

    RUNNING with its advisory lock free: the worker that ran it is gone (it resumes after its last
    committed chunk). QUEUED for more than BULK_QUEUED_GRACE_SECONDS: its message was lost with a
    dead worker's reservation (Redis would give it back only after the visibility timeout, 1 h).
    """
    now = now or timezone.now()
    recovered = []
    running = BulkAction.objects.filter(status=BulkAction.Status.RUNNING).values_list("pk", flat=True)
    for pk in running:
        if lock_is_free(BULK_LOCK_CLASS, pk):
            recovered.append(pk)
    stale = now - timedelta(seconds=BULK_QUEUED_GRACE_SECONDS)
    recovered += BulkAction.objects.filter(status=BulkAction.Status.QUEUED, created_at__lt=stale).values_list(
        "pk", flat=True
    )
    for pk in recovered:
        task_send_on_commit("findings.tasks.bulk_action_run", pk)
    return sorted(recovered)
