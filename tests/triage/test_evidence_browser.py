"""In a real browser, under the CSP: an analyst adds a note and a file to a finding, and both join the timeline
without a reload."""

from __future__ import annotations

import hashlib

import pytest

from tests.triage.support import store_findings

pytestmark = pytest.mark.browser

CSP_WATCH = """() => { window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + (e.target.outerHTML || '').slice(0, 200))); }"""


def test_analyst_adds_a_note_and_a_file_on_a_finding_page_without_a_reload(page, sign_in, screenshot):
    sign_in("analyst")
    finding = store_findings(1, seed=43)[0]
    page.goto(f"/findings/{finding.pk}/")
    page.evaluate(CSP_WATCH)
    page.evaluate("() => { window.notReloaded = true; }")
    evidence = page.get_by_test_id("evidence")
    timeline = page.get_by_test_id("timeline")

    evidence.get_by_label("Note").fill("Instance owner confirms <b>no</b> change window")
    evidence.get_by_role("button", name="Add note").click()
    timeline.get_by_text("Instance owner confirms <b>no</b> change window").wait_for()

    content = b"GET /admin HTTP/1.1\r\nHost: victim\r\n"
    evidence.get_by_label("File (at most").set_input_files(
        files=[{"name": "../request.txt", "mimeType": "text/html", "buffer": content}]
    )
    page.get_by_test_id("evidence").get_by_role("button", name="Attach file").click()
    page.get_by_test_id("evidence-file").wait_for()
    assert page.get_by_test_id("evidence-file").inner_text() == "request.txt"
    assert page.get_by_test_id("evidence-sha256").inner_text() == hashlib.sha256(content).hexdigest()
    timeline.get_by_test_id("timeline-evidence-file").wait_for()
    screenshot("attached")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("evidence").get_by_role("button", name="Remove").click()
    timeline.get_by_text("removed the file request.txt").wait_for()
    assert page.get_by_test_id("evidence").get_by_text("removed by analyst").count() == 1

    assert page.evaluate("() => window.notReloaded") is True
    assert page.evaluate("() => window.cspViolations") == []
    assert [error for error in page.console_errors if "Content Security Policy" in error] == []
