"""A manager gets the findings report from a kept snapshot; background refreshes keep it current."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from findings.sync import findings_sync_region
from guardwatch.core.data_version import data_version, data_version_bump
from reports import findings_report as reports
from reports import services as report_services
from reports import tasks
from reports.cache import refresh_claim
from reports.periods import report_period
from reports.services import CLAIM, findings_figures_refresh
from tests.findings.simulated import estate
from tests.reports.support import finding, moved

pytestmark = pytest.mark.django_db


def at(days_ago: int, hour: int) -> datetime:
    return datetime.combine(
        timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time(hour), tzinfo=UTC
    )


@pytest.fixture(autouse=True)
def snapshots_on(settings):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    settings.GUARDWATCH_REPORTS_MAX_AGE_SECONDS = 900


@pytest.fixture
def computations(monkeypatch):
    """Every computation of the report, by period key (the page must not compute when a snapshot serves)."""
    seen: list[str] = []
    compute = reports.findings_report_compute

    def counting(*, period, now=None):
        seen.append(period.key)
        return compute(period=period, now=now)

    monkeypatch.setattr(reports, "findings_report_compute", counting)
    return seen


@pytest.fixture
def queued(monkeypatch):
    """Refresh tasks the pages queued (instead of sending them to the broker)."""
    sent: list[str] = []
    monkeypatch.setattr(tasks.findings_figures_refresh, "delay", lambda: sent.append("refresh"))
    return sent


@pytest.fixture
def month():
    f = finding(created=at(3, 9), band="high")
    moved(f, to="acknowledged", at=at(3, 10))
    finding(created=at(5, 9), band="low")


def _new_total(client, query: str = "period=30") -> str:
    html = client.get(f"/findings/report/?{query}").content.decode()
    return re.search(r'data-testid="new-total">(\d+)<', html).group(1)


def test_a_period_without_figures_is_computed_once_by_a_worker_while_the_page_polls(
    client_for, month, computations, queued, report_worker
):
    first, second = client_for("manager"), client_for("manager")
    for client in (first, second, first):
        html = client.get("/findings/report/?period=30").content.decode()
        assert 'data-testid="report-pending"' in html and 'hx-trigger="every 1s"' in html
    assert computations == []  # no request computed it …
    assert report_worker == [{"period": "30"}]  # … one computation was queued for all three
    report_worker.run()
    assert computations == ["30"]
    assert _new_total(first) == "2"
    assert _new_total(second) == "2"
    assert computations == ["30"]
    assert queued == []


def test_the_polling_fragment_is_replaced_by_the_report_once_computed(client_for, month, report_worker):
    client = client_for("manager")
    pending = client.get("/findings/report/?period=7", headers={"HX-Request": "true"}).content.decode()
    assert '<div id="report-body" hx-get="/findings/report/?period=7" hx-trigger="every 1s"' in pending
    assert "<html" not in pending
    report_worker.run()
    ready = client.get("/findings/report/?period=7", headers={"HX-Request": "true"}).content.decode()
    assert '<div id="report-body">' in ready  # no trigger: the polling stops
    assert re.search(r'data-testid="new-total">2<', ready)
    # The heading's period comes along (out of band): after midnight UTC it is the figures' own.
    first = (timezone.now().astimezone(UTC).date() - timedelta(days=6)).isoformat()
    assert re.search(rf'id="report-period" data-testid="report-period" hx-swap-oob="true">{first} to ', ready)


def test_without_a_broker_the_page_computes_the_report_itself(client_for, month, computations, monkeypatch):
    from kombu.exceptions import OperationalError

    def broker_down(query, owner=""):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.findings_report_snapshot, "delay", broker_down)
    assert _new_total(client_for("manager")) == "2"
    assert computations == ["30"]
    assert _new_total(client_for("manager")) == "2"  # kept: the next request is served from it
    assert computations == ["30"]


def test_a_request_computes_the_report_when_no_worker_took_it(month, computations, report_worker):
    now = timezone.now()
    period = report_period(params={"period": "90"}, now=now)
    assert report_services.findings_report(period=period, now=now).report is None
    later = now + timedelta(seconds=report_services.WORKER_WAIT_SECONDS - 1)
    assert report_services.findings_report(period=period, now=later).report is None
    assert computations == []
    late = now + timedelta(seconds=report_services.WORKER_WAIT_SECONDS)
    assert report_services.findings_report(period=period, now=late).report.new_total == 2
    assert computations == ["90"]
    assert report_worker == [{"period": "90"}]
    report_worker.run()  # the worker gets to it at last: a current snapshot is kept, nothing to compute
    assert computations == ["90"]


def test_a_csv_export_never_computes_on_the_request(client_for, month, computations, report_worker):
    """A few managers' clicks on CSV exports of custom periods must not hold every web worker computing."""
    client = client_for("manager")
    query = "period=custom&start=2026-01-01&end=2026-11-30&export=timing"
    response = client.get(f"/findings/report/?{query}")
    assert response["Content-Type"].startswith("text/html")  # the waiting page, not a computed CSV
    html = response.content.decode()
    assert 'data-testid="report-pending"' in html and 'data-testid="report-export-waiting"' in html
    poll = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "export=" not in poll  # the page polls for the figures, not for a CSV
    assert computations == []
    assert len(report_worker) == 1  # queued once, for a worker
    report_worker.run()
    response = client.get(f"/findings/report/?{query}")  # ready: the same link downloads
    assert response["Content-Type"].startswith("text/csv")
    assert len(computations) == 1  # the worker's, none on a request


def test_stale_snapshot_is_served_while_one_refresh_is_queued(
    client_for, month, computations, queued, django_capture_on_commit_callbacks, report_worker
):
    client = client_for("manager")
    client.get("/findings/report/?period=30")
    report_worker.run()
    finding(created=at(1, 9), band="critical")
    data_version_bump(scope="findings")  # the sync that stored it
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get("/findings/report/?period=30").content.decode()
        assert _new_total(client) == "2"
    assert re.search(r'data-testid="new-total">2<', html)
    assert "newer figures are being computed in the background" in html
    assert computations == ["30"]  # the page did not compute
    assert queued == ["refresh"]  # two stale pages, one refresh queued
    assert findings_figures_refresh() == ["dashboard", "30", "7", "90"]
    assert _new_total(client) == "3"


def test_triage_move_makes_the_snapshot_stale(client_for, month, queued, django_capture_on_commit_callbacks):
    client = client_for("manager")
    findings_figures_refresh()
    f = finding(created=at(2, 9))
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/findings/report/?period=30")
        assert queued == []  # a finding that no sync stored and no one moved is not seen yet …
        moved(f, to="resolved", at=at(1, 9))  # … a triage move is
        client.get("/findings/report/?period=30")
    assert queued == ["refresh"]


def test_refresh_recomputes_only_stale_snapshots(month, settings):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 1  # refreshes may start every second; dashboard counts kept 1 s
    now = timezone.now()
    assert findings_figures_refresh(now=now) == ["dashboard", "30", "7", "90"]
    assert findings_figures_refresh(now=now) == []  # nothing changed
    assert findings_figures_refresh(now=now + timedelta(seconds=2)) == ["dashboard"]  # the clock moves overdue


def test_a_running_refresh_keeps_a_second_one_from_starting(month, computations):
    with refresh_claim(CLAIM, cooldown=60) as claimed:
        assert claimed
        assert findings_figures_refresh() == []
    assert computations == []


def test_refreshes_are_spaced_by_the_cooldown(month, computations):
    assert findings_figures_refresh() == ["dashboard", "30", "7", "90"]
    data_version_bump(scope="findings")
    assert findings_figures_refresh() == []  # started less than 60 s after the last one
    assert computations == ["30", "7", "90"]


def test_snapshot_figures_equal_the_inline_computation(month):
    now = timezone.now()
    findings_figures_refresh(now=now)
    for key in ("7", "30", "90"):
        period = report_period(params={"period": key}, now=now)
        served = report_services.findings_report(period=period, now=now)
        assert not served.refreshing
        assert served.report == reports.findings_report_compute(period=period, now=now)


def test_snapshot_older_than_its_maximum_age_is_refreshed(month, settings):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 1
    first = timezone.now()
    findings_figures_refresh(now=first)
    later = first + timedelta(seconds=settings.GUARDWATCH_REPORTS_MAX_AGE_SECONDS)
    assert findings_figures_refresh(now=later) == ["dashboard", "30", "7", "90"]


def test_after_midnight_the_page_shows_the_snapshot_period_until_refreshed(client_for, month, queued):
    yesterday = timezone.now() - timedelta(days=1)
    findings_figures_refresh(now=yesterday)
    html = client_for("manager").get("/findings/report/?period=7").content.decode()
    first = (yesterday.astimezone(UTC).date() - timedelta(days=6)).isoformat()
    assert re.search(rf'data-testid="report-period">{first} to {yesterday.astimezone(UTC).date()}<', html)
    assert "newer figures are being computed" in html


def test_stale_custom_period_is_served_while_a_worker_recomputes_it(
    client_for, month, computations, queued, report_worker
):
    client = client_for("manager")
    today = timezone.now().astimezone(UTC).date()
    query = f"period=custom&start={today - timedelta(days=10)}&end={today}"
    client.get(f"/findings/report/?{query}")
    assert report_worker == [{"period": "custom", "start": f"{today - timedelta(days=10)}", "end": f"{today}"}]
    report_worker.run()
    assert _new_total(client, query) == "2"
    assert computations == ["custom"]
    finding(created=at(1, 9))
    data_version_bump(scope="findings")
    html = client.get(f"/findings/report/?{query}").content.decode()
    assert re.search(r'data-testid="new-total">2<', html)
    assert "newer figures are being computed in the background" in html
    report_worker.run()
    assert _new_total(client, query) == "3"
    assert computations == ["custom", "custom"]
    assert queued == []  # custom periods are not the standard refresh's


def test_dashboard_serves_its_snapshot_and_queues_a_refresh_when_stale(
    client_for, month, queued, django_capture_on_commit_callbacks
):
    client = client_for("manager")
    assert re.search(r'data-testid="open-total">2<', client.get("/").content.decode())
    finding(created=at(1, 9))
    data_version_bump(scope="findings")
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get("/").content.decode()
    assert re.search(r'data-testid="open-total">2<', html)
    assert 'data-testid="findings-as-of"' in html
    assert queued == ["refresh"]
    findings_figures_refresh()
    assert re.search(r'data-testid="open-total">3<', client.get("/").content.decode())


def test_sync_that_stored_nothing_new_leaves_the_figures_current(simulator):
    estate(simulator, ["us-east-1"], per_region=5)
    assert findings_sync_region(region="us-east-1").new == 5
    version = data_version(scope="findings")
    run = findings_sync_region(region="us-east-1")
    assert (run.status, run.new, run.updated) == ("succeeded", 0, 0)
    assert data_version(scope="findings") == version


def test_sync_that_stored_new_findings_makes_the_figures_stale(simulator):
    version = data_version(scope="findings")
    estate(simulator, ["us-east-1"], per_region=5)
    assert findings_sync_region(region="us-east-1").new == 5
    assert data_version(scope="findings") == version + 1


def test_no_snapshots_when_the_cache_is_off(client_for, month, computations, settings):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 0
    _new_total(client_for("manager"))
    _new_total(client_for("manager"))
    assert computations == ["30", "30"]
    assert findings_figures_refresh() == []


def test_a_rebuild_shows_rewritten_history_at_once_despite_the_refresh_spacing(client_for, month, queued):
    client = client_for("manager")
    assert findings_figures_refresh() == ["dashboard", "30", "7", "90"]  # spacing starts: 60 s
    finding(created=at(1, 9), band="critical")
    data_version_bump(scope="findings")
    assert findings_figures_refresh() == []  # within the spacing: the regular refresh waits
    assert _new_total(client) == "2"
    assert report_services.findings_figures_rebuild() == ["dashboard", "30", "7", "90"]
    assert _new_total(client) == "3"


@pytest.mark.django_db(transaction=True)
def test_a_move_committed_after_a_refresh_that_could_not_see_it_makes_the_snapshot_stale(settings, analyst):
    """Ids are taken at insert, not at commit: the data mark alone would miss this move for 15 minutes."""
    import threading

    from django.db import connection, transaction

    from findings.models import Finding
    from triage.services import findings_status_set

    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 1
    slow, fast = finding(created=at(3, 9), band="high"), finding(created=at(3, 9), band="high")
    inserted, release = threading.Event(), threading.Event()

    def bulk_move():  # a bulk action: its timeline rows get their ids early, its transaction commits late
        try:
            with transaction.atomic():
                findings_status_set(findings=Finding.objects.filter(pk=slow.pk), status="resolved", actor=analyst)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=bulk_move)
    worker.start()
    try:
        assert inserted.wait(10)
        findings_status_set(findings=Finding.objects.filter(pk=fast.pk), status="resolved", actor=analyst)
        now = timezone.now()
        assert "30" in findings_figures_refresh(now=now)  # computed without the slow move
    finally:  # never leave its open transaction to the database flush at teardown
        release.set()
        worker.join(timeout=30)
    assert not worker.is_alive()

    period = report_period(params={"period": "30"}, now=now)
    served = report_services.findings_report(period=period, now=now + timedelta(seconds=2))
    assert served.refreshing  # stale: a refresh is queued rather than the old figures served as current
    assert findings_figures_refresh(now=now + timedelta(seconds=2)) != []
    assert report_services.findings_report(period=period, now=now + timedelta(seconds=3)).report.closed_total == 2


def test_an_eventbridge_push_that_stores_a_finding_makes_the_snapshots_stale(
    month, django_capture_on_commit_callbacks
):
    import random

    from accounts.models import MONITORED, MemberAccount, Membership
    from findings.push import findings_ingest_events
    from gdsim.catalogue import build_finding, to_eventbridge_event

    member = MemberAccount.objects.create(account_id="222222222222", email="root@example.com")
    Membership.objects.create(account=member, region="us-east-1", relationship_status=MONITORED)
    before = data_version(scope="findings")
    raw = build_finding(random.Random(1), finding_type="Recon:EC2/PortProbeUnprotectedPort",
                        account_id="222222222222", region="us-east-1", detector_id="d" * 32, now=timezone.now())  # fmt: skip
    event = to_eventbridge_event(raw)
    with django_capture_on_commit_callbacks(execute=True):
        assert findings_ingest_events(events=[event]).new == 1
    assert data_version(scope="findings") > before
    with django_capture_on_commit_callbacks(execute=True):
        assert findings_ingest_events(events=[event]).unchanged == 1  # the same version again changes nothing
    assert data_version(scope="findings") == before + 1


def test_a_failed_computation_is_shown_and_not_queued_again_until_asked(
    client_for, month, report_worker, monkeypatch
):
    client = client_for("manager")
    client.get("/findings/report/?period=30")
    compute = reports.findings_report_compute

    def fails(*, period, now=None):
        raise RuntimeError("canceling statement due to statement timeout\nCONTEXT: parallel worker")

    monkeypatch.setattr(reports, "findings_report_compute", fails)
    with pytest.raises(RuntimeError):
        report_worker.run()
    poll = client.get("/findings/report/?period=30", headers={"HX-Request": "true"}).content.decode()
    assert "RuntimeError: canceling statement due to statement timeout<" in poll
    assert "hx-trigger" not in poll  # the polling stops on the error
    assert 'href="/findings/report/?period=30&amp;retry=1">Try again<' in poll
    assert report_worker == []  # not queued again by the poll
    monkeypatch.setattr(reports, "findings_report_compute", compute)
    retried = client.get("/findings/report/?period=30&retry=1").content.decode()
    assert 'data-testid="report-pending"' in retried
    assert 'hx-get="/findings/report/?period=30"' in retried  # the polls do not ask to retry again
    assert report_worker == [{"period": "30"}]
    report_worker.run()
    assert _new_total(client) == "2"


def test_the_request_that_computes_for_an_absent_worker_keeps_the_other_pages_waiting(
    month, report_worker, monkeypatch
):
    now = timezone.now()
    period = report_period(params={"period": "90"}, now=now)
    assert report_services.findings_report(period=period, now=now).report is None
    late = now + timedelta(seconds=report_services.WORKER_WAIT_SECONDS)
    compute = reports.findings_report_compute
    others: list = []

    def computing(*, period, now=None):  # another page polls while this request computes
        others.append(report_services.findings_report(period=period, now=late + timedelta(seconds=1)))
        return compute(period=period, now=now)

    monkeypatch.setattr(reports, "findings_report_compute", computing)
    assert report_services.findings_report(period=period, now=late).report.new_total == 2
    assert [(o.report, o.queued_at) for o in others] == [(None, late)]  # it waits, it does not compute too
    assert report_worker == [{"period": "90"}]


def test_a_failure_in_the_request_that_computes_for_an_absent_worker_is_shown(month, report_worker, monkeypatch):
    now = timezone.now()
    period = report_period(params={"period": "7"}, now=now)
    report_services.findings_report(period=period, now=now)

    def fails(*, period, now=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(reports, "findings_report_compute", fails)
    late = now + timedelta(seconds=report_services.WORKER_WAIT_SECONDS)
    served = report_services.findings_report(period=period, now=late)
    assert (served.report, served.failed) == (None, "RuntimeError: out of memory")
    again = report_services.findings_report(period=period, now=late + timedelta(seconds=5))
    assert again.failed == "RuntimeError: out of memory"
    assert report_worker == [{"period": "7"}]  # nothing more queued


def test_one_person_s_custom_periods_are_computed_one_at_a_time(client_for, month, report_worker):
    today = timezone.now().astimezone(UTC).date()
    first = f"period=custom&start={today - timedelta(days=20)}&end={today}"
    second = f"period=custom&start={today - timedelta(days=40)}&end={today}"
    manager, other = client_for("manager"), client_for("admin")
    manager.get(f"/findings/report/?{first}")
    waiting = manager.get(f"/findings/report/?{second}", headers={"HX-Request": "true"}).content.decode()
    assert f"Your report for {today - timedelta(days=20)} to {today} is being computed first" in waiting
    assert 'hx-trigger="every 1s"' in waiting  # it polls until its turn
    assert [q["start"] for q in report_worker] == [f"{today - timedelta(days=20)}"]  # the second is not queued …
    other.get(f"/findings/report/?{second}")  # … someone else's is
    assert [q["start"] for q in report_worker] == [f"{today - timedelta(days=20)}", f"{today - timedelta(days=40)}"]
    report_worker.run()
    assert _new_total(manager, first) == "2" and _new_total(manager, second) == "2"
    third = f"period=custom&start={today - timedelta(days=60)}&end={today}"
    manager.get(f"/findings/report/?{third}")  # the first is done: the next one goes at once
    assert [q["start"] for q in report_worker] == [f"{today - timedelta(days=60)}"]


def test_a_failed_computation_frees_its_owner_s_turn(client_for, month, report_worker, monkeypatch):
    today = timezone.now().astimezone(UTC).date()
    manager = client_for("manager")
    manager.get(f"/findings/report/?period=custom&start={today - timedelta(days=20)}&end={today}")

    def fails(*, period, now=None):
        raise RuntimeError("statement timeout")

    monkeypatch.setattr(reports, "findings_report_compute", fails)
    with pytest.raises(RuntimeError):
        report_worker.run()
    manager.get(f"/findings/report/?period=custom&start={today - timedelta(days=40)}&end={today}")
    assert [q["start"] for q in report_worker] == [f"{today - timedelta(days=40)}"]
