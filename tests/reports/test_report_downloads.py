"""A manager downloads the findings report as a PDF (charts included) and as one workbook of every table."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from reports import pdf as report_pdf
from tests.reports.support import finding, moved

pytestmark = pytest.mark.django_db
HOSTILE = '=HYPERLINK("http://attacker.example/x","click")'


@pytest.fixture
def month():
    """Twelve findings over the last days; a hostile finding type and account name among them."""
    now = timezone.now()
    for day in range(12):
        created = now - timedelta(days=day, hours=1)
        f = finding(created=created, band=("low", "medium", "high", "critical")[day % 4],
                    account_id=("200000000001", "200000000002")[day % 2],
                    type=HOSTILE if day == 0 else "Recon:EC2/PortProbeUnprotectedPort")  # fmt: skip
        if day % 3 == 0:
            moved(f, to="resolved", at=created + timedelta(hours=3))


def _pdf_text(response) -> tuple[PdfReader, str]:
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, " ".join(text.split())


def _fill_colours(reader: PdfReader) -> set[tuple[int, ...]]:
    """Every RGB fill colour the pages set (`r g b rg` operators), as 0-255 integers."""
    content = b"\n".join(page.get_contents().get_data() for page in reader.pages).decode("latin-1")
    return {
        tuple(round(float(part) * 255) for part in match.split())
        for match in re.findall(r"^([\d.]+ [\d.]+ [\d.]+) rg$", content, re.M)
    }


def test_manager_downloads_the_report_as_a_pdf_with_the_pages_figures_and_charts(client_for, month):
    client = client_for("manager")
    html = client.get("/findings/report/?period=30").content.decode()
    new_total = re.search(r'data-testid="new-total">([\d,]+)<', html).group(1)
    resolved = re.search(r'data-testid="resolved-total">([\d,]+)<', html).group(1)

    response = client.get("/findings/report/?period=30&export=pdf")
    reader, text = _pdf_text(response)
    assert response["Content-Disposition"].startswith('attachment; filename="findings-report-')
    assert len(reader.pages) >= 2
    period = re.search(r'data-testid="report-period">([^<]+)<', html).group(1)
    assert "Findings report" in text and period in text
    assert re.search(rf"New findings\s+{new_total}\b", text) and new_total == "12"
    assert re.search(rf"Resolved\s+{resolved}\b", text)
    # The two SVG charts are drawn (their axis labels are text in the PDF) and coloured from their own style.
    assert "New findings per day by severity" in text
    assert (217, 45, 32) in _fill_colours(reader)  # .fill-high (#d92d20): the bars are drawn in their colour
    assert "Download PDF" not in text and "Sign out" not in text  # no buttons, no navigation


def test_the_pdf_renderer_fetches_only_our_static_files(rf):
    fetch = report_pdf.static_only_fetcher("http://testserver/")
    assert fetch.fetch("http://testserver/static/css/guardwatch.css").read().startswith(b"/*")
    for url in ("http://attacker.example/x.css", "http://testserver/accounts/", "file:///etc/passwd",
                "http://testserver/static/../guardwatch/settings.py", "http://testserver/static/%2e%2e/manage.py"):
        with pytest.raises(report_pdf.RefusedFetch):
            fetch.fetch(url)


def test_hostile_strings_in_the_report_make_the_pdf_fetch_nothing(client_for, month, monkeypatch):
    from tests.reports.support import member

    member("200000000001", '<img src="http://attacker.example/a.png"><link rel=stylesheet href=//attacker.example/b.css>')
    asked: list[str] = []
    real = report_pdf.static_only_fetcher

    def recording(base_url):
        fetcher = real(base_url)
        fetch = fetcher.fetch

        def wrapped(url, *args, **kwargs):
            asked.append(url)
            return fetch(url, *args, **kwargs)

        fetcher.fetch = wrapped
        return fetcher

    monkeypatch.setattr(report_pdf, "static_only_fetcher", recording)
    _reader, text = _pdf_text(client_for("manager").get("/findings/report/?period=30&export=pdf"))
    assert "attacker.example/a.png" in text  # shown as text, escaped
    assert asked and all(url.startswith("http://testserver/static/") for url in asked), asked


def test_manager_exports_every_table_of_the_report_as_one_workbook(client_for, month):
    response = client_for("manager").get("/findings/report/?period=30&export=xlsx")
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["summary", "daily", "types", "accounts", "resources", "timing", "comparison"]
    daily = list(book["daily"].values)
    assert daily[0][0] == "day" and len(daily) == 31  # the header and 30 days
    assert sum(row[5] for row in daily[1:]) == 12  # "new", typed as numbers
    types = [row[0] for row in book["types"].values]
    assert "'" + HOSTILE in types  # text, not a formula
    assert all(cell.data_type != "f" for sheet in book for row in sheet.iter_rows() for cell in row)


def test_manager_downloads_the_coverage_page_as_a_pdf_with_its_figures_and_filtered_heatmap(client_for):
    from tests.reports.support import detectors, member

    member("200000000001", "prod", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000002", "shared", us_east_1="Enabled", eu_west_1="Resigned")
    member("200000000003", "sandbox", us_east_1="Invited")
    detectors("us-east-1", "eu-west-1")
    client = client_for("manager")
    html = client.get("/accounts/coverage/?status=Resigned").content.decode()
    overall = re.search(r'data-testid="coverage-overall">.*?<p class="big">([\d.]+%)</p>', html, re.S).group(1)
    pairs = re.search(r'data-testid="gap-pairs">(\d+)<', html).group(1)

    response = client.get("/accounts/coverage/?status=Resigned&export=pdf")
    reader, text = _pdf_text(response)
    assert response["Content-Disposition"].startswith('attachment; filename="coverage-')
    assert f"Monitored {overall}" in text and overall == "62.5%"
    assert f"Gaps {pairs} account × region pairs not monitored" in text
    assert "200000000002 shared ✓ Monitored ✗ Resigned" in text  # the heatmap, filtered as on the page
    assert "200000000001 prod ✓" not in text
    assert (6, 118, 71) in _fill_colours(reader)  # the share bars (#067647), styled inside their SVG


def test_a_second_pdf_at_once_is_refused_with_the_reason(client_for, manager, month):
    from guardwatch.core.slots import slot_acquire

    running = slot_acquire("report-pdf", str(manager.pk), total=3)
    try:
        response = client_for("manager").get("/findings/report/?period=30&export=pdf")
    finally:
        running.release()
    assert response.status_code == 429 and "already have an export running" in response.content.decode()
    assert client_for("manager").get("/findings/report/?period=30&export=pdf")["Content-Type"] == "application/pdf"


def test_a_pdf_of_a_period_without_figures_waits_for_the_worker_like_the_page(client_for, month, settings, report_worker):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    client = client_for("manager")
    waiting = client.get("/findings/report/?period=30&export=pdf")
    assert waiting["Content-Type"].startswith("text/html")
    assert 'data-testid="report-export-waiting"' in waiting.content.decode()
    report_worker.run()
    assert client.get("/findings/report/?period=30&export=pdf")["Content-Type"] == "application/pdf"
