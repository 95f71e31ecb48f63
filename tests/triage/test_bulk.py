"""Bulk actions on selected findings or on everything a filter matches, with confirmation and progress."""

from __future__ import annotations

import pytest

from findings.models import Finding, FindingEvent
from guardwatch.core.queue import task_get
from tests.triage.support import store_findings
from triage import bulk as bulk_actions
from triage.models import BulkAction, WriteBack

pytestmark = pytest.mark.django_db


def test_bulk_action_asks_for_confirmation_showing_the_count(client_for):
    findings = store_findings(10)
    client = client_for("analyst")
    ids = [f.pk for f in findings[:3]]
    response = client.post(
        "/findings/bulk/", {"action": "status", "status": "acknowledged", "scope": "selected", "ids": ids}
    )
    html = response.content.decode()
    assert "to <strong>3</strong> findings" in html
    assert not Finding.objects.filter(status="acknowledged").exists()


def test_analyst_bulk_assigns_and_acknowledges_selected_findings(client_for):
    findings = store_findings(10)
    client = client_for("analyst")
    ids = [f.pk for f in findings[:4]]
    client.post(
        "/findings/bulk/",
        {"action": "assign", "assignee": "analyst", "scope": "selected", "ids": ids, "confirmed": "yes"},
    )
    client.post(
        "/findings/bulk/",
        {"action": "status", "status": "acknowledged", "scope": "selected", "ids": ids, "confirmed": "yes"},
    )
    assert set(
        Finding.objects.filter(assignee__username="analyst", status="acknowledged").values_list(
            "id", flat=True
        )
    ) == set(ids)
    assert FindingEvent.objects.filter(kind="assignment").count() == 4
    assert FindingEvent.objects.filter(kind="status").count() == 4


def test_all_matching_re_evaluates_the_filter_on_the_server(client_for):
    store_findings(40)
    client = client_for("analyst")
    expected = set(
        Finding.objects.filter(resource_type="Instance", severity__gte=7, severity__lt=9).values_list(
            "id", flat=True
        )
    )
    assert expected
    response = client.post(
        "/findings/bulk/",
        {
            "action": "comment",
            "comment": "Reviewed in the weekly sweep",
            "scope": "all",
            "query": "band=high&resource_type=Instance",
            "confirmed": "yes",
        },
    )
    assert response.status_code == 302
    assert set(FindingEvent.objects.filter(kind="comment").values_list("finding_id", flat=True)) == expected


def test_a_large_bulk_action_runs_in_a_task_with_progress(
    client_for, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk_actions, "BULK_ASYNC_THRESHOLD", 5)
    monkeypatch.setattr(bulk_actions, "BULK_CHUNK", 4)
    store_findings(12)
    client = client_for("analyst")
    queued = []
    monkeypatch.setattr(task_get("findings.tasks.bulk_action_run"), "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/findings/bulk/",
            {"action": "status", "status": "resolved", "scope": "all", "query": "", "confirmed": "yes"},
        )
    bulk = BulkAction.objects.get()
    assert response["Location"] == f"/findings/bulk/{bulk.pk}/"
    assert queued == [bulk.pk]
    page = client.get(response["Location"]).content.decode()
    assert "Queued: 0 of 12" in page and 'hx-trigger="every 1s"' in page
    bulk_actions.bulk_action_run(bulk_id=bulk.pk)
    assert bulk_actions.bulk_action_run(bulk_id=bulk.pk) is None  # a redelivered task does nothing
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "Done: 12 of 12" in fragment and "every 1s" not in fragment
    assert Finding.objects.filter(status="resolved").count() == 12
    assert WriteBack.objects.filter(operation="archive").count() == 12


def test_bulk_archive_queues_guardduty_archive_without_changing_status(client_for):
    findings = store_findings(3)
    client_for("analyst").post(
        "/findings/bulk/",
        {"action": "archive", "scope": "selected", "ids": [f.pk for f in findings], "confirmed": "yes"},
    )
    assert WriteBack.objects.filter(operation="archive", status="pending").count() == 3
    assert not Finding.objects.exclude(status="new").exists()


def test_bulk_without_a_selection_explains_what_to_do(client_for):
    store_findings(3)
    response = client_for("analyst").post(
        "/findings/bulk/", {"action": "comment", "comment": "x", "scope": "selected"}, follow=True
    )
    assert "Select findings first" in response.content.decode()
