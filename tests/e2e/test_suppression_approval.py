"""Done when: an analyst's broad suppression rule waits for an Admin, who approves it in the browser and
GuardDuty (the simulator) then holds the ARCHIVE filter (issue 22.3)."""

from __future__ import annotations

import re

import pytest

from findings.models import Finding
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, estate
from triage.models import SuppressionRule

pytestmark = pytest.mark.browser
REGION = "us-east-1"


@pytest.fixture
def estate_synced(simulator, settings, transactional_db):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    settings.GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD = 3
    estate(simulator, [REGION], per_region=24)
    findings_sync_region(region=REGION)
    return simulator


def test_an_admin_approves_an_analysts_broad_rule_in_the_browser(simulator, estate_synced, page, sign_in, screenshot):
    sign_in("analyst")
    page.goto("/findings/suppression/?query=band%3Dlow%26band%3Dmedium")
    page.get_by_label("Name (letters, digits, . - _)").fill("quiet-low-medium")
    page.get_by_label("Reason").fill("Lab accounts: low and medium are noise")
    page.get_by_role("button", name="Review the rule…").click()
    hidden = Finding.objects.filter(severity__lt=7).count()
    assert f"would hide {hidden} open findings now" in page.get_by_test_id("suppression-count").inner_text()
    assert "waits for an Admin's approval" in page.get_by_test_id("needs-approval").inner_text()
    screenshot("confirm")
    page.get_by_role("button", name="Ask an Admin to approve").click()
    page.locator('tr[data-rule="quiet-low-medium"][data-status="pending"]').wait_for()
    assert simulator.scope(ADMIN, REGION).filters.get("quiet-low-medium") is None
    assert page.get_by_role("button", name="Approve").count() == 0  # an Analyst cannot approve

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    sign_in("admin")
    page.goto("/findings/suppression/")
    screenshot("pending")
    page.once("dialog", lambda dialog: dialog.accept())  # "Push this rule to GuardDuty…?"
    page.get_by_role("button", name="Approve").click()
    page.locator('tr[data-rule="quiet-low-medium"][data-status="active"]').wait_for()
    assert re.search(r"approved by admin", page.locator('tr[data-rule="quiet-low-medium"]').inner_text())
    saved = simulator.scope(ADMIN, REGION).filters["quiet-low-medium"]
    assert saved.action == "ARCHIVE" and saved.criteria == {"Criterion": {"severity": {"LessThan": 7}}}
    assert SuppressionRule.objects.get().decided_by.username == "admin"
    assert Finding.objects.filter(status="suppressed").count() == hidden
    assert page.console_errors == []
