"""The list's counts by severity are kept per filter between requests, and drop as soon as findings change."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings.models import OPEN_STATUSES, Finding
from tests.triage.support import store_findings
from triage.services import finding_status_change

pytestmark = pytest.mark.django_db


def _open_count_shown(html: str) -> str:
    return html.split('data-testid="match-count"', 1)[1].split(">", 1)[1].split(" matching", 1)[0].strip()


def _count_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "count(" in q["sql"].lower()]


def test_analysts_opening_the_same_view_share_its_counts(client_for):
    store_findings(40)
    client_for("analyst").get("/findings/?status=open")
    with CaptureQueriesContext(connection) as queries:
        response = client_for("admin").get("/findings/?status=open")
    assert response.status_code == 200
    assert _count_queries(queries) == []
    assert _open_count_shown(response.content.decode()) == str(
        Finding.objects.filter(status__in=OPEN_STATUSES).count()
    )


def test_analyst_resolving_a_finding_sees_the_open_count_drop_at_once(
    client_for, analyst, django_capture_on_commit_callbacks
):
    store_findings(40)
    client = client_for("analyst")
    before = int(_open_count_shown(client.get("/findings/?status=open").content.decode()))
    finding = Finding.objects.filter(status="new").first()
    with django_capture_on_commit_callbacks(execute=True):
        finding_status_change(finding=finding, status="resolved", actor=analyst, reason="patched")
    after = int(_open_count_shown(client.get("/findings/?status=open").content.decode()))
    assert after == before - 1


def test_my_findings_counts_are_each_analysts_own(client_for, analyst, admin):
    findings = store_findings(10)
    Finding.objects.filter(pk__in=[f.pk for f in findings[:3]]).update(assignee=analyst)
    assert _open_count_shown(client_for("analyst").get("/findings/?assignee=me").content.decode()) == "3"
    assert _open_count_shown(client_for("admin").get("/findings/?assignee=me").content.decode()) == "0"
