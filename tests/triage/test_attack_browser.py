"""In a real browser: an analyst narrows the list to one ATT&CK tactic and reads a finding's techniques, under the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from findings import attack
from findings.models import Finding
from tests.findings.factories import raw_finding
from tests.triage.support import store

pytestmark = pytest.mark.browser


def test_analyst_filters_by_tactic_then_opens_a_finding_and_its_technique_on_attack_mitre_org(
    page, sign_in, screenshot
):
    store(
        [
            raw_finding(finding_type="Recon:EC2/Portscan"),
            raw_finding(finding_type="CryptoCurrency:EC2/BitcoinTool.B"),
            raw_finding(finding_type="Stealth:IAMUser/CloudTrailLoggingDisabled"),
        ]
    )
    sign_in("analyst")
    page.goto("/findings/?all=1")
    expect(page.locator("#results tr[data-finding]")).to_have_count(3)
    page.get_by_text("More filters").click()
    page.get_by_label("ATT&CK tactic").select_option("TA0040")
    page.wait_for_url("**tactic=TA0040**")
    rows = page.locator("#results tr[data-finding]")
    expect(rows).to_have_count(1)
    expect(page.get_by_role("list", name="Active filters")).to_have_text("ATT&CK tactic is TA0040 Impact ×")
    screenshot("impact")
    assert Finding.objects.get(
        pk=rows.first.get_attribute("data-finding")
    ).type in attack.finding_types_for_tactic("TA0040")

    rows.first.get_by_role("link").first.click()
    card = page.get_by_test_id("attack-card")
    expect(card).to_contain_text("TA0040 Impact")
    technique = card.get_by_role("link", name="T1496.001")
    assert technique.get_attribute("href") == "https://attack.mitre.org/techniques/T1496/001/"
    assert technique.get_attribute("target") == "_blank"
    assert technique.get_attribute("rel") == "noopener noreferrer"
    expect(card.get_by_test_id("attack-source")).to_contain_text("Center for Threat-Informed Defense")
    assert [error for error in page.console_errors if "Content Security Policy" in error] == []
