"""Background exports: the list's Export queues a job that a worker writes into PostgreSQL; the person
follows it on the Exports page, cancels it or downloads it (gzip as stored, or decompressed)."""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.test.utils import override_settings
from django.utils import timezone

from guardwatch.core.db.locks import advisory_lock
from tests.triage.support import store_findings
from triage import exports
from triage.models import FindingExport, FindingExportChunk

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_slots_left():
    """The streamed export's slots (Redis) are shared with other tests: start from none held."""
    keys = [f"guardwatch:slots:findings-export:shared:{i}" for i in range(10)]
    keys += [f"guardwatch:slots:findings-export:owner:{pk}" for pk in range(1, 200)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def user(name: str):
    return get_user_model().objects.get(username=name)


def streamed(client, fmt: str, query: str) -> bytes:
    return b"".join(client.get(f"/findings/export.{fmt}?{query}").streaming_content)


def export_requested(client, *, query: str, fmt: str = "csv") -> FindingExport:
    response = client.post("/findings/exports/", {"query": query, "format": fmt})
    assert response.status_code == 302 and response["Location"] == "/findings/exports/"
    return FindingExport.objects.latest("pk")


def downloaded(client, export: FindingExport, *, gzip_ok: bool) -> bytes:
    headers = {"accept-encoding": "gzip, deflate, br"} if gzip_ok else {}
    response = client.get(f"/findings/exports/{export.pk}/download/", headers=headers)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    return gzip.decompress(body) if gzip_ok else body


@pytest.mark.parametrize(
    ("fmt", "query"), [("csv", ""), ("csv", "status=open&band=high"), ("json", "q=instance")]
)
def test_the_written_export_is_byte_for_byte_the_streamed_export_of_the_same_filter(
    client_for, monkeypatch, fmt, query
):
    monkeypatch.setattr(exports, "EXPORT_CHUNK_CHARS", 3000)  # many pieces from 80 findings
    store_findings(80, seed=21)
    client = client_for("analyst")
    export = export_requested(client, query=query, fmt=fmt)

    exports.finding_export_run(export_id=export.pk)

    export.refresh_from_db()
    expected = streamed(client, fmt, query)
    assert export.status == "done"
    assert FindingExportChunk.objects.filter(export=export).count() > 2
    assert downloaded(client, export, gzip_ok=True) == expected
    assert downloaded(client, export, gzip_ok=False) == expected
    rows = list(csv.DictReader(io.StringIO(expected.decode()))) if fmt == "csv" else json.loads(expected)
    assert export.rows_written == len(rows) > 0
    assert export.bytes_written == len(expected)


@override_settings(GUARDWATCH_EXPORT_DB_SHARE=20)
def test_the_export_waits_after_each_page_so_its_queries_keep_to_their_share_of_the_database(client_for,
                                                                                              monkeypatch):
    """Each keyset page's query time is followed by a wait of (100 - share) / share times it: at 20 %, four times."""
    monkeypatch.setattr(exports, "EXPORT_JOB_PAGE", 10)  # 35 findings: four pages
    store_findings(35, seed=20)
    queries, waits = [], []
    real_pace = exports.export_database_pace
    monkeypatch.setattr(exports.time, "sleep", waits.append)
    monkeypatch.setattr(exports, "export_database_pace", lambda seconds: (queries.append(seconds), real_pace(seconds)))
    export = export_requested(client_for("analyst"), query="")

    exports.finding_export_run(export_id=export.pk)

    export.refresh_from_db()
    assert (export.status, export.rows_written) == ("done", 35)
    assert len(queries) == 4 and all(seconds > 0 for seconds in queries)  # pages of 10, 10, 10 and 5
    assert waits == pytest.approx([4 * seconds for seconds in queries])


def test_the_download_is_an_attachment_with_a_safe_name_gzip_encoded_only_when_accepted(client_for):
    store_findings(10, seed=22)
    client = client_for("analyst")
    export = export_requested(client, query='q="><script>alert(1)</script>')
    exports.finding_export_run(export_id=export.pk)

    gzipped = client.get(f"/findings/exports/{export.pk}/download/", headers={"accept-encoding": "gzip"})
    plain = client.get(
        f"/findings/exports/{export.pk}/download/", headers={"accept-encoding": "gzip;q=0, br"}
    )

    assert gzipped["Content-Encoding"] == "gzip" and not plain.has_header("Content-Encoding")
    for response in (gzipped, plain):
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert re.fullmatch(r'attachment; filename="guardwatch-findings-\d{8}-\d{6}-\d+\.csv"',
                            response["Content-Disposition"])  # fmt: skip
        assert "Accept-Encoding" in response["Vary"] and "no-store" in response["Cache-Control"]
    assert gzip.decompress(b"".join(gzipped.streaming_content)) == b"".join(plain.streaming_content)


def test_the_list_export_button_posts_the_current_filter_and_the_exports_page_follows_it(client_for):
    store_findings(12, seed=23)
    client = client_for("analyst")
    page = client.get("/findings/?band=high&status=open").content.decode()
    form = re.search(r'<form method="post" action="/findings/exports/".*?</form>', page, re.S).group(0)
    sent = html.unescape(re.search(r'name="query" value="([^"]*)"', form).group(1))
    assert QueryDict(sent) == QueryDict("status=open&band=high")

    export = export_requested(client, query="status=open&band=high")
    listed = client.get("/findings/exports/").content.decode()
    assert "Export queued" in listed and 'data-status="queued"' in listed
    assert f'hx-get="/findings/exports/{export.pk}/"' in listed  # polls while queued

    exports.finding_export_run(export_id=export.pk)
    row = client.get(f"/findings/exports/{export.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="done"' in row and "hx-get" not in row  # done: the polling stops
    assert f'href="/findings/exports/{export.pk}/download/"' in row
    expected_rows = len(streamed(client, "csv", "status=open&band=high").decode().splitlines()) - 1
    assert expected_rows > 0
    assert re.search(r'data-testid="export-rows">(\d+)', row).group(1) == str(expected_rows)


def test_another_person_can_neither_see_nor_download_nor_cancel_my_export(client_for):
    store_findings(5, seed=24)
    mine = client_for("analyst")
    export = export_requested(mine, query="")
    exports.finding_export_run(export_id=export.pk)
    other = client_for("admin")  # even an Admin: an export is its owner's

    assert other.get(f"/findings/exports/{export.pk}/", headers={"HX-Request": "true"}).status_code == 404
    assert other.get(f"/findings/exports/{export.pk}/download/").status_code == 404
    assert other.post(f"/findings/exports/{export.pk}/cancel/").status_code == 404
    assert f"/findings/exports/{export.pk}/" not in other.get("/findings/exports/").content.decode()
    assert mine.get(f"/findings/exports/{export.pk}/download/").status_code == 200


def test_one_queued_or_running_export_per_person(client_for):
    client = client_for("analyst")
    first = export_requested(client, query="")
    again = client.post("/findings/exports/", {"query": "band=high", "format": "csv"}, follow=True)

    assert "You already have an export queued or running" in again.content.decode()
    assert list(FindingExport.objects.values_list("pk", flat=True)) == [first.pk]
    exports.finding_export_run(export_id=first.pk)
    assert export_requested(client, query="band=high").pk != first.pk  # done: the next one may start


def test_the_database_refuses_a_second_active_export_even_past_the_check(client_for):
    """Two web machines checking at once: the partial unique constraint is the last word."""
    client_for("analyst")
    FindingExport.objects.create(owner=user("analyst"), status="running")
    with pytest.raises(IntegrityError, match="findingexport_one_active"), transaction.atomic():
        FindingExport.objects.create(owner=user("analyst"))


@override_settings(GUARDWATCH_EXPORTS_MAX=2)
def test_a_global_cap_on_queued_and_running_exports(client_for):
    export_requested(client_for("analyst"), query="")
    export_requested(client_for("manager"), query="")
    refused = client_for("admin").post("/findings/exports/", {"query": "", "format": "csv"}, follow=True)

    assert "2 exports are already queued or running" in refused.content.decode()
    assert FindingExport.objects.count() == 2


def test_an_unknown_format_is_refused_with_the_choices(client_for):
    response = client_for("analyst").post("/findings/exports/", {"query": "", "format": "xlsx"}, follow=True)
    assert (
        "No export format" in response.content.decode() and "choose CSV or JSON" in response.content.decode()
    )
    assert not FindingExport.objects.exists()


def test_cancelling_a_queued_export_means_the_worker_never_writes_it(client_for):
    store_findings(5, seed=25)
    client = client_for("analyst")
    export = export_requested(client, query="")
    row = client.post(
        f"/findings/exports/{export.pk}/cancel/", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'data-status="cancelled"' in row

    assert exports.finding_export_run(export_id=export.pk) is None
    export.refresh_from_db()
    assert export.status == "cancelled" and export.rows_written == 0
    assert client.get(f"/findings/exports/{export.pk}/download/").status_code == 404


def test_cancelling_a_running_export_stops_it_at_its_next_piece_and_deletes_what_it_wrote(
    client_for, monkeypatch
):
    monkeypatch.setattr(exports, "EXPORT_CHUNK_CHARS", 2000)
    store_findings(60, seed=26)
    export = export_requested(client_for("analyst"), query="")
    real_rows = exports.selectors.findings_export_rows

    def rows_then_cancelled(**kwargs):
        for index, row in enumerate(real_rows(**kwargs)):
            if index == 30:  # the person clicks Cancel while the worker is half-way
                assert exports.finding_export_cancel(export=FindingExport.objects.get(pk=export.pk))
            yield row

    monkeypatch.setattr(exports.selectors, "findings_export_rows", rows_then_cancelled)
    exports.finding_export_run(export_id=export.pk)

    export.refresh_from_db()
    assert export.status == "cancelled"
    assert 0 < export.rows_written < 60
    assert not FindingExportChunk.objects.filter(export=export).exists()


def test_files_are_deleted_after_the_keep_time_and_the_export_shows_expired(client_for):
    store_findings(5, seed=27)
    client = client_for("analyst")
    old = export_requested(client, query="")
    exports.finding_export_run(export_id=old.pk)
    FindingExport.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=25))
    recent = export_requested(client, query="band=high")
    exports.finding_export_run(export_id=recent.pk)

    assert exports.finding_exports_expire() == {"expired": 1, "deleted": 0}

    old.refresh_from_db()
    assert old.status == "expired" and not FindingExportChunk.objects.filter(export=old).exists()
    assert client.get(f"/findings/exports/{old.pk}/download/").status_code == 404
    assert FindingExportChunk.objects.filter(export=recent).exists()
    assert client.get(f"/findings/exports/{recent.pk}/download/").status_code == 200
    later = timezone.now() + timedelta(days=exports.EXPORT_HISTORY_DAYS)
    assert exports.finding_exports_expire(now=later)["deleted"] == 2  # both leave the list a week on


def test_a_failed_export_says_what_to_do(client_for, monkeypatch):
    export = export_requested(client_for("analyst"), query="")

    def broken(**_kwargs):
        raise RuntimeError("canceling statement due to statement timeout")
        yield

    monkeypatch.setattr(exports.selectors, "findings_export_rows", broken)
    with pytest.raises(RuntimeError):
        exports.finding_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == "failed"
    assert "statement timeout" in export.error and "narrow the filter" in export.error
    page = client_for("analyst").get("/findings/exports/").content.decode()
    assert "narrow the filter" in page


def test_an_export_whose_worker_died_fails_with_what_to_do_and_a_live_one_is_left_alone(client_for):
    client_for("analyst")
    client_for("manager")
    client_for("admin")
    dead = FindingExport.objects.create(owner=user("analyst"), status="running")
    FindingExportChunk.objects.create(export=dead, seq=0, data=b"half")
    live = FindingExport.objects.create(owner=user("manager"), status="running")
    lost = FindingExport.objects.create(owner=user("admin"))
    FindingExport.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    with advisory_lock(exports.EXPORT_LOCK_CLASS, live.pk) as held:
        assert held
        assert exports.finding_exports_recover() == {"failed": [dead.pk], "requeued": [lost.pk]}
    dead.refresh_from_db()
    live.refresh_from_db()
    assert dead.status == "failed" and "Export again" in dead.error
    assert not FindingExportChunk.objects.filter(export=dead).exists()
    assert live.status == "running"


@pytest.mark.worker
def test_a_real_worker_writes_the_export_the_person_then_downloads(
    celery_worker_process, transactional_db, client_for
):
    store_findings(40, seed=28)
    client = client_for("analyst")
    export = export_requested(client, query="status=open")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the page's polling, without the page
        export.refresh_from_db()
        if export.status not in FindingExport.ACTIVE:
            break
        time.sleep(0.2)
    assert export.status == "done", export.error
    assert downloaded(client, export, gzip_ok=True) == streamed(client, "csv", "status=open")
