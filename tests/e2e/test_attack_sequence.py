"""An analyst opens a Critical attack sequence from the list grouped by sequence, reads its timeline and
follows a signal to its finding and back."""

from __future__ import annotations

import random

import pytest

from gdsim.catalogue import build_attack_sequence
from tests.findings.factories import DETECTOR, MEMBER, NOW
from tests.triage.support import store

pytestmark = pytest.mark.browser


def test_the_analyst_follows_a_sequence_to_its_signal_and_back(page, sign_in, screenshot):
    raw, members = build_attack_sequence(random.Random(4), finding_type="AttackSequence:IAM/CompromisedCredentials",
                                         account_id=MEMBER, region="us-east-1", detector_id=DETECTOR, now=NOW)
    raw["Service"]["Detection"]["Sequence"]["Actors"][0]["User"]["Name"] = "<img src=x onerror=alert(1)>"
    sequence = store([raw, *members])[0]
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in("analyst")

    page.goto("/findings/?all=1")
    page.get_by_test_id("group-by-sequence").click()
    page.get_by_role("link", name=sequence.title).click()
    page.wait_for_url(f"**/findings/{sequence.pk}/sequence/")
    timeline = page.get_by_test_id("sequence-timeline")
    assert timeline.locator("tbody tr").count() == len(members) + 1  # its findings and the CloudTrail activity
    assert "Defense Evasion" in page.get_by_test_id("sequence-mitre").inner_text()
    assert "<img src=x onerror=alert(1)>" in page.get_by_test_id("sequence-actor").inner_text()  # shown as text
    screenshot("attack-sequence")

    timeline.get_by_test_id("signal-finding").first.click()
    page.get_by_test_id("sequence-back").click()
    page.wait_for_url(f"**/findings/{sequence.pk}/sequence/")
    assert dialogs == []
