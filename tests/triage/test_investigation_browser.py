"""In a real browser: an analyst opens a finding, clicks "Investigate with GuardDuty", and — once the real Celery
worker has polled the (simulated) GuardDuty investigation to its end — reads the report in the finding's timeline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from findings.models import Finding
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, estate

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.timeout(120)]
REGION = "us-east-1"


def test_an_analyst_starts_a_guardduty_investigation_and_reads_its_report_in_the_timeline(
    simulator, celery_worker_process, transactional_db, page, sign_in, screenshot
):
    estate(simulator, [REGION], per_region=3)
    findings_sync_region(region=REGION)
    simulator.investigation_seconds = 0  # done at GuardWatch's first poll
    finding = Finding.objects.exclude(account_id=ADMIN).order_by("pk").first()

    sign_in("analyst")
    page.goto(f"/findings/{finding.pk}/")
    panel = page.get_by_test_id("investigation-panel")
    expect(panel.get_by_test_id("investigation-quota")).to_contain_text("10 of 10 left in the last 24 hours")
    panel.get_by_role("button", name="Investigate with GuardDuty").click()
    expect(page.get_by_test_id("investigation-panel")).to_contain_text("GuardDuty is analysing")

    # The worker polls after 15 s; the panel (polling while it runs) reloads the page once the report is in.
    report = page.get_by_test_id("timeline").get_by_test_id("investigation-report")
    expect(report).to_be_visible(timeout=60_000)
    expect(report).to_contain_text(finding.type)
    expect(page.get_by_test_id("investigation-quota")).to_contain_text("9 of 10 left")
    screenshot("investigation-in-timeline")
    assert page.console_errors == []  # no CSP violation, no script error
