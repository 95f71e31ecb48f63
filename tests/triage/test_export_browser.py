"""An analyst exports the findings list from the browser: Export CSV queues it, the Exports page follows
a real worker's progress, and Download saves the CSV (the browser undoes the gzip it is sent with)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.test import Client

from tests.triage.support import store_findings

pytestmark = pytest.mark.browser


def test_analyst_exports_the_list_waits_for_the_worker_and_downloads_the_csv(
    celery_worker_process, page, sign_in, screenshot
):
    store_findings(45, seed=31)
    analyst = sign_in("analyst")
    page.goto("/findings/?all=1")

    page.get_by_test_id("export-csv").click()
    page.wait_for_url("**/findings/exports/")
    assert "Export queued" in page.locator(".messages").inner_text()
    row = page.locator("tr[data-status]").first
    # The row polls itself every second until the worker is done; then Download appears.
    download_link = row.get_by_test_id("export-download")
    download_link.wait_for(timeout=60_000)
    assert row.get_attribute("data-status") == "done"
    assert row.get_by_test_id("export-rows").inner_text().startswith("45")
    screenshot("done")

    with page.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.suggested_filename.startswith(
        "guardwatch-findings-"
    ) and download.suggested_filename.endswith(".csv")
    saved = Path(download.path()).read_bytes()
    assert saved[:3] != b"\x1f\x8b\x08"  # the browser saved the CSV, not the gzip stream it was sent

    client = Client()
    client.force_login(analyst)
    streamed = b"".join(client.get("/findings/export.csv?all=1").streaming_content)
    assert saved == streamed
    assert len(list(csv.DictReader(io.StringIO(saved.decode())))) == 45
    assert page.console_errors == []  # no CSP violation, no script error
