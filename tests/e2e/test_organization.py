"""In a real browser: the Organization page fills itself from the worker's snapshot, then adds an account."""

import pytest
from django.core.cache import cache

from accounts import aws_organizations

pytestmark = [pytest.mark.browser, pytest.mark.worker]
ADMIN, MANAGEMENT, WORKLOAD = "111111111111", "999999999999", "222222222222"


@pytest.fixture
def organization(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1"]
    simulator.register_account(MANAGEMENT, "root@example.com", name="management")
    simulator.register_account(WORKLOAD, "workload@example.com", name="workload")
    simulator.set_organization(MANAGEMENT, [ADMIN, WORKLOAD])
    simulator.delegated_admins["us-east-1"] = ADMIN
    simulator.ensure_detector(ADMIN, "us-east-1")
    cache.delete_many([aws_organizations.SNAPSHOT_KEY, aws_organizations.REQUESTED_KEY])
    yield simulator
    cache.delete_many([aws_organizations.SNAPSHOT_KEY, aws_organizations.REQUESTED_KEY])


def test_admin_waits_for_the_organization_then_adds_an_account(page, sign_in, organization, celery_worker_process,
                                                               screenshot):
    sign_in("admin")
    page.goto("/accounts/organization/")
    page.get_by_text("Not read from AWS yet").wait_for()

    page.locator(f'tr[data-account="{WORKLOAD}"]').wait_for(timeout=30_000)  # the poll brought the snapshot
    assert "Read from AWS" in page.get_by_test_id("organization-freshness").inner_text()
    assert page.locator(f'tr[data-unavailable="{MANAGEMENT}"]').count() == 1
    screenshot("organization")
    page.get_by_label(f"Select {WORKLOAD}").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Add selected as members in every region").click()

    page.wait_for_url("**/accounts/operations/*/")
    page.get_by_text("Monitored").first.wait_for(timeout=30_000)
    assert organization.member_status(ADMIN, WORKLOAD, "us-east-1") == "Enabled"
    assert page.console_errors == []
