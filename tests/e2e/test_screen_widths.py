"""The analyst's and admin's pages on a laptop (1280 × 800) and a phone (390 × 844): nothing scrolls sideways.

Each page is measured in the browser (`scrollWidth > clientWidth` on the document) and photographed; the
screenshots are kept under test-output/screenshots/ (ignored by git), named after the test, page and screen.
"""

from __future__ import annotations

import pytest

from accounts.models import MemberAccount, Membership
from findings.models import Finding
from tests.triage.support import store_findings

pytestmark = pytest.mark.browser

SCREENS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
OVERFLOW = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
LONG_WORD = "payments-settlement-reconciliation-" * 3 + "prod"


@pytest.fixture
def estate(settings):
    """Findings with long types and ARNs; a member account with long names, in four regions."""
    settings.GUARDWATCH_AWS_REGIONS = REGIONS
    findings = store_findings(40, seed=7)
    top = Finding.objects.order_by("-severity", "-id").first()
    Finding.objects.filter(pk=top.pk).update(
        resource_id="arn:aws:s3:::" + "customer-uploads-archive-" * 4 + "111111111111", title=LONG_WORD * 2
    )
    account = MemberAccount.objects.create(
        account_id="444455556666", email="root-payments-settlement-reconciliation@example-corp.com",
        display_name=LONG_WORD, notes="see-" + "x" * 160, tags=[LONG_WORD],
    )  # fmt: skip
    for region, status in zip(REGIONS, ["Enabled", "Invited", "EmailVerificationInProgress", "Resigned"], strict=True):
        Membership.objects.create(account=account, region=region, relationship_status=status)
    for n in range(5):
        MemberAccount.objects.create(account_id=f"10000000000{n}", email=f"root+team-{n}@example-corp.com", display_name=f"Team {n}")
    return {"finding": top, "account": account, "findings": findings}


PAGES = {
    "findings-list": lambda estate: "/findings/",
    "finding-detail": lambda estate: f"/findings/{estate['finding'].pk}/",
    "accounts-list": lambda estate: "/accounts/",
    "account-detail": lambda estate: f"/accounts/{estate['account'].account_id}/",
}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("name", PAGES)
def test_admin_pages_do_not_scroll_sideways(page, sign_in, screenshot, estate, name, screen):
    sign_in("admin")
    page.set_viewport_size(SCREENS[screen])
    page.goto(PAGES[name](estate))

    scroll_width, client_width = page.evaluate(OVERFLOW)
    screenshot(f"{name}-{screen}")
    assert scroll_width <= client_width, f"{name} is {scroll_width}px wide on a {client_width}px {screen} screen"


def test_every_accounts_column_fits_a_laptop_screen(page, sign_in, screenshot, estate):
    sign_in("admin")
    page.set_viewport_size(SCREENS["laptop"])
    page.goto("/accounts/")

    wrap = page.locator(".table-wrap").first
    client_width, scroll_width = wrap.evaluate("w => [w.clientWidth, w.scrollWidth]")
    screenshot("accounts-laptop")
    assert scroll_width <= client_width, f"the accounts table needs {scroll_width}px of {client_width}px"
    added = page.locator(".accounts-table thead th", has_text="Added")
    assert added.is_visible()
    box = added.bounding_box()
    assert box["x"] + box["width"] <= SCREENS["laptop"]["width"]


def test_the_first_finding_is_above_the_fold_on_a_laptop(page, sign_in, screenshot, estate):
    sign_in("analyst")
    page.set_viewport_size(SCREENS["laptop"])
    page.goto("/findings/")

    first = page.locator("#results tr[data-finding]").first
    screenshot("first-result")
    assert first.bounding_box()["y"] + first.bounding_box()["height"] <= SCREENS["laptop"]["height"]
    # The filter bar is two lines at most (search, severity, status; the rest folded), whatever else the
    # page shows above the results (a message after a bulk action, many saved views).
    assert page.locator("#filters").bounding_box()["height"] <= 130


def test_on_a_phone_the_filters_fold_away_and_the_table_scrolls_inside_its_card(page, sign_in, screenshot, estate):
    sign_in("analyst")
    page.set_viewport_size(SCREENS["phone"])
    page.goto("/findings/")

    assert page.get_by_label("Type starts with").is_hidden()  # behind "More filters"
    page.get_by_text("More filters").click()
    assert page.get_by_label("Type starts with").is_visible()
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => getComputedStyle(w).overflowX") == "auto"
    assert page.evaluate(OVERFLOW)[0] <= SCREENS["phone"]["width"]
    screenshot("filters-open")
