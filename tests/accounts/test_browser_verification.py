"""In a real browser, with a real Celery worker: the invite's live progress shows GuardDuty verifying the email."""

import pytest
from playwright.sync_api import expect

from accounts.models import MemberAccount

from .helpers import ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ACCOUNT, ROOT_EMAIL = "123456789012", "root+payments@example.com"


def test_admin_watches_the_email_being_verified_before_the_member_is_invited(
    page, sign_in, simulator, celery_worker_process, screenshot, settings
):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    for region in settings.GUARDWATCH_AWS_REGIONS:
        simulator.ensure_detector(ADMIN, region)
    simulator.register_account(ACCOUNT, ROOT_EMAIL)
    simulator.email_verification_seconds = 8  # real seconds: long enough to watch, short enough to wait for
    MemberAccount.objects.create(account_id=ACCOUNT, email=ROOT_EMAIL)
    sign_in("admin")

    page.goto("/accounts/invite/?scope=new")
    page.get_by_role("button", name="Invite").click()

    expect(page.get_by_test_id("operation-status")).to_have_text("Verifying emails", timeout=30_000)
    progress = page.locator("tr[data-region-progress='eu-west-1']")
    expect(progress.locator("td[data-count='verifying']")).to_have_text("1")
    expect(page.locator("td.result-text").first).to_contain_text("GuardDuty is verifying the email")
    screenshot("verifying")

    expect(page.get_by_test_id("operation-status")).to_have_text("Succeeded", timeout=60_000)
    expect(progress.locator("td[data-count='ok']")).to_have_text("1")
    expect(page.locator("td.result-text").first).to_have_text("Invited")
    screenshot("invited")
    assert {(mail["account_id"], mail["region"]) for mail in simulator.outbox} == {
        (ACCOUNT, "us-east-1"), (ACCOUNT, "eu-west-1")}
    assert page.console_errors == []
