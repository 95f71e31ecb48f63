"""The findings report's ATT&CK heatmap: new findings by tactic and band, counted by type in SQL, mapped in Python."""

from __future__ import annotations

import csv
import io
import pickle
import random
import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from findings import attack
from findings.models import Finding
from reports import exports, periods
from reports import findings_report as reports
from tests.reports.support import finding

pytestmark = pytest.mark.django_db
BANDS = ("low", "medium", "high", "critical")
TYPES = [
    "Recon:EC2/Portscan",  # Reconnaissance + Discovery
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",  # Initial Access + Credential Access
    "CryptoCurrency:EC2/BitcoinTool.B",  # Impact
    "AttackSequence:S3/CompromisedData",
    "Policy:IAMUser/SomethingGuardDutyAddsLater",  # not in the table, Policy names no tactic
]


def _midnight(days_ago: int) -> datetime:
    return datetime.combine(
        timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time.min, tzinfo=UTC
    )


@pytest.fixture
def mixed():
    rng = random.Random(5)
    for _ in range(120):
        created = _midnight(6) + timedelta(minutes=rng.randrange(6 * 24 * 60))
        finding(created=created, band=rng.choice(BANDS), type=rng.choice(TYPES))
    finding(created=_midnight(40), band="high", type="Recon:EC2/Portscan")  # before the period


def _expected() -> dict[str, Counter]:
    """Tactic → band → findings, counted finding by finding."""
    period = periods.report_period(params={"period": "7"})
    expected: dict[str, Counter] = {tactic.id: Counter() for tactic in attack.TACTICS}
    for f in Finding.objects.filter(created_at__gte=period.start, created_at__lt=period.end):
        for tactic_id in attack.mapping_for(f.type).tactics:
            expected[tactic_id][f.severity_band] += 1
    return expected


def test_heatmap_counts_each_finding_under_every_tactic_of_its_type(mixed):
    report = reports.findings_report_compute(period=periods.report_period(params={"period": "7"}))
    expected = _expected()
    assert [row.tactic.id for row in report.attack.rows] == [tactic.id for tactic in attack.TACTICS]
    for row in report.attack.rows:
        assert row.by_band == {band: expected[row.tactic.id][band] for band in report.attack.bands}, (
            row.tactic
        )
    assert report.attack.findings == report.new_total == 120
    assert (
        report.attack.unmapped
        == Finding.objects.filter(type="Policy:IAMUser/SomethingGuardDutyAddsLater").count()
    )
    impact = next(row for row in report.attack.rows if row.tactic.id == "TA0040")
    techniques = {technique.id: count for technique, count in impact.techniques}
    crypto = Finding.objects.filter(type="CryptoCurrency:EC2/BitcoinTool.B").count()
    assert techniques["T1496.001"] == crypto
    assert techniques["T1485"] == Finding.objects.filter(type="AttackSequence:S3/CompromisedData").count()


def test_one_pass_and_one_query_per_figure_give_the_same_type_counts(mixed, monkeypatch):
    period = periods.report_period(params={"period": "7"})
    combined = reports._period_figures(period)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    separate = reports._period_figures(period)
    monkeypatch.undo()
    assert combined.type_bands == separate.type_bands and len(combined.type_bands) > len(TYPES)


def test_manager_sees_the_heatmap_with_links_to_each_tactics_findings(client_for, mixed):
    html = client_for("manager").get("/findings/report/?period=7").content.decode()
    section = html.split('data-testid="attack-heatmap"')[1].split("</section>")[0]
    expected = _expected()
    recon = re.search(r'<a href="/findings/\?tactic=TA0043">Reconnaissance</a>.*?</tr>', section, re.S).group(
        0
    )
    assert f"<strong>{sum(expected['TA0043'].values())}</strong>" in recon
    assert "heat-5" in section  # the largest cell is shaded darkest
    assert "T1595.001" in recon


def test_heatmap_downloads_as_csv(client_for, mixed):
    response = client_for("manager").get("/findings/report/?period=7&export=attack")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "tactic id",
        "tactic",
        "Critical",
        "High",
        "Medium",
        "Low",
        "total",
        "techniques (findings)",
    ]
    impact = next(row for row in rows if row[0] == "TA0040")
    assert int(impact[6]) == sum(_expected()["TA0040"].values())
    assert "T1496.001 Resource Hijacking: Compute Hijacking" in impact[7]


def test_a_snapshot_kept_before_the_heatmap_existed_still_opens_and_exports(mixed):
    report = reports.findings_report_compute(period=periods.report_period(params={"period": "7"}))
    del report.__dict__["attack"]  # as pickled by the version before this field
    old = pickle.loads(pickle.dumps(report))  # noqa: S301 - our own bytes, made just above
    assert old.attack is None
    assert exports.report_table(report=old, name="attack").rows == []
