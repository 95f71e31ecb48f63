"""The sync status page, "Sync now", and the ingest API key page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from findings import tasks
from findings.models import IngestApiKey, SyncRun, SyncState
from guardwatch.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    return settings.GUARDWATCH_AWS_REGIONS


def run_in(region, *, status=SyncRun.Status.SUCCEEDED, minutes_ago=3, **counts):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    finished = None if status == SyncRun.Status.RUNNING else started + timedelta(seconds=12)
    return SyncRun.objects.create(region=region, started_at=started, finished_at=finished, status=status, **counts)


def test_analyst_sees_each_region_with_its_last_run_and_freshness(client_for, regions):
    SyncState.objects.create(region="us-east-1", last_success_at=timezone.now() - timedelta(minutes=3))
    run_in("us-east-1", pages=4, new=180, updated=7, unchanged=3, api_calls=8)

    response = client_for("analyst").get("/findings/sync/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-region="us-east-1"' in html and 'data-region="eu-west-1"' in html
    assert "180" in html and "3\xa0minutes ago" in html
    assert "Never synced" in html  # eu-west-1
    assert 'data-polling="off"' in html


def test_a_failed_region_shows_its_error_escaped(client_for, regions):
    SyncState.objects.create(
        region="eu-west-1", last_failure_at=timezone.now(), last_error="ListFindings: <b>InternalServerError</b>"
    )
    run_in("eu-west-1", status=SyncRun.Status.FAILED, errors="ListFindings: <b>InternalServerError</b>")

    html = client_for("admin").get("/findings/sync/").content.decode()

    assert "ListFindings: &lt;b&gt;InternalServerError&lt;/b&gt;" in html
    assert "<b>InternalServerError" not in html


def test_a_run_taken_over_after_its_worker_died_says_so(client_for, regions):
    run_in("us-east-1", pages=9, new=450, resumed=1, waited_seconds=3.0)

    html = client_for("analyst").get("/findings/sync/").content.decode()

    assert "taken over by another worker 1 time" in html
    assert "of which 3.0 s waiting" in html


def test_a_running_sync_makes_the_status_poll_every_two_seconds(client_for, regions):
    run_in("us-east-1", status=SyncRun.Status.RUNNING, pages=2, new=100)

    response = client_for("analyst").get("/findings/sync/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "<html" not in html  # only the fragment
    assert "Running" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_polling_stops_once_no_run_is_running(client_for, regions):
    run_in("us-east-1", status=SyncRun.Status.SUCCEEDED)

    html = client_for("analyst").get("/findings/sync/", headers={"HX-Request": "true"}).content.decode()

    assert "hx-trigger" not in html
    assert 'data-polling="off"' in html


def test_the_sync_page_costs_a_fixed_number_of_queries(client_for, regions, django_assert_max_num_queries):
    for region in regions:
        SyncState.objects.create(region=region, last_success_at=timezone.now())
        for _ in range(15):
            run_in(region)
    client = client_for("analyst")

    with django_assert_max_num_queries(12):  # 10, and the ledger's summary by region and its gaps
        client.get("/findings/sync/")


def test_manager_may_not_see_the_sync_page(client_for):
    assert client_for("manager").get("/findings/sync/").status_code == 403


def test_sync_now_queues_one_task_per_region_after_commit(
    client_for, regions, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.findings_sync_region, "delay", lambda *a, **kw: queued.append((a, kw)))

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("analyst").post("/findings/sync/run/", {"region": ""})

    assert response.status_code == 302
    assert [args[0] for args, _ in queued] == regions
    assert all(kw == {"trigger": "manual", "requested_by": "analyst"} for _, kw in queued)
    assert AuditEntry.objects.filter(verb="findings.sync_request", actor_name="analyst").exists()


def test_sync_now_for_one_region(client_for, regions, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.findings_sync_region, "delay", lambda *a, **kw: queued.append(a))

    with django_capture_on_commit_callbacks(execute=True):
        client_for("admin").post("/findings/sync/run/", {"region": "eu-west-1"})

    assert queued == [("eu-west-1",)]


def test_sync_now_refuses_an_unconfigured_region(client_for, regions, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.findings_sync_region, "delay", lambda *a, **kw: queued.append(a))

    response = client_for("admin").post("/findings/sync/run/", {"region": "mars-north-1"}, follow=True)

    assert queued == []
    assert "Choose a configured region." in response.content.decode()


def test_admin_creates_a_key_and_sees_the_secret_once(client_for):
    client = client_for("admin")

    response = client.post("/findings/ingest-keys/", {"name": "EventBridge prod"})
    assert (response.status_code, response["Location"]) == (302, "/findings/ingest-keys/")  # post, redirect, get
    shown = client.get(response["Location"])

    html = shown.content.decode()
    key = IngestApiKey.objects.get()
    secret = re.search(r'data-testid="new-key">([^<]*)<', html).group(1)
    assert secret.startswith(f"gw_{key.prefix}_") and secret == secret.strip()  # nothing to trim when copied
    assert 'data-copy="new-key"' in html
    assert shown["Cache-Control"] == "no-store"
    assert AuditEntry.objects.filter(verb="ingest_key.create", actor_name="admin").exists()
    again = client.get("/findings/ingest-keys/").content.decode()  # a reload: nothing created, nothing shown
    assert 'data-testid="new-key"' not in again
    assert f"gw_{key.prefix}_…" in again
    assert IngestApiKey.objects.count() == 1


def test_the_ingest_keys_page_is_in_the_admins_navigation(client_for):
    assert 'href="/findings/ingest-keys/"' in client_for("admin").get("/").content.decode()
    assert 'href="/findings/ingest-keys/"' not in client_for("analyst").get("/").content.decode()


def test_admin_revokes_a_key(client_for, admin):
    from findings.services import ingest_key_create

    key, _secret = ingest_key_create(name="old", actor=admin)

    response = client_for("admin").post(f"/findings/ingest-keys/{key.pk}/revoke/", follow=True)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked" in response.content.decode()
    assert AuditEntry.objects.filter(verb="ingest_key.revoke").exists()


def test_analyst_may_not_manage_keys(client_for):
    client = client_for("analyst")
    assert client.get("/findings/ingest-keys/").status_code == 403
    assert client.post("/findings/ingest-keys/", {"name": "x"}).status_code == 403
    assert IngestApiKey.objects.count() == 0


def test_the_sync_page_shows_pushes_and_the_ledger_of_each_region(client_for, regions):
    from findings.models import LedgerCheck

    now = timezone.now()
    SyncState.objects.create(region="us-east-1", last_push_at=now - timedelta(minutes=2), pushed_findings=41,
                             ledger_checked_at=now)  # fmt: skip
    SyncState.objects.create(region="eu-west-1", ledger_checked_at=now)
    window = {"checked_at": now, "window_start": now - timedelta(days=85), "window_end": now}
    LedgerCheck.objects.create(region="us-east-1", account_id="222222222222", guardduty_total=120,
                               guardwatch_total=117, missing_by_band={"high": 2, "low": 1}, **window)  # fmt: skip
    LedgerCheck.objects.create(region="us-east-1", account_id="333333333333", guardduty_total=50,
                               guardwatch_total=50, **window)  # fmt: skip
    LedgerCheck.objects.create(region="eu-west-1", account_id="333333333333", guardduty_total=9,
                               guardwatch_total=9, **window)  # fmt: skip

    html = client_for("analyst").get("/findings/sync/").content.decode()

    us_east = html[html.index('data-region="us-east-1"'):html.index('data-region="eu-west-1"')]
    assert "41 findings pushed" in us_east
    assert "3 findings short" in us_east and "in 1 of 2 accounts" in us_east
    assert "In step" in html[html.index('data-region="eu-west-1"'):]
    [gap] = re.findall(r'<tr data-testid="ledger-gap">(.*?)</tr>', html, re.S)
    assert "/accounts/222222222222/" in gap and "High 2, Low 1" in gap


def test_the_ledger_section_says_when_no_account_is_short(client_for, regions):
    html = client_for("analyst").get("/findings/sync/").content.decode()

    assert 'data-testid="ledger-in-step"' in html and "No push yet" in html
