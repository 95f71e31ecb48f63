"""Pages on a laptop screen: every column of the findings list and the report visible without scrolling sideways."""

from __future__ import annotations

import pytest

from findings.models import Finding
from tests.triage.support import store_findings

pytestmark = pytest.mark.browser


def test_the_results_table_fits_a_laptop_screen_with_long_types_and_resource_ids(page, sign_in, screenshot):
    store_findings(30, seed=7)
    long_id = "arn:aws:s3:::" + "customer-uploads-archive-" * 4 + "111111111111"
    Finding.objects.filter(pk=Finding.objects.order_by("-severity", "-id").values("pk")[:1]).update(resource_id=long_id)
    sign_in("analyst")
    page.goto("/findings/")  # the page fixture's viewport is 1280 × 900

    wrap = page.locator(".table-wrap").first
    client_width, scroll_width = wrap.evaluate("w => [w.clientWidth, w.scrollWidth]")
    screenshot("findings-list-laptop")
    assert scroll_width <= client_width, f"the table needs {scroll_width}px of {client_width}px"
    sla = page.locator("#results thead th", has_text="SLA")
    assert sla.is_visible() and sla.bounding_box()["x"] + sla.bounding_box()["width"] <= 1280


def test_the_report_tables_fit_a_laptop_screen(page, sign_in, screenshot):
    store_findings(30, seed=7)
    sign_in("manager")
    page.goto("/findings/report/?period=30")

    widths = page.locator(".table-wrap").evaluate_all("ws => ws.map(w => [w.clientWidth, w.scrollWidth])")
    screenshot("findings-report-laptop")
    assert widths and all(scroll <= client for client, scroll in widths), widths
