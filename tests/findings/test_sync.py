"""Pull sync against the GuardDuty simulator: paging, watermark, call counts, faults, one run per region."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from findings.models import Finding, FindingOccurrence, SyncRun, SyncState
from findings.sync import findings_sync_region, sync_claim

from .simulated import ADMIN, MEMBERS, estate, simulated_findings

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


@pytest.fixture
def fast_retries(settings):
    """Give up after 2 attempts so an exhausted retry shows quickly (production: 8, adaptive)."""
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 2


def stored_versions() -> dict[str, tuple]:
    return {arn: (count, updated) for arn, count, updated in Finding.objects.values_list("arn", "count", "updated_at")}


def simulated_versions(simulator, regions) -> dict[str, tuple]:
    from findings.parsing import parse_finding

    out = {}
    for arn, raw in simulated_findings(simulator, regions).items():
        parsed = parse_finding(raw)
        out[arn] = (parsed.count, parsed.updated_at)
    return out


def test_first_sync_brings_every_visible_finding_of_the_region(simulator):
    estate(simulator, [REGION], per_region=120)
    simulator.call_counts.reset()

    run = findings_sync_region(region=REGION)

    assert run.status == "succeeded", run.errors
    assert stored_versions() == simulated_versions(simulator, [REGION])
    assert set(Finding.objects.values_list("account_id", flat=True)) == {ADMIN, *MEMBERS}
    assert (run.pages, run.new, run.updated, run.unchanged) == (3, 120, 0, 0)
    assert FindingOccurrence.objects.count() == 120


def test_a_full_sync_of_n_findings_costs_n_over_50_list_and_get_calls(simulator):
    estate(simulator, [REGION], per_region=260)
    simulator.call_counts.reset()

    run = findings_sync_region(region=REGION)

    assert run.status == "succeeded"
    assert simulator.call_counts["ListFindings"] == 6  # ⌈260/50⌉
    assert simulator.call_counts["GetFindings"] == 6
    assert simulator.call_counts["ListDetectors"] == 1
    assert run.api_calls == 13


def test_an_incremental_sync_with_nothing_new_costs_one_list_call(simulator):
    estate(simulator, [REGION], per_region=120)
    # A quiet estate: nothing updated within the sync's lag allowance of GuardDuty's "now". (Right at
    # the moment of an update, the next run must list it again: a version may show in ListFindings late.)
    simulator.advance_clock(3600)
    findings_sync_region(region=REGION)
    simulator.call_counts.reset()

    run = findings_sync_region(region=REGION)

    assert run.status == "succeeded"
    assert simulator.call_counts.total == 1
    assert simulator.call_counts["ListFindings"] == 1
    assert (run.new, run.updated, run.unchanged) == (0, 0, 0)


def test_new_findings_and_repeat_occurrences_since_the_last_sync_are_pulled(simulator):
    estate(simulator, [REGION], per_region=60)
    findings_sync_region(region=REGION)
    simulator.advance_clock(600)
    repeated_id = next(iter(simulator.region_findings(REGION).by_id))
    simulator.repeat_finding(REGION, repeated_id)
    simulator.generate_findings(ADMIN, REGION, 7)
    simulator.call_counts.reset()

    run = findings_sync_region(region=REGION)

    assert (run.new, run.updated) == (7, 1)
    assert simulator.call_counts["ListFindings"] == 1
    assert simulator.call_counts["GetFindings"] == 1
    assert stored_versions() == simulated_versions(simulator, [REGION])
    repeated = Finding.objects.get(finding_id=repeated_id)
    assert repeated.occurrences.count() == 2


def test_findings_of_a_member_no_longer_enabled_stop_arriving_but_are_kept(simulator):
    estate(simulator, [REGION], per_region=30)
    findings_sync_region(region=REGION)
    before = Finding.objects.filter(account_id=MEMBERS[0]).count()
    simulator.resign(MEMBERS[0], REGION)
    simulator.advance_clock(60)
    simulator.generate_findings(MEMBERS[0], REGION, 5)

    findings_sync_region(region=REGION)

    assert Finding.objects.filter(account_id=MEMBERS[0]).count() == before


def test_throttling_is_retried_and_the_sync_completes(simulator):
    estate(simulator, [REGION], per_region=150)
    simulator.faults.add("throttle", rate=0.3, operation="ListFindings")
    simulator.faults.add("throttle", rate=0.3, operation="GetFindings")
    simulator.call_counts.reset()

    run = findings_sync_region(region=REGION)

    assert run.status == "succeeded", run.errors
    assert stored_versions() == simulated_versions(simulator, [REGION])
    # Throttled requests were answered and retried by botocore, not surfaced.
    assert simulator.call_counts["ListFindings"] + simulator.call_counts["GetFindings"] > 6


def test_a_failing_page_keeps_the_watermark_at_the_last_committed_page(simulator, fast_retries):
    estate(simulator, [REGION], per_region=200)
    simulator.faults.add("fail_page", page=2)  # the 3rd ListFindings call, every time

    failed = findings_sync_region(region=REGION)

    assert failed.status == "failed"
    assert "ListFindings" in failed.errors and "InternalServerError" in failed.errors
    assert failed.pages == 2 and Finding.objects.count() == 100
    state = SyncState.objects.get(region=REGION)
    assert state.watermark == max(Finding.objects.values_list("updated_at", flat=True))
    assert "InternalServerError" in state.last_error and state.last_failure_at is not None

    simulator.faults.clear()
    recovered = findings_sync_region(region=REGION)

    assert recovered.status == "succeeded"
    assert stored_versions() == simulated_versions(simulator, [REGION])
    assert FindingOccurrence.objects.count() == 200
    assert SyncState.objects.get(region=REGION).last_error == ""


def test_a_failing_region_is_recorded_and_does_not_block_the_others(simulator, fast_retries, settings):
    regions = ["us-east-1", "eu-west-1"]
    settings.GUARDWATCH_AWS_REGIONS = regions
    estate(simulator, regions, per_region=40)
    simulator.faults.add("server_error", region="eu-west-1", operation="ListFindings")

    runs = {region: findings_sync_region(region=region) for region in reversed(regions)}

    assert runs["eu-west-1"].status == "failed"
    assert runs["us-east-1"].status == "succeeded"
    assert Finding.objects.filter(region="us-east-1").count() == 40
    assert SyncState.objects.get(region="eu-west-1").last_error


def test_a_region_without_a_detector_fails_with_a_clear_reason(simulator):
    simulator.register_account(ADMIN, "root@example.com")

    run = findings_sync_region(region=REGION)

    assert run.status == "failed"
    assert "no detector" in run.errors


def test_a_sync_cannot_start_while_another_holds_the_region(simulator):
    estate(simulator, [REGION], per_region=10)

    with sync_claim(region=REGION) as held:
        assert held.acquired
        assert findings_sync_region(region=REGION) is None

    assert findings_sync_region(region=REGION).status == "succeeded"


def test_the_detector_id_is_looked_up_once_and_cached(simulator):
    estate(simulator, [REGION], per_region=10)
    findings_sync_region(region=REGION)
    simulator.call_counts.reset()

    findings_sync_region(region=REGION)

    assert simulator.call_counts["ListDetectors"] == 0
    assert SyncState.objects.get(region=REGION).detector_id == simulator.detector_id(ADMIN, REGION)


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_region_run_once(simulator):
    estate(simulator, [REGION], per_region=100)
    simulator.faults.add("latency", latency_ms=150, operation="GetFindings")
    results = []
    barrier = threading.Barrier(4)

    def attempt():
        barrier.wait()
        try:
            results.append(findings_sync_region(region=REGION))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    ran = [r for r in results if r is not None]
    assert len(results) == 4 and len(ran) == 1
    assert SyncRun.objects.count() == 1
    assert Finding.objects.count() == 100


def test_the_sqlite_lease_claim_excludes_a_second_claimer_until_it_expires(settings):
    from datetime import timedelta

    from django.utils import timezone

    from findings.sync import _lease_claim

    SyncState.objects.create(region=REGION)
    with _lease_claim(REGION) as first:
        assert first.acquired
        with _lease_claim(REGION) as second:
            assert not second.acquired
        # The holder died without releasing: its lease runs out.
        SyncState.objects.filter(region=REGION).update(claimed_until=timezone.now() - timedelta(seconds=1))
        with _lease_claim(REGION) as third:
            assert third.acquired
