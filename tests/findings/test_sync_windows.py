"""The pull sync against GuardDuty as AWS documents it, not as it happens to behave: NextTokens that may
be offsets into a result changing while the sync pages, "now" taken from GuardDuty rather than from a
worker whose clock is off, and the periodic ids-only comparison that catches anything lost anyway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingOccurrence, SyncState
from findings.services import findings_ids_compare_region
from findings.sync import findings_sync_region

from .simulated import ADMIN, MEMBERS, estate, simulated_findings
from .test_sync import simulated_versions, stored_versions

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


def quiet_estate(simulator, per_region: int) -> None:
    """An estate whose last update is an hour behind GuardDuty's clock."""
    estate(simulator, [REGION], per_region=per_region)
    simulator.advance_clock(3600)


def nothing_missed_nothing_twice(simulator) -> None:
    assert stored_versions() == simulated_versions(simulator, [REGION])
    assert Finding.objects.count() == len(simulated_findings(simulator, [REGION]))
    # Each stored version recorded once (the upsert's history), however often it was listed.
    versions = FindingOccurrence.objects.values_list("finding_id", "updated_at", "count")
    assert len(set(versions)) == len(versions)


def test_offset_tokens_over_findings_updated_and_added_between_pages_lose_and_double_nothing(simulator):
    quiet_estate(simulator, per_region=300)
    simulator.listing_tokens = "offset"  # each NextToken a bare position in the current result
    listed: list[str] = []

    def between_pages(operation, params, result):
        if operation != "ListFindings":
            return
        listed.extend(result["FindingIds"])
        if len(listed) <= 250:
            simulator.advance_clock(1)
            simulator.repeat_finding(REGION, listed[len(listed) // 50])  # one already listed moves to the end
            simulator.generate_findings(MEMBERS[0], REGION, 1)  # and a new one arrives

    simulator.after_call = between_pages
    first = findings_sync_region(region=REGION)
    simulator.after_call = None
    second = findings_sync_region(region=REGION)

    assert first.status == second.status == "succeeded", first.errors + second.errors
    nothing_missed_nothing_twice(simulator)
    assert first.new + second.new == Finding.objects.count()


@pytest.mark.parametrize("minutes", [10, -10], ids=["worker-ahead", "worker-behind"])
def test_a_worker_clock_minutes_off_guardduty_misses_nothing(simulator, monkeypatch, minutes):
    quiet_estate(simulator, per_region=300)
    # The product's clock only: the simulator keeps its own, and dates its answers with it.
    monkeypatch.setattr(timezone, "now", lambda: simulator.now() + timedelta(minutes=minutes))
    lists = []

    def while_paging(operation, params, result):
        if operation == "ListFindings":
            lists.append(result["FindingIds"])
            if len(lists) in (2, 3) and result["FindingIds"]:
                # Updated between its listing and its GetFindings, and then again by the next page.
                simulator.advance_clock(1)
                simulator.repeat_finding(REGION, result["FindingIds"][10])

    simulator.after_call = while_paging
    first = findings_sync_region(region=REGION)
    simulator.after_call = None
    simulator.advance_clock(60)
    for finding_id in lists[0][:2]:
        simulator.repeat_finding(REGION, finding_id)
    simulator.generate_findings(ADMIN, REGION, 60)  # more than one page: the run bounds its later pages
    second = findings_sync_region(region=REGION)

    assert first.status == second.status == "succeeded", first.errors + second.errors
    nothing_missed_nothing_twice(simulator)


def test_more_than_a_page_of_findings_updated_in_one_millisecond_are_all_listed(simulator):
    estate(simulator, [REGION], per_region=30)
    simulator.advance_clock(600)
    simulator.generate_findings(ADMIN, REGION, 120)  # all at this instant: 120 with one updatedAt
    simulator.advance_clock(3600)
    simulator.listing_tokens = "offset"

    run = findings_sync_region(region=REGION)

    assert run.status == "succeeded", run.errors
    nothing_missed_nothing_twice(simulator)
    assert run.new == 150


def test_the_checkpoint_is_guardduty_time_less_the_lag_allowance(simulator, settings, monkeypatch):
    quiet_estate(simulator, per_region=20)
    monkeypatch.setattr(timezone, "now", lambda: simulator.now() + timedelta(days=3))

    findings_sync_region(region=REGION)

    checkpoint = SyncState.objects.get(region=REGION).settled_through
    lag = timedelta(seconds=settings.GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS)
    assert simulator.now() - lag - timedelta(seconds=2) <= checkpoint <= simulator.now() - lag


def test_the_ids_comparison_fetches_a_finding_the_sync_lost(simulator):
    quiet_estate(simulator, per_region=120)
    assert findings_sync_region(region=REGION).status == "succeeded"
    lost = Finding.objects.filter(archived=False).order_by("arn").first()
    lost_arn = lost.arn
    lost.delete()  # as if a page had been skipped: the incremental sync will never list it again
    assert findings_sync_region(region=REGION).new == 0
    simulator.call_counts.reset()

    result = findings_ids_compare_region(region=REGION)

    assert result.error == ""
    assert (result.in_guardduty, result.stored, result.missing, result.fetched) == (120, 119, 1, 1)
    assert Finding.objects.filter(arn=lost_arn).exists()
    nothing_missed_nothing_twice(simulator)
    assert simulator.call_counts["ListFindings"] == 3 and simulator.call_counts["GetFindings"] == 1


def test_the_ids_comparison_includes_archived_findings(simulator):
    quiet_estate(simulator, per_region=60)
    findings_sync_region(region=REGION)
    archived = sorted(simulator.region_findings(REGION).by_id)[:3]
    for finding_id in archived:
        stored = simulator.region_findings(REGION).get(finding_id)
        stored.data["Service"]["Archived"] = True
        simulator.region_findings(REGION).touch(stored)
    Finding.objects.filter(finding_id__in=archived).delete()

    result = findings_ids_compare_region(region=REGION)

    assert result.missing == 3 and result.fetched == 3
    assert set(Finding.objects.filter(archived=True).values_list("finding_id", flat=True)) == set(archived)


def test_findings_guardduty_no_longer_has_are_kept_and_counted(simulator):
    quiet_estate(simulator, per_region=60)
    findings_sync_region(region=REGION)
    store = simulator.region_findings(REGION)
    forgotten = sorted(store.by_id)[:4]
    for finding_id in forgotten:
        store.remove(finding_id)

    result = findings_ids_compare_region(region=REGION)

    assert (result.in_guardduty, result.stored, result.missing) == (56, 60, 0)
    assert result.gone == 4
    assert Finding.objects.filter(finding_id__in=forgotten).count() == 4  # GuardWatch keeps its copy


def test_beat_runs_the_ids_comparison_in_every_region_on_its_interval(settings, monkeypatch):
    from findings import tasks
    from guardwatch.celery import _install_beat_schedule
    from guardwatch.celery import app as celery_app

    settings.GUARDWATCH_FINDINGS_IDS_COMPARE_HOURS = 12
    _install_beat_schedule(celery_app)
    entry = celery_app.conf.beat_schedule["findings-ids-compare"]
    assert entry["task"] == "findings.tasks.findings_ids_compare_all_regions"
    assert entry["schedule"].run_every == timedelta(hours=12)

    queued = []
    monkeypatch.setattr(tasks.findings_ids_compare_region, "delay", queued.append)
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    assert tasks.findings_ids_compare_all_regions() == queued == ["us-east-1", "eu-west-1"]


def test_the_ids_comparison_task_reports_what_it_did(simulator):
    from findings.tasks import findings_ids_compare_region as compare_task

    quiet_estate(simulator, per_region=30)

    outcome = compare_task(REGION)

    assert outcome["missing"] == outcome["fetched"] == 30 and outcome["error"] == ""
    assert Finding.objects.count() == 30
