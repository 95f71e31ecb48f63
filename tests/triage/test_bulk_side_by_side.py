"""A large bulk action applies its chunks side by side on PostgreSQL (BULK_PARALLEL at a time), each with its progress in its own
transaction, so what committed is exactly what a resumed run skips (issue 21: 10,000 moves at 5,000,000 findings)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from findings.models import Finding, FindingEvent
from tests.triage.support import store_findings
from triage import bulk
from triage.bulk import BulkRequest, _chunks_pending, bulk_action_run, findings_bulk_apply
from triage.models import BulkAction


@pytest.mark.parametrize(("ranges", "done", "total", "chunk", "pending"), [
    ([], 0, 5, 2, [(0, 2), (2, 4), (4, 5)]),
    ([[2, 4]], 2, 5, 2, [(0, 2), (4, 5)]),  # committed out of order: exactly the others
    ([[4, 6], [0, 2]], 4, 7, 2, [(2, 4), (6, 7)]),
    ([], 4, 7, 2, [(4, 6), (6, 7)]),  # a run of a release that kept only the prefix `done`
    ([[0, 3]], 3, 10, 4, [(3, 7), (7, 10)]),  # the chunk size changed between runs: nothing overlaps
    ([[0, 2], [2, 4]], 4, 4, 2, []),
])  # fmt: skip
def test_the_pending_chunks_are_the_gaps_between_the_committed_ones(monkeypatch, ranges, done, total, chunk,
                                                                     pending):  # fmt: skip
    monkeypatch.setattr(bulk, "BULK_CHUNK", chunk)
    assert _chunks_pending(ranges, done, total) == pending


@pytest.fixture
def queued(monkeypatch):
    monkeypatch.setattr(bulk, "task_send_on_commit", lambda name, *args, **kw: None)


def status_bulk(admin, count: int) -> BulkAction:
    store_findings(count, seed=5)
    total, action = findings_bulk_apply(
        request=BulkRequest("status", {"status": "acknowledged", "comment": "swept"}, None, "status=new"), actor=admin
    )
    assert total == count and action is not None
    return action


@pytest.mark.django_db(transaction=True)
def test_chunks_run_on_several_connections_and_each_finding_moves_once(admin, queued, monkeypatch):
    action = status_bulk(admin, 700)
    monkeypatch.setattr(bulk, "BULK_CHUNK", 100)
    backends: dict[int, set[int]] = {}
    execute = bulk._bulk_execute

    def recorded(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.setdefault(threading.get_ident(), set()).add(cursor.fetchone()[0])
        return execute(**kwargs)

    monkeypatch.setattr(bulk, "_bulk_execute", recorded)

    finished = bulk_action_run(bulk_id=action.pk)

    assert finished.status == BulkAction.Status.DONE and finished.done == finished.total == 700
    assert sorted(map(tuple, finished.done_ranges)) == [(start, start + 100) for start in range(0, 700, 100)]
    assert 2 <= len(backends) <= bulk.BULK_PARALLEL and threading.get_ident() not in backends  # threads, not the caller
    assert Finding.objects.filter(status="acknowledged").count() == 700
    moved = FindingEvent.objects.filter(kind="status", to_status="acknowledged").values_list("finding_id", flat=True)
    commented = FindingEvent.objects.filter(kind="comment", body="swept").values_list("finding_id", flat=True)
    assert sorted(moved) == sorted(commented) == sorted(Finding.objects.values_list("pk", flat=True))  # once each


@pytest.mark.django_db(transaction=True)
def test_a_failing_chunk_fails_the_action_and_leaves_the_committed_ones_whole(admin, queued, monkeypatch):
    action = status_bulk(admin, 600)
    monkeypatch.setattr(bulk, "BULK_CHUNK", 100)
    ids = BulkAction.objects.get(pk=action.pk).finding_ids or list(
        Finding.objects.order_by("id").values_list("id", flat=True)
    )
    poisoned = ids[250]  # in the third chunk
    execute = bulk._bulk_execute

    def failing(*, request, findings, actor):
        if findings.filter(pk=poisoned).exists():
            raise RuntimeError("the database went away")
        return execute(request=request, findings=findings, actor=actor)

    monkeypatch.setattr(bulk, "_bulk_execute", failing)

    with pytest.raises(RuntimeError, match="went away"):
        bulk_action_run(bulk_id=action.pk)

    failed = BulkAction.objects.get(pk=action.pk)
    assert failed.status == BulkAction.Status.FAILED and "went away" in failed.error
    committed = sorted(map(tuple, failed.done_ranges))
    assert (200, 300) not in committed and failed.done == sum(end - start for start, end in committed) < 600
    moved = set(Finding.objects.filter(status="acknowledged").values_list("pk", flat=True))
    assert moved == {i for start, end in committed for i in failed.finding_ids[start:end]}  # whole chunks only
    assert FindingEvent.objects.filter(kind="comment", body="swept").count() == failed.done
