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
    assert "waits for a second Admin's approval" in page.get_by_test_id("needs-approval").inner_text()
    screenshot("confirm")
    page.get_by_role("button", name="Ask a second Admin to approve").click()
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


def test_a_rule_hiding_a_whole_finding_type_waits_for_a_second_admin_then_reaches_guardduty(
    simulator, estate_synced, settings, page, sign_in, screenshot
):
    """Issue 20.1, done when: a rule hiding a whole finding type waits for a second Admin, shows its 90-day
    preview, and once approved appears in the simulator's filters."""
    from urllib.parse import urlencode

    from django.db.models import Count

    from guardwatch.core.roles import Role
    from guardwatch.core.services import user_create
    from tests.conftest import PASSWORD

    settings.GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD = 10_000  # not the count: the whole type makes it wait
    finding_type = Finding.objects.values("type").annotate(n=Count("id")).order_by("-n", "type")[0]["type"]
    of_type = Finding.objects.filter(type=finding_type).count()
    user_create(username="bob-admin", role=Role.ADMIN, password=PASSWORD, validate=False)

    sign_in("admin")
    page.goto("/findings/suppression/?" + urlencode({"query": urlencode({"type_prefix": finding_type})}))
    page.get_by_label("Name (letters, digits, . - _)").fill("no-such-type")
    page.get_by_label("Reason").fill("Known benign in every account")
    page.get_by_role("button", name="Review the rule…").click()
    assert "hides a whole finding type in every account" in page.get_by_test_id("needs-approval").inner_text()
    preview = page.get_by_test_id("suppression-preview")
    assert f"It would have hidden {of_type} finding" in preview.get_by_test_id("preview-total").inner_text()
    assert finding_type in preview.get_by_role("table", name="By type").inner_text()
    screenshot("whole-type-preview")
    page.get_by_role("button", name="Ask a second Admin to approve").click()
    row = page.locator('tr[data-rule="no-such-type"][data-status="pending"]')
    row.wait_for()
    assert "Another Admin must approve your rule." in row.inner_text()
    assert row.get_by_role("button", name="Approve").count() == 0
    assert simulator.scope(ADMIN, REGION).filters.get("no-such-type") is None

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.get_by_label("Username").fill("bob-admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    page.goto("/findings/suppression/")
    row = page.locator('tr[data-rule="no-such-type"][data-status="pending"]')
    assert f"Last 90 days: {of_type} finding" in row.inner_text()
    screenshot("whole-type-pending")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Approve").click()
    page.locator('tr[data-rule="no-such-type"][data-status="active"]').wait_for()
    saved = simulator.scope(ADMIN, REGION).filters["no-such-type"]
    assert saved.action == "ARCHIVE" and saved.criteria == {"Criterion": {"type": {"Matches": [finding_type + "*"]}}}
    assert SuppressionRule.objects.get(name="no-such-type").decided_by.username == "bob-admin"
    assert page.console_errors == []
