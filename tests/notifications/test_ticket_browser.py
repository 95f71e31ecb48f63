"""In a real browser: an analyst opens a finding, clicks "Create ticket", and — once the real Celery worker
has created the issue in (a local stand-in for) Jira — sees the issue's key linked in the timeline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from findings.models import Finding
from findings.upsert import findings_upsert

from .conftest import jira_make, parsed_finding
from .receiver import FakeJira

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.timeout(120)]


def test_an_analyst_creates_a_ticket_and_sees_its_key_linked_in_the_timeline(
    celery_worker_process, transactional_db, tls_receiver_factory, page, sign_in, screenshot
):
    jira = FakeJira()
    receiver = tls_receiver_factory(respond=jira.respond)
    base = receiver.url.removesuffix("/hook")
    jira_make(base, name="Jira SEC")
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()

    sign_in("analyst")
    page.goto(f"/findings/{finding.pk}/")
    panel = page.get_by_test_id("ticket-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="Create ticket").click()

    # The worker creates the issue; the panel (polling while it waits) reloads the page once it exists.
    link = page.get_by_test_id("timeline").get_by_role("link", name="SEC-1")
    expect(link).to_be_visible(timeout=30_000)  # a real worker, busy or not, within its poll interval
    expect(link).to_have_attribute("href", f"{base}/browse/SEC-1")
    expect(page.get_by_test_id("timeline")).to_contain_text("created Jira issue SEC-1 in Jira SEC")
    expect(panel.get_by_role("link", name="SEC-1")).to_be_visible()
    screenshot("ticket-in-timeline")

    [issue] = jira.issues
    assert issue["fields"]["summary"] == f"[HIGH] {finding.title}"
    assert page.console_errors == []  # no CSP violation, no script error
