"""The first hour, in a real browser: an account's page keeps its text inside its cards; an analyst pages
forward and back through the findings and bulk-comments them."""

from __future__ import annotations

import pytest

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
