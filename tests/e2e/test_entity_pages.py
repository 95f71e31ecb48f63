"""An analyst follows an access key from a finding to its entity page, pages through its findings, and gets there
again from the search box (docs/entities.md)."""

from __future__ import annotations

import random
import re

import pytest
from playwright.sync_api import expect

from tests.triage.support import store
from tests.triage.test_entities import ACCOUNTS_REGIONS, KEY, _key_finding

pytestmark = pytest.mark.browser


def test_analyst_follows_an_access_key_to_every_finding_about_it(page, sign_in, monkeypatch):
    from triage import entities

    monkeypatch.setattr(entities.entity_findings, "__kwdefaults__", {"after": "", "size": 4})
    rng = random.Random(8)
    stored = store([_key_finding(rng, account, region, days)
                    for (account, region), days in zip(ACCOUNTS_REGIONS * 2, (120, 90, 60, 30, 10, 0), strict=True)])
    sign_in("analyst")
    page.goto(f"/findings/{stored[0].pk}/")
    page.get_by_test_id("entities").get_by_role("link", name=re.compile(KEY)).click()
    page.wait_for_url(re.compile(r"/findings/entity/access_key/"))
    assert page.get_by_test_id("entity-total").inner_text() == "6"
    assert "111111111111" in page.get_by_test_id("entity-accounts").inner_text()
    assert "222222222222" in page.get_by_test_id("entity-accounts").inner_text()
    assert page.locator("svg.chart-svg rect").count() >= 6
    assert page.locator("tr[data-finding]").count() == 4
    page.get_by_role("link", name="More findings »").click()  # HTMX: the next rows replace the link
    expect(page.locator("tr[data-finding]")).to_have_count(6)
    assert page.get_by_role("link", name="More findings »").count() == 0
    page.goto("/findings/?all=1")
    page.get_by_role("searchbox").fill(f"key:{KEY}")
    page.get_by_role("searchbox").press("Enter")
    page.wait_for_url(re.compile(r"/findings/entity/access_key/"))
    assert page.get_by_test_id("entity-value").inner_text() == KEY
    assert not page.console_errors
