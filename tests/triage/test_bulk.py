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


# --- A comment given with any action, "me", and the fields each action shows --------------------------------


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"action": "status", "status": "in_progress"}, lambda f: f.status == "in_progress"),
        ({"action": "assign", "assignee": "analyst"}, lambda f: f.assignee and f.assignee.username == "analyst"),
        ({"action": "archive"}, lambda f: True),
    ],
)
def test_a_comment_given_with_a_bulk_action_goes_on_every_findings_timeline(client_for, fields, check):
    findings = store_findings(6)
    client = client_for("analyst")
    ids = [f.pk for f in findings[:4]]
    form = {**fields, "comment": "Triage sweep <b>2026-12</b>", "scope": "selected", "ids": ids}

    confirm = client.post("/findings/bulk/", form).content.decode()
    client.post("/findings/bulk/", {**form, "confirmed": "yes"})

    assert "Comment: Triage sweep &lt;b&gt;2026-12&lt;/b&gt;" in confirm
    comments = FindingEvent.objects.filter(kind="comment")
    assert sorted(comments.values_list("finding_id", flat=True)) == sorted(ids)
    assert set(comments.values_list("body", flat=True)) == {"Triage sweep <b>2026-12</b>"}
    assert all(check(f) for f in Finding.objects.filter(pk__in=ids))
    detail = client.get(f"/findings/{ids[0]}/").content.decode()
    assert "commented: <span class=\"comment\">Triage sweep &lt;b&gt;2026-12&lt;/b&gt;</span>" in detail


def test_a_comment_with_a_status_change_on_a_whole_filter_reaches_the_findings_it_moved(client_for):
    store_findings(8)
    client = client_for("analyst")

    client.post("/findings/bulk/", {"action": "status", "status": "in_progress", "comment": "Picked up", "scope": "all",
                                    "query": "status=new", "confirmed": "yes"})  # fmt: skip

    # once moved, the findings no longer match status=new; the comment still lands on each of them
    assert FindingEvent.objects.filter(kind="comment", body="Picked up").count() == 8


def test_bulk_assign_to_me_assigns_the_analyst_and_the_me_filter_lists_them(client_for):
    findings = store_findings(5)
    client = client_for("analyst")
    ids = [f.pk for f in findings[:2]]

    confirm = client.post("/findings/bulk/", {"action": "assign", "assignee": "me", "scope": "selected", "ids": ids})
    client.post("/findings/bulk/", {"action": "assign", "assignee": "me", "scope": "selected", "ids": ids, "confirmed": "yes"})

    assert "to <strong>analyst</strong>" in confirm.content.decode()
    assert set(Finding.objects.filter(assignee__username="analyst").values_list("id", flat=True)) == set(ids)
    listed = client.get("/findings/?assignee=me").content.decode()
    assert all(f'data-finding="{pk}"' in listed for pk in ids) and listed.count("data-finding=") == 2


def test_each_bulk_field_names_the_actions_it_belongs_to(client_for):
    store_findings(2)
    html = client_for("analyst").get("/findings/").content.decode()
    bar = html.split('id="bulk"', 1)[1].split("</form>", 1)[0]

    assert "data-action-select" in bar
    assert '<label data-for="assign">Assignee' in bar
    assert bar.count('data-for="status"') == 3  # status, reason, accept until
    assert 'data-for="assign status comment archive unarchive">Comment' in bar
    assert 'placeholder="me, a username, or blank to unassign"' in bar
