"""A manager downloads the findings report as a PDF (charts included) and as one workbook of every table."""

from __future__ import annotations

import dataclasses
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


def _pdf_download(client, url: str, pdf_worker):
    """What a person does: Download PDF, the waiting page (a worker lays it out), then the file."""
    asked = client.get(url)
    assert asked.status_code == 302 and "pdf=" in asked["Location"] and "export=" not in asked["Location"]
    waiting = client.get(asked["Location"]).content.decode()
    assert 'data-testid="pdf-pending"' in waiting and 'hx-trigger="every 1s"' in waiting
    pdf_worker.run()
    ready = client.get(asked["Location"]).content.decode()
    assert 'data-testid="pdf-ready"' in ready
    return client.get(asked["Location"] + "&download=1")


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


def test_manager_downloads_the_report_as_a_pdf_with_the_pages_figures_and_charts(client_for, month, pdf_worker):
    client = client_for("manager")
    html = client.get("/findings/report/?period=30").content.decode()
    new_total = re.search(r'data-testid="new-total">([\d,]+)<', html).group(1)
    resolved = re.search(r'data-testid="resolved-total">([\d,]+)<', html).group(1)

    response = _pdf_download(client, "/findings/report/?period=30&export=pdf", pdf_worker)
    reader, text = _pdf_text(response)
    assert response["Content-Disposition"].startswith('attachment; filename="findings-report-')
    assert len(reader.pages) >= 2
    period = re.search(r'data-testid="report-period">([^<]+)<', html).group(1)
    assert "Findings report" in text and period in text
    assert re.search(rf"New findings\s+{new_total}\b", text) and new_total == "12"
    assert re.search(rf"Resolved\s+{resolved}\b", text)
    # The two SVG charts are drawn (their axis labels are text in the PDF) and coloured from their own style.
    assert "New findings per day by severity" in text
    assert "New findings by MITRE ATT&CK tactic" in text and "Reconnaissance" in text
    assert (217, 45, 32) in _fill_colours(reader)  # .fill-high (#d92d20): the bars are drawn in their colour
    assert "Download PDF" not in text and "Sign out" not in text  # no buttons, no navigation


def test_the_pdf_renderer_fetches_only_our_static_files(rf):
    fetch = report_pdf.static_only_fetcher("http://testserver/")
    assert fetch.fetch("http://testserver/static/css/guardwatch.css").read().startswith(b"/*")
    for url in ("http://attacker.example/x.css", "http://testserver/accounts/", "file:///etc/passwd",
                "http://testserver/static/../guardwatch/settings.py", "http://testserver/static/%2e%2e/manage.py"):
        with pytest.raises(report_pdf.RefusedFetch):
            fetch.fetch(url)


def test_hostile_strings_in_the_report_make_the_pdf_fetch_nothing(client_for, month, monkeypatch, pdf_worker):
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
    _reader, text = _pdf_text(_pdf_download(client_for("manager"), "/findings/report/?period=30&export=pdf", pdf_worker))
    assert "attacker.example/a.png" in text  # shown as text, escaped
    assert asked and all(url.startswith("http://testserver/static/") for url in asked), asked


def test_manager_exports_every_table_of_the_report_as_one_workbook(client_for, month):
    response = client_for("manager").get("/findings/report/?period=30&export=xlsx")
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["summary", "daily", "types", "accounts", "resources", "attack", "timing", "comparison"]
    daily = list(book["daily"].values)
    assert daily[0][0] == "day" and len(daily) == 31  # the header and 30 days
    assert sum(row[5] for row in daily[1:]) == 12  # "new", typed as numbers
    types = [row[0] for row in book["types"].values]
    assert "'" + HOSTILE in types  # text, not a formula
    assert all(cell.data_type != "f" for sheet in book for row in sheet.iter_rows() for cell in row)


def test_manager_downloads_the_coverage_page_as_a_pdf_with_its_figures_and_filtered_heatmap(client_for, pdf_worker):
    from tests.reports.support import detectors, member

    member("200000000001", "prod", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000002", "shared", us_east_1="Enabled", eu_west_1="Resigned")
    member("200000000003", "sandbox", us_east_1="Invited")
    detectors("us-east-1", "eu-west-1")
    client = client_for("manager")
    html = client.get("/accounts/coverage/?status=Resigned").content.decode()
    overall = re.search(r'data-testid="coverage-overall">.*?<p class="big">([\d.]+%)</p>', html, re.S).group(1)
    pairs = re.search(r'data-testid="gap-pairs">(\d+)<', html).group(1)

    response = _pdf_download(client, "/accounts/coverage/?status=Resigned&export=pdf", pdf_worker)
    reader, text = _pdf_text(response)
    assert response["Content-Disposition"].startswith('attachment; filename="coverage-')
    assert f"Monitored {overall}" in text and overall == "62.5%"
    assert f"Gaps {pairs} account × region pairs not monitored" in text
    assert "200000000002 shared ✓ Monitored ✗ Resigned" in text  # the heatmap, filtered as on the page
    assert "200000000001 prod ✓" not in text
    assert (6, 118, 71) in _fill_colours(reader)  # the share bars (#067647), styled inside their SVG


def test_a_person_has_one_pdf_queued_at_a_time_and_only_they_can_download_it(client_for, month, pdf_worker):
    manager = client_for("manager")
    first = manager.get("/findings/report/?period=30&export=pdf")["Location"]
    token = re.search(r"pdf=([\w-]+)", first).group(1)
    again = manager.get("/findings/report/?period=7&export=pdf")["Location"]
    assert re.search(r"pdf=([\w-]+)", again).group(1) == token  # still queued: the same one
    assert len(pdf_worker) == 1
    pdf_worker.run()
    other = client_for("admin").get(first + "&download=1")
    assert other.status_code == 404 and 'data-testid="pdf-gone"' in other.content.decode()
    assert manager.get(first + "&download=1")["Content-Type"] == "application/pdf"
    assert token not in manager.get("/findings/report/?period=7&export=pdf")["Location"]  # done: a new one


def test_a_pdf_the_worker_could_not_make_says_why(client_for, month, pdf_worker, monkeypatch):
    def broken(html, base_url):
        raise OSError("no fonts")

    monkeypatch.setattr(report_pdf, "_layout", broken)
    client = client_for("manager")
    waiting = client.get("/accounts/coverage/?export=pdf")["Location"]
    with pytest.raises(OSError):
        pdf_worker.run()
    page = client.get(waiting).content.decode()
    assert 'data-testid="pdf-failed"' in page and "OSError: no fonts" in page and "every 1s" not in page


def test_a_pdf_of_a_period_without_figures_waits_for_the_worker_like_the_page(
    client_for, month, settings, report_worker, pdf_worker
):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    client = client_for("manager")
    waiting = client.get("/findings/report/?period=30&export=pdf")
    assert waiting["Content-Type"].startswith("text/html")
    assert 'data-testid="report-export-waiting"' in waiting.content.decode()
    report_worker.run()
    _pdf_text(_pdf_download(client, "/findings/report/?period=30&export=pdf", pdf_worker))


def test_a_pdf_no_worker_started_says_so_stops_polling_and_can_be_asked_again(client_for, month, pdf_worker):
    from datetime import timedelta

    from django.core.cache import cache

    client = client_for("manager")
    waiting = client.get("/accounts/coverage/?export=pdf")["Location"]
    token = re.search(r"pdf=([\w-]+)", waiting).group(1)
    key = report_pdf._job_key(token)
    job = cache.get(key)
    cache.set(key, dataclasses.replace(job, queued_at=job.queued_at - timedelta(seconds=report_pdf.WORKER_WAIT_SECONDS)))
    page = client.get(waiting).content.decode()
    assert 'data-testid="pdf-stalled"' in page and "every 1s" not in page
    assert token not in client.get("/accounts/coverage/?export=pdf")["Location"]  # a new job, not the stuck one
