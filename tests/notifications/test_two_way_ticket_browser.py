"""In a real browser, the done-when of issue 20: a ticket closed on the local Jira stand-in (a person presses
Done on the issue's page) resolves its finding within one poll, and the finding page shows both."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from findings.models import Finding
from findings.upsert import findings_upsert
from notifications import tasks
from notifications.services import ticket_request

from .conftest import parsed_finding, standin_destination

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_a_ticket_closed_in_jira_shows_resolved_on_the_finding_page_after_one_poll(
    transactional_db, jira_standin, browser, page, sign_in, screenshot
):
    destination = standin_destination(jira_standin)
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()
    tasks.delivery_send.run(ticket_request(finding=finding, destination=destination, actor=None).pk)

    # A person closes the issue in "Jira": the stand-in's issue page, where GuardWatch's link points.
    jira_tab = browser.new_context(ignore_https_errors=True).new_page()  # its certificate is the test CA's
    jira_tab.goto(f"{jira_standin.url}/browse/SEC-1")
    jira_tab.get_by_role("button", name="Done").click()
    expect(jira_tab.get_by_test_id("status")).to_have_text("Done")

    assert tasks.tickets_poll.run() == 1  # one poll

    sign_in("analyst")
    page.goto(f"/findings/{finding.pk}/")
    expect(page.get_by_test_id("ticket-status-SEC-1")).to_have_text("Done (done)")
    expect(page.get_by_test_id("timeline")).to_contain_text("Resolved in Jira SEC-1 by Demo Person")
    expect(page.get_by_test_id("ticket-panel").get_by_role("link", name="SEC-1")).to_have_attribute(
        "href", f"{jira_standin.url}/browse/SEC-1"
    )
    screenshot("ticket-closed-in-jira-resolves-finding")
    assert page.console_errors == []
