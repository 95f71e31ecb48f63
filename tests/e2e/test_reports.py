"""Done when: a manager opens the dashboard, the coverage page (a resigned account listed as a gap) and the
30-day findings report, downloads a CSV, and a screenshot of each page is saved in the test output."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.reports.support import REGIONS, detectors, finding, member, membership, moved, protection, synced

pytestmark = pytest.mark.browser


@pytest.fixture
def estate(settings, transactional_db):
    """Three member accounts in two regions (one resigned), a month of findings, synced a few minutes ago."""
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    prod = member("200000000001", "prod", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000002", "payments", us_east_1="Enabled", eu_west_1="Resigned")
    member("200000000003", "sandbox", us_east_1="Invited")
    detectors(*REGIONS)
    protection(membership(prod, "us-east-1"), runtime_monitoring=False)
    now = timezone.now()
    for region in REGIONS:
        synced(region, at=now - timedelta(minutes=6))
    for day in range(28):
        created = now - timedelta(days=day, hours=2)
        band = ("low", "medium", "high", "critical")[day % 4]
        f = finding(created=created, band=band, account_id=("200000000001", "200000000002")[day % 2])
        if day % 3 == 0:
            moved(f, to="acknowledged", at=created + timedelta(hours=1))
            moved(f, to="resolved", at=created + timedelta(hours=5))


def test_manager_reads_dashboard_coverage_and_report_and_downloads_a_csv(estate, page, sign_in, screenshot):
    sign_in("manager")

    # The dashboard: coverage, open findings by severity, overdue, alerts, last sync, each a link.
    page.goto("/")
    # 3 members + the administrator (detectors in both regions) over two regions: 5 of 8 pairs (issue 15.3).
    assert page.get_by_test_id("coverage-percent").inner_text() == "62.5%"
    assert page.get_by_test_id("open-total").inner_text() == "18"
    assert (
        page.locator('[data-card="last-sync"] [data-region="us-east-1"]')
        .inner_text()
        .endswith("6\xa0minutes ago")
    )
    screenshot("dashboard")

    # Coverage: the resigned account is a gap, with its region.
    page.locator('[data-card="coverage"]').click()
    page.wait_for_url("**/accounts/coverage/")
    resigned = page.locator("#gap-resigned")
    assert "200000000002" in resigned.inner_text() and "eu-west-1" in resigned.inner_text()
    assert (
        page.locator('tr[data-account="200000000002"] td[data-region="eu-west-1"]').inner_text() == "✗ Resigned"
    )
    screenshot("coverage")

    # The gap list downloads as CSV.
    with page.expect_download() as download_info:
        resigned.get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(open(download_info.value.path(), encoding="utf-8").read())))  # noqa: SIM115
    assert rows[1][:4] == ["200000000002", "payments", "eu-west-1", "Resigned"]

    # The 30-day findings report: charts with their tables, response times, SLA.
    page.goto("/")
    page.get_by_role("link", name="30-day findings report").click()
    page.wait_for_url("**/findings/report/?period=30")
    assert page.get_by_test_id("new-total").inner_text() == "28"
    assert page.locator("svg.chart-svg").count() == 3
    assert page.locator("tr[data-day]").count() == 30
    assert page.get_by_role("img", name="New findings per day by severity: 28 in all").count() == 1
    screenshot("findings-report")

    with page.expect_download() as download_info:
        page.locator("section", has=page.locator("#new-title")).get_by_role("link", name="CSV").click()
    assert download_info.value.suggested_filename.startswith("findings-daily-")
    assert page.console_errors == []  # no CSP violation, no script error


def test_a_period_nobody_asked_for_appears_once_a_worker_computed_it(
    estate, page, sign_in, screenshot, settings, celery_worker_process
):
    """The web never computes a cold report on the request: a real worker does, the page polls for it."""
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60  # snapshots on, as in production
    sign_in("manager")
    today = timezone.now().astimezone(UTC).date()
    # A period no earlier run left a snapshot or a pending computation of (the cache is shared Redis).
    start = today - timedelta(days=random.SystemRandom().randint(100, 365))
    page.goto(f"/findings/report/?period=custom&start={start}&end={today}")
    assert page.get_by_test_id("report-pending").is_visible()  # what the request itself rendered
    screenshot("findings-report-pending")
    expect(page.get_by_test_id("new-total")).to_have_text("28", timeout=30_000)  # swapped in by the poll
    assert page.get_by_test_id("report-pending").count() == 0
    assert page.locator("#report-body[hx-trigger]").count() == 0  # polling stopped
    assert page.locator("svg.chart-svg").count() == 3
    screenshot("findings-report-computed-by-a-worker")
    assert page.console_errors == []


def _figures(page) -> dict[str, str]:
    return {
        "new": page.get_by_test_id("new-total").inner_text(),
        "resolved": page.get_by_test_id("resolved-total").inner_text(),
        "sla": page.get_by_test_id("sla-overall").inner_text(),
        "period": page.get_by_test_id("report-period").inner_text(),
    }


def _pdf_text(download) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(download.path())
    return len(reader.pages), " ".join("\n".join(p.extract_text() for p in reader.pages).split())


def _download_pdf(page, screenshot, name: str):
    """Download PDF: the waiting page, a real worker lays the PDF out, its link appears; then the file."""
    page.get_by_test_id("download-pdf").click()
    page.wait_for_url("**pdf=*")
    expect(page.get_by_test_id("pdf-download")).to_be_visible(timeout=120_000)  # swapped in by the poll
    screenshot(f"{name}-pdf-ready")
    with page.expect_download() as download_info:
        page.get_by_test_id("pdf-download").click()
    return download_info.value


def test_manager_downloads_the_report_and_coverage_as_pdfs_with_the_pages_figures(
    estate, page, sign_in, screenshot, celery_worker_process
):
    """Done when (issue 16): a manager downloads the PDF; its figures are the page's."""
    sign_in("manager")
    page.goto("/findings/report/?period=30")
    figures = _figures(page)
    download = _download_pdf(page, screenshot, "findings-report")
    assert download.suggested_filename.startswith("findings-report-") and download.suggested_filename.endswith(".pdf")
    pages, text = _pdf_text(download)
    assert pages >= 2
    assert figures["period"] in text
    assert f"New findings {figures['new']}" in text and figures["new"] == "28"
    assert f"Resolved {figures['resolved']}" in text
    assert f"SLA compliance {figures['sla']}" in text
    assert "New findings per day by severity" in text  # the charts are in it, their axis labels as text

    page.goto("/accounts/coverage/")
    overall = page.get_by_test_id("coverage-overall").locator(".big").inner_text()
    pages, text = _pdf_text(_download_pdf(page, screenshot, "coverage"))
    assert f"Monitored {overall}" in text and overall == "62.5%"
    assert "200000000002 payments ✓ Monitored ✗ Resigned" in text
    assert page.console_errors == []


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["laptop-1280x800", "phone-390x844"])  # fmt: skip
def test_report_and_coverage_pages_never_scroll_sideways(estate, page, sign_in, screenshot, viewport):
    """Issue 16 (13 for the reports pages): no horizontal scroll; wide tables scroll inside their card."""
    member("200000000004", "a-very-long-account-name-" * 3, us_east_1="Resigned")
    sign_in("manager")
    page.set_viewport_size(viewport)
    for path, name in (("/", "dashboard"), ("/findings/report/?period=30", "findings-report"),
                       ("/accounts/coverage/", "coverage")):  # fmt: skip
        page.goto(path)
        page.wait_for_load_state("load")
        shot = screenshot(f"{name}-{viewport['width']}x{viewport['height']}")
        assert shot.exists()
        page_width, scroll_width = page.evaluate(
            "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
        )
        assert scroll_width <= page_width, f"{path} is {scroll_width}px wide in a {page_width}px window"
        # What is wider than the card scrolls inside it: no element's box sticks out of the window.
        outside = page.evaluate(
            """(width) => [...document.querySelectorAll('main *')].filter(e => {
                   const r = e.getBoundingClientRect();
                   return r.width && r.right > width + 0.5 && !e.closest('.table-wrap, .sr-title');
               }).map(e => e.tagName + '.' + e.className).slice(0, 5)""",
            page_width,
        )
        assert outside == [], f"{path}: {outside}"
    assert page.console_errors == []
