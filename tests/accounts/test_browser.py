"""In a real browser, with a real Celery worker and the GuardDuty simulator: the admin's invite story."""

import re

import pytest
from playwright.sync_api import expect

from accounts import member_sync, operations
from accounts.models import MemberAccount

from .helpers import ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ALL_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]  # the test mode's default regions
GOOD = {"123456789012": "root+payments@example.com", "210987654321": "root+data@example.com"}


@pytest.fixture
def estate(simulator, settings):
    """The administrator has GuardDuty in every region; two accounts exist with these root emails."""
    settings.GUARDWATCH_AWS_REGIONS = ALL_REGIONS
    for region in ALL_REGIONS:
        simulator.ensure_detector(ADMIN, region)
    for account_id, email in GOOD.items():
        simulator.register_account(account_id, email)
    return simulator


def test_admin_uploads_csv_invites_into_two_regions_and_sees_members_monitored(
    page, sign_in, estate, celery_worker_process, screenshot, tmp_path
):
    sign_in("admin")
    csv_file = tmp_path / "members.csv"
    csv_file.write_bytes(
        "\ufeffAccount ID,Email\r\n"
        "123456789012, root+payments@example.com\r\n"
        "12345,short@example.com\r\n"
        "\r\n"
        "210987654321,root+data@example.com\r\n"
        "333333333333,not-an-email\r\n"
        "123456789012,root+payments@example.com\r\n".encode()
    )

    page.goto("/accounts/")
    page.get_by_role("link", name="Upload CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("status")).to_contain_text("2 valid lines, 3 invalid lines")
    expect(page.locator("tr[data-line='3']")).to_contain_text("exactly 12 digits")
    expect(page.locator("tr[data-line='6']")).to_contain_text("not a valid email")
    expect(page.locator("tr[data-line='7']")).to_contain_text("Duplicate in the file")
    screenshot("preview")
    assert MemberAccount.objects.count() == 0  # nothing until confirmed

    page.get_by_role("button", name="Add 2 valid accounts").click()
    expect(page.get_by_role("heading", name="Invite member accounts")).to_be_visible()
    page.get_by_label("us-west-2").uncheck()
    page.get_by_label("ap-southeast-2").uncheck()
    page.get_by_label("Message in the invitation email").fill("Please join the security team's GuardDuty.")
    screenshot("invite")
    page.get_by_role("button", name="Invite").click()

    expect(page.get_by_test_id("operation-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.get_by_test_id("operation-count")).to_have_text("4 of 4")
    expect(page.locator("td.result-text").first).to_have_text("Invited")
    screenshot("progress")
    assert {mail["message"] for mail in estate.outbox} == {"Please join the security team's GuardDuty."}
    assert {(mail["account_id"], mail["region"]) for mail in estate.outbox} == {
        (a, r) for a in GOOD for r in ("us-east-1", "eu-west-1")
    }

    for account_id in GOOD:  # the members accept in the GuardDuty console
        for region in ("us-east-1", "eu-west-1"):
            estate.accept_invitation(account_id, region, ADMIN)

    page.goto("/accounts/")
    row = page.locator("tr[data-account='123456789012']")
    expect(row.locator("td[data-region='us-east-1']")).to_have_text("Invited")
    page.get_by_role("button", name="Refresh now").click()

    for account_id in GOOD:
        row = page.locator(f"tr[data-account='{account_id}']")
        expect(row.locator("td[data-region='us-east-1']")).to_have_text("Monitored", timeout=30_000)
        expect(row.locator("td[data-region='eu-west-1']")).to_have_text("Monitored")
        expect(row.locator("td[data-region='us-west-2']")).to_have_text("—")
    expect(page.locator("[data-status-count='Enabled']")).to_have_text(re.compile(r"Monitored: 4"))
    screenshot("monitored")
    assert page.console_errors == []


def test_admin_sees_an_alert_when_a_member_resigns(page, sign_in, estate, celery_worker_process, screenshot):
    account = MemberAccount.objects.create(account_id="123456789012", email=GOOD["123456789012"], display_name="Payments")
    operation = operations.member_operation_start(action="invite", accounts=[account], regions=["eu-west-1"], actor=None)
    operations.member_operation_run(operation_id=operation.pk)
    estate.accept_invitation(account.account_id, "eu-west-1", ADMIN)
    member_sync.members_sync_region(region="eu-west-1")
    sign_in("admin")

    estate.resign(account.account_id, "eu-west-1")  # the member leaves in its own console
    page.goto("/accounts/")
    expect(page.locator("tr[data-account='123456789012'] td[data-region='eu-west-1']")).to_have_text("Monitored")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("tr[data-account='123456789012'] td[data-region='eu-west-1']")).to_have_text(
        "Resigned", timeout=30_000
    )
    screenshot("resigned")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    alert = page.locator("tr[data-alert-kind='member.Resigned']")
    expect(alert).to_contain_text("Member 123456789012 (Payments) left the administrator (resigned) in eu-west-1")
    screenshot("alert")
    alert.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_contain_text("Acknowledged")
    expect(page.locator("tr[data-alert-kind='member.Resigned']")).to_have_count(0)
    assert page.console_errors == []
