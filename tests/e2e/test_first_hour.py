"""The first hour, in a real browser: an account's page keeps its text inside its cards; an analyst pages
forward and back through the findings and bulk-comments them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import MemberAccount, Membership

pytestmark = pytest.mark.browser

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


def test_analyst_pages_forward_and_back_then_bulk_comments_and_each_timeline_has_it(page, sign_in, screenshot):
    from tests.triage.support import store_findings

    store_findings(60, seed=5)
    sign_in("analyst")
    page.goto("/findings/?size=25&sort=-last_seen")
    position = page.get_by_test_id("page-position")
    rows = page.locator("#results tr[data-finding]")
    expect(position).to_have_text("1–25 of 60")
    first_page = rows.evaluate_all("rows => rows.map(r => r.dataset.finding)")

    page.get_by_role("link", name="Next page »").click()
    expect(position).to_have_text("26–50 of 60")
    assert "after=" in page.url and "start=26" in page.url
    second_page = rows.evaluate_all("rows => rows.map(r => r.dataset.finding)")
    assert not set(second_page) & set(first_page)
    page.get_by_role("link", name="Next page »").click()
    expect(position).to_have_text("51–60 of 60")
    page.get_by_role("link", name="‹ Previous page").click()
    expect(position).to_have_text("26–50 of 60")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.finding)") == second_page
    page.get_by_role("link", name="‹ Previous page").click()
    expect(position).to_have_text("1–25 of 60")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.finding)") == first_page
    expect(page.get_by_role("link", name="‹ Previous page")).to_have_count(0)
    screenshot("paged-back-to-the-first-page")

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
    chosen = first_page[:3]
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

    for pk in chosen:
        page.goto(f"/findings/{pk}/")
        expect(page.get_by_test_id("timeline")).to_contain_text("commented: Checked in the morning sweep <ok>")
        expect(page.get_by_test_id("status")).to_have_text("In progress")
    screenshot("comment-on-the-timeline")
    assert page.console_errors == []
