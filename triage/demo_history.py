"""The demo's month of triage: the demo analyst's past work, so the reports have something to report.

A fresh demo has findings reaching back a month but nobody has triaged any, so the findings report
shows no response times, no resolutions and 0 % SLA compliance. This walks the synced findings
through the real triage services (assignment, Acknowledged, then Resolved or False positive) at
past times drawn per severity band, so timelines, report marks and the write-backs to GuardDuty
(archive, NOT_USEFUL feedback, sent by the worker to the simulator) are what an analyst's work
would have left. Demo only, against the local simulator (it refuses anywhere else), and once (a database that
already has a status change in any timeline is left alone).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from findings.models import Finding, FindingEvent, SyncRun
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import audit_record
from triage.services import findings_assign, findings_status_set

DEMO_ANALYST = "analyst"
# Hours from GuardDuty's creation to the analyst's acknowledgement, then on to closing, per band:
# closed mostly within the default SLA (critical 4 h, high 24 h, medium 7 d, low 30 d), some late.
ACK_HOURS = {"critical": (0.1, 1.5), "high": (0.5, 8), "medium": (2, 48), "low": (6, 200)}
CLOSE_HOURS = {"critical": (0.3, 3), "high": (1, 20), "medium": (6, 140), "low": (12, 600)}
TRIAGED_SHARE = 0.7  # of the findings old enough; the rest stay New (the backlog)
CLOSED_SHARE = 0.75  # of the acknowledged ones
FALSE_POSITIVE_SHARE = 0.1  # of the closed ones
CHUNK = 100


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class HistorySeeded:
    acknowledged: int = 0
    closed: int = 0
    skipped: str = ""
    waiting: bool = False  # the first findings sync is not in yet: try again later


def _triage_one(*, pk: int, created_at: datetime, band: str, analyst, rng: random.Random, now: datetime) -> int:
    """0: left New; 1: acknowledged; 2: acknowledged, then resolved or marked false positive."""
    if rng.random() > TRIAGED_SHARE:
        return 0
    ack_at = created_at + timedelta(hours=rng.uniform(*ACK_HOURS[band]))
    if ack_at >= now:
        return 0
    one = Finding.objects.filter(pk=pk)
    findings_assign(findings=one, assignee=analyst, actor=analyst, now=ack_at, audit=False)
    findings_status_set(findings=one, status="acknowledged", actor=analyst, now=ack_at, audit=False)
    close_at = ack_at + timedelta(hours=rng.uniform(*CLOSE_HOURS[band]))
    if close_at >= now or rng.random() > CLOSED_SHARE:
        return 1
    false_positive = rng.random() < FALSE_POSITIVE_SHARE
    findings_status_set(
        findings=one,
        status="false_positive" if false_positive else "resolved",
        actor=analyst,
        reason="Expected behaviour of this workload." if false_positive else "",
        now=close_at,
        audit=False,
    )
    return 2


def demo_first_sync_done() -> bool:
    """Whether every configured region has finished a findings sync (the history needs their findings)."""
    done = set(
        SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).values_list("region", flat=True).distinct()
    )
    return set(settings.GUARDWATCH_AWS_REGIONS) <= done


def demo_history_seed(*, now: datetime | None = None, seed: int = 7) -> HistorySeeded:
    """Triage the synced findings as the demo analyst would have over the past weeks (once).

    Demo mode against the local simulator only: it archives findings and sends feedback, never to a
    real GuardDuty. Queues a rebuild of the report snapshots afterwards, so the report shows the month at once.
    """
    if not settings.DEMO:
        return HistorySeeded(skipped="demo mode only")
    if urlparse(settings.GUARDWATCH_AWS_ENDPOINT_URL or "").hostname not in LOCAL_HOSTS:
        return HistorySeeded(skipped="only against the local GuardDuty simulator")
    if not demo_first_sync_done():
        return HistorySeeded(waiting=True)
    now = now or timezone.now()
    if FindingEvent.objects.filter(kind=FindingEvent.Kind.STATUS).exists():
        return HistorySeeded(skipped="the timelines already hold status changes")
    analyst = get_user_model().objects.filter(username=DEMO_ANALYST).first()
    if analyst is None:
        return HistorySeeded(skipped=f"no {DEMO_ANALYST} user (run manage.py demo_users)")
    rng = random.Random(seed)
    acknowledged = closed = 0
    rows = list(
        Finding.objects.filter(status="new").order_by("created_at", "id").values_list("pk", "created_at", "severity_band")
    )
    # A transaction per CHUNK findings: the demo's web server and worker share the SQLite file and
    # wait for its write lock; each transaction also schedules one write-back flush.
    for start in range(0, len(rows), CHUNK):
        with transaction.atomic():
            for pk, created_at, band in rows[start : start + CHUNK]:
                moved = _triage_one(pk=pk, created_at=created_at, band=band, analyst=analyst, rng=rng, now=now)
                acknowledged += moved >= 1
                closed += moved == 2
    audit_record(
        actor="demo",
        verb="demo.history",
        details={"acknowledged": acknowledged, "closed": closed, "as": DEMO_ANALYST},
    )
    if acknowledged:  # a month of history rewritten: the regular refresh could wait out its spacing
        task_send_on_commit("reports.tasks.findings_figures_rebuild")
    return HistorySeeded(acknowledged=acknowledged, closed=closed)
