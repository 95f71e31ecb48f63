"""The first hour, in a real browser: an account's page keeps its text inside its cards; an admin adds a
member by hand and gets it Monitored; an analyst lands on the default view, bulk-comments and pages back.

Each walk checks the page does not scroll sideways on a laptop (1280 × 800) and a phone (390 × 844) at its
main steps; screenshots are kept under test-output/screenshots/ (ignored by git), named after the test.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import MemberAccount, Membership
from findings.models import Finding
from tests.accounts.helpers import ADMIN
from tests.triage.support import store_findings

pytestmark = pytest.mark.browser

LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def assert_fits(page, screenshot, name: str) -> None:
    """No sideways scrolling on a laptop or a phone; a screenshot of each."""
    for screen, size in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        scroll_width, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        screenshot(f"{name}-{screen}")
        assert scroll_width <= client_width, f"{name} is {scroll_width}px wide on a {client_width}px {screen}"
    page.set_viewport_size(LAPTOP)

# Overflowing elements inside each card: [card heading, element, its right edge, the card's right edge].
OVERFLOWING = """cards => cards.flatMap(card => {
  const edge = card.getBoundingClientRect().right;
  return [...card.querySelectorAll('*')]
    .filter(el => el.getBoundingClientRect().right > edge + 1)
    .map(el => [card.querySelector('h2')?.textContent || card.className, el.tagName, el.getBoundingClientRect().right, edge]);
})"""


def test_an_accounts_long_texts_stay_inside_their_cards(page, sign_in, screenshot, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    long_word = "payments-settlement-reconciliation-" * 3 + "prod"
    account = MemberAccount.objects.create(
        account_id="444455556666", email="root-payments-settlement-reconciliation@example-corp.com",
        display_name=long_word, notes="see-" + "x" * 160, tags=[long_word],
    )  # fmt: skip
    Membership.objects.create(account=account, region="us-east-1", relationship_status="Invited",
                              last_error="InviteMembers:" + "TheEmailAddressDoesNotMatch" * 6)  # fmt: skip
    sign_in("admin")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/accounts/{account.account_id}/")

    cards = page.locator(".card")
    assert cards.count() >= 3
    overflowing = cards.evaluate_all(OVERFLOWING)
    screenshot("account-detail-long-texts")
    assert overflowing == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.worker
def test_admin_adds_a_member_by_hand_and_gets_it_monitored_by_accepting_on_its_behalf(
    page, sign_in, simulator, celery_worker_process, screenshot, settings
):
    regions = ["us-east-1", "eu-west-1"]
    settings.GUARDWATCH_AWS_REGIONS = regions
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"  # as in the demo (the worker has it too)
    for region in regions:
        simulator.ensure_detector(ADMIN, region)
    simulator.register_account("123456789012", "root+payments@example.com")
    page.on("dialog", lambda dialog: dialog.accept())  # "Run this action … in every region?"
    sign_in("admin")
    page.set_viewport_size(LAPTOP)

    page.goto("/accounts/")
    page.get_by_role("link", name="Add account").click()
    page.get_by_label("Account ID").fill("1234-5678-9012")
    page.get_by_label("Root email").fill("root+payments@example.com")
    page.get_by_label("Display name").fill("Payments")
    page.get_by_role("button", name="Add account").click()

    expect(page.get_by_role("heading", name="Invite member accounts")).to_be_visible()
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_test_id("operation-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.get_by_test_id("operation-count")).to_have_text("2 of 2")
    screenshot("invited")

    page.goto("/accounts/123456789012/")
    expect(page.locator("tr[data-region='us-east-1']")).to_contain_text("Invited")
    assert_fits(page, screenshot, "account-invited")
    page.locator("select[name=action]").select_option(label="Accept on member's behalf")
    page.get_by_role("button", name="Run in all regions").click()
    expect(page.get_by_test_id("operation-status")).to_have_text("Succeeded", timeout=30_000)

    page.goto("/accounts/")
    row = page.locator("tr[data-account='123456789012']")
    for region in regions:
        expect(row.locator(f"td[data-region='{region}']")).to_have_text("Monitored")
        assert simulator.member_status(ADMIN, "123456789012", region) == "Enabled"
    assert_fits(page, screenshot, "accounts-monitored")
    assert page.console_errors == []


def test_analyst_lands_on_the_default_view_bulk_comments_and_pages_back(page, sign_in, screenshot):
    stored = store_findings(120, seed=5)
    resolved = [f.pk for f in stored if f.severity >= 7][:3]
    Finding.objects.filter(pk__in=resolved).update(status="resolved")
    shown = Finding.objects.filter(severity__gte=7, status="new").count()
    assert shown > 25  # two pages of 25 at least
    sign_in("analyst")
    page.set_viewport_size(LAPTOP)
    page.goto("/findings/")

    # The default view, not every finding: open high and critical, its filters shown as chips.
    expect(page.get_by_test_id("current-view")).to_have_text("Open high and critical")
    chips = page.get_by_role("list", name="Active filters").get_by_role("link")
    expect(chips).to_have_text(["severity critical or high ×", "status open ×"])
    expect(page.get_by_test_id("match-count")).to_have_text(f"{shown} matching")
    rows = page.locator("#results tr[data-finding]")
    assert not {str(pk) for pk in resolved} & set(rows.evaluate_all("rows => rows.map(r => r.dataset.finding)"))
    first_row = rows.first.bounding_box()
    assert first_row["y"] + first_row["height"] <= LAPTOP["height"]  # the first finding above the fold
    assert_fits(page, screenshot, "default-view")

    # The bar shows the chosen action's fields only.
    bar = page.locator("form#bulk")
    action = bar.locator("select[name=action]")
    expect(bar.locator("input[name=assignee]")).to_be_hidden()
    action.select_option(label="Change status")
    expect(bar.locator("select[name=status]")).to_be_visible()
    expect(bar.locator("input[name=reason]")).to_be_visible()
    expect(bar.locator("input[name=assignee]")).to_be_hidden()
    action.select_option(label="Comment")
    expect(bar.locator("select[name=status]")).to_be_hidden()
    expect(bar.locator("input[name=reason]")).to_be_hidden()

    # A comment given with another action (here a status change) lands on every timeline too.
    chosen = rows.evaluate_all("rows => rows.map(r => r.dataset.finding)")[:3]
    for pk in chosen:
        page.get_by_label(f"Select finding {pk}", exact=True).check()
    action.select_option(label="Change status")
    bar.locator("select[name=status]").select_option(label="In progress")
    bar.locator("input[name=comment]").fill("Checked in the morning sweep <ok>")
    bar.get_by_role("button", name="Review…").click()
    expect(page.get_by_text("Comment: Checked in the morning sweep <ok>")).to_be_visible()
    screenshot("bulk-comment-confirm")
    page.get_by_role("button", name="Apply to 3 findings").click()
    expect(page.get_by_role("status").first).to_contain_text("applied to 3 findings")
    # Back on the same view (in progress is still open), its chips kept.
    expect(chips).to_have_text(["severity critical or high ×", "status open ×"])

    # 25 a page (under More filters), then forward and back.
    page.get_by_text("More filters").click()
    page.get_by_label("Per page").select_option("25")
    page.wait_for_url("**size=25**")
    position = page.get_by_test_id("page-position")
    expect(position).to_have_text(f"1–25 of {shown}")
    first_page = rows.evaluate_all("rows => rows.map(r => r.dataset.finding)")
    page.get_by_role("link", name="Next page »").click()
    expect(position).to_have_text(f"26–{min(shown, 50)} of {shown}")
    assert "after=" in page.url and "start=26" in page.url and "status=open" in page.url
    second_page = rows.evaluate_all("rows => rows.map(r => r.dataset.finding)")
    assert not set(second_page) & set(first_page)
    assert_fits(page, screenshot, "second-page")
    page.get_by_role("link", name="‹ Previous page").click()
    expect(position).to_have_text(f"1–25 of {shown}")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.finding)") == first_page
    expect(page.get_by_role("link", name="‹ Previous page")).to_have_count(0)
    screenshot("paged-back-to-the-first-page")

    for pk in chosen:
        page.goto(f"/findings/{pk}/")
        expect(page.get_by_test_id("timeline")).to_contain_text("commented: Checked in the morning sweep <ok>")
        expect(page.get_by_test_id("status")).to_have_text("In progress")
    assert_fits(page, screenshot, "comment-on-the-timeline")

    # "All findings" still reaches everything, resolved ones included.
    page.goto("/findings/")
    page.get_by_role("link", name="All findings").click()
    expect(page.get_by_test_id("match-count")).to_have_text(f"{len(stored)} matching")
    assert page.console_errors == []
