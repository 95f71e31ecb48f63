"""The list's rows, built in Python (`triage.rows`): every attacker-controlled value escaped, as the template did."""

from __future__ import annotations

import copy
import random

import pytest

from findings.models import Finding
from findings.upsert import findings_upsert
from tests.findings.factories import parsed, raw_finding

pytestmark = pytest.mark.django_db

HOSTILE = '<img src=x onerror="alert(1)">&"\''


def _hostile_finding() -> Finding:
    raw = copy.deepcopy(raw_finding(random.Random(5), finding_type="Recon:EC2/PortProbeUnprotectedPort"))
    raw["Title"] = "Probe " + HOSTILE
    raw["Resource"]["InstanceDetails"]["InstanceId"] = "i-" + HOSTILE
    findings_upsert(findings=[parsed(raw)], source="pull")
    return Finding.objects.get(arn=raw["Arn"])


def test_a_row_escapes_the_title_and_resource_id_and_links_the_finding(client_for):
    finding = _hostile_finding()

    html = client_for("analyst").get("/findings/?status=all").content.decode()

    row = html[html.index(f'<tr data-finding="{finding.pk}">') :]
    row = row[: row.index("</tr>")]
    assert "<img" not in row and 'onerror="' not in row
    assert "Probe &lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;" in row
    assert f'href="/findings/{finding.pk}/"' in row
    assert f'name="ids" value="{finding.pk}"' in row  # an analyst can select it for a bulk action
    assert f'<span class="badge sev-{finding.severity_band}">{finding.severity:.1f} ' in row
    assert f'<span class="badge tri-new">{finding.get_status_display()}</span>' in row


def test_a_reader_who_cannot_triage_gets_no_row_checkboxes(client_for):
    finding = _hostile_finding()

    html = client_for("manager").get("/findings/?status=all").content.decode()

    assert f'<tr data-finding="{finding.pk}">' in html
    assert 'name="ids"' not in html
