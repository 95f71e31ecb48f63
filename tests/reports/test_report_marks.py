"""The findings report's response times come from stamps the triage service keeps on each finding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from findings.models import Finding
from tests.reports.support import finding
from triage.services import findings_status_set

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _move(f: Finding, status: str, hours: int) -> Finding:
    findings_status_set(findings=Finding.objects.filter(pk=f.pk), status=status, actor="system",
                        now=T0 + timedelta(hours=hours), audit=False)  # fmt: skip
    return Finding.objects.get(pk=f.pk)


def test_leaving_new_stamps_acknowledged_once():
    f = finding(created=T0)
    f = _move(f, "in_progress", 2)
    f = _move(f, "new", 3)
    f = _move(f, "acknowledged", 5)
    assert f.acknowledged_at == T0 + timedelta(hours=2)
    assert f.resolved_at is None


def test_first_close_stamps_resolved_and_reopening_keeps_it():
    f = finding(created=T0)
    f = _move(f, "resolved", 4)
    f = _move(f, "false_positive", 6)  # closed to closed: not a new resolution
    f = _move(f, "acknowledged", 7)
    f = _move(f, "resolved", 9)
    assert f.acknowledged_at == T0 + timedelta(hours=4)
    assert f.resolved_at == T0 + timedelta(hours=4)


def test_report_reads_the_stamps_the_service_wrote(client_for):
    f = finding(created=datetime.now(UTC) - timedelta(days=1), band="high")
    findings_status_set(findings=Finding.objects.filter(pk=f.pk), status="resolved", actor="system",
                        now=f.created_at + timedelta(hours=10), audit=False)  # fmt: skip
    response = client_for("manager").get("/findings/report/?period=7&export=timing")
    rows = b"".join(response.streaming_content).decode().splitlines()
    high = next(r for r in rows if r.startswith("High"))
    assert high.split(",")[1:7] == ["1", "1", "10.0", "10.0", "1", "10.0"]
