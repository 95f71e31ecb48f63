"""Done when: an analyst triages high-severity EC2 findings end to end, and GuardDuty (the simulator) agrees.

The findings exist in both places: generated in the simulator, brought in by the findings sync.
Write-backs reach the simulator through a real Celery worker (the `writeback_flush` task queued
when each change commits).
"""

from __future__ import annotations

import re
import time

import pytest

from findings.models import Finding
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, estate

pytestmark = pytest.mark.browser
REGION = "us-east-1"
EC2_HIGH = ["Backdoor:EC2/C&CActivity.B!DNS", "CryptoCurrency:EC2/BitcoinTool.B", "Impact:EC2/PortSweep"]


def wait_for(check, what: str, timeout: float = 30.0):
    """Readiness polling with a deadline (the worker sends asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out waiting for {what}")


@pytest.fixture
def estate_synced(simulator, settings, transactional_db):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=24)
    simulator.advance_clock(60)
    simulator.generate_findings(ADMIN, REGION, 4, finding_types=EC2_HIGH)
    findings_sync_region(region=REGION)
    return simulator


def results_ids(page) -> list[int]:
    return [
        int(v)
        for v in page.locator("#results tr[data-finding]").evaluate_all(
            "rows => rows.map(r => r.dataset.finding)"
        )
    ]


def test_analyst_triages_high_severity_ec2_findings_end_to_end(
    simulator, estate_synced, celery_worker_process, page, sign_in, screenshot
):
    sign_in("analyst")
    page.goto("/findings/")  # the default view: open high and critical
    page.get_by_role("link", name="All findings").click()

    # Filter to high-severity EC2 findings: each change swaps the results in place and updates the URL.
    page.get_by_role("checkbox", name="High", exact=True).check()
    page.wait_for_url("**band=high**")
    page.get_by_text("More filters").click()
    page.get_by_label("Resource type").select_option("Instance")
    page.wait_for_url("**resource_type=Instance**")
    expected = set(
        Finding.objects.filter(severity__gte=7, severity__lt=9, resource_type="Instance").values_list(
            "id", flat=True
        )
    )
    assert len(expected) >= 4
    wait_for(lambda: set(results_ids(page)) == expected, "the filtered results")
    assert page.get_by_test_id("match-count").inner_text().startswith(f"{len(expected)} matching")

    # Save the view.
    page.get_by_text("Save this view…").click()
    page.get_by_label("Save this filter as").fill("EC2 highs")
    page.get_by_role("button", name="Save view").click()
    page.get_by_role("link", name="EC2 highs").wait_for()
    assert "band=high" in page.url and "resource_type=Instance" in page.url

    # Bulk-assign, then bulk-acknowledge, with a confirmation showing the count.
    for action, field, value in (("assign", "assignee", "analyst"), ("status", "status", "acknowledged")):
        page.get_by_label("Select all on this page").check()
        page.locator("#bulk select[name=action]").select_option(action)
        if field == "assignee":
            page.locator("#bulk input[name=assignee]").fill(value)
        else:
            page.locator("#bulk select[name=status]").select_option(value)
        page.get_by_role("button", name="Review…").click()
        assert f"to {len(expected)} findings" in page.get_by_test_id("bulk-count").inner_text()
        page.get_by_role("button", name=f"Apply to {len(expected)} findings").click()
        page.wait_for_url("**/findings/?**")
    assert (
        set(
            Finding.objects.filter(assignee__username="analyst", status="acknowledged").values_list(
                "id", flat=True
            )
        )
        == expected
    )
    screenshot("acknowledged")

    # Resolve one with a comment: GuardDuty archives it.
    first, second = sorted(expected)[:2]
    resolved = Finding.objects.get(pk=first)
    page.goto(f"/findings/{first}/")
    page.locator(".triage-actions select[name=status]").select_option("resolved")
    page.locator(".triage-actions input[name=comment]").fill("Rebuilt the instance from a clean AMI.")
    page.get_by_role("button", name="Set status").click()
    assert page.get_by_test_id("status").inner_text() == "Resolved"
    wait_for(
        lambda: simulator.region_findings(REGION).get(resolved.finding_id).data["Service"]["Archived"],
        "the simulator to archive the resolved finding",
    )
    page.reload()
    timeline = page.get_by_test_id("timeline").inner_text()
    assert "Rebuilt the instance from a clean AMI." in timeline
    assert "ArchiveFindings sent to GuardDuty" in timeline

    # Mark another false positive: GuardDuty gets NOT_USEFUL feedback.
    fp = Finding.objects.get(pk=second)
    page.goto(f"/findings/{second}/")
    page.locator(".triage-actions select[name=status]").select_option("false_positive")
    page.locator(".triage-actions input[name=reason]").fill("Our own red team")
    page.get_by_role("button", name="Set status").click()
    wait_for(
        lambda: (
            simulator.region_findings(REGION).get(fp.finding_id).data["Service"].get("UserFeedback")
            == "NOT_USEFUL"
        ),
        "NOT_USEFUL feedback in the simulator",
    )

    # Create a suppression rule from the saved view's filter: GuardDuty holds an ARCHIVE filter.
    page.goto("/findings/")
    page.get_by_role("link", name="EC2 highs").click()
    page.get_by_test_id("suppress-link").click()
    page.get_by_label("Name (letters, digits, . - _)").fill("ec2-high-sandbox")
    page.get_by_label("Reason").fill("Sandbox account instances are rebuilt nightly")
    page.get_by_role("button", name="Review the rule…").click()
    page.get_by_test_id("suppression-count").wait_for()  # how many findings it hides now, before anything is created
    page.get_by_role("button", name=re.compile(r"^Create and hide \d+ finding")).click()
    page.get_by_role("link", name="ec2-high-sandbox").wait_for()
    saved = simulator.scope(ADMIN, REGION).filters["ec2-high-sandbox"]
    assert saved.action == "ARCHIVE"
    assert saved.criteria == {
        "Criterion": {"severity": {"GreaterThanOrEqual": 7, "LessThan": 9}, "resource.resourceType": {"Eq": ["Instance"]}}
    }
    screenshot("suppression")
    assert page.console_errors == []
