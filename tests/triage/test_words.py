"""Words, not values: the timeline's statuses, suppression criteria and filters, severity limits."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.http import QueryDict

from findings.models import FindingEvent
from tests.triage.support import store_findings
from triage.filters import FindingFilters
from triage.models import SuppressionRule
from triage.words import criteria_words, filter_words

pytestmark = pytest.mark.django_db

CRITERIA = {
    "Criterion": {
        "severity": {"GreaterThanOrEqual": 4, "LessThan": 7},
        "type": {"Matches": ["Recon:EC2/*"]},
        "accountId": {"Eq": ["111122223333", "444455556666"]},
        "service.action.actionType": {"Eq": ["PORT_PROBE"]},
        "resource.resourceType": {"Neq": ["S3Bucket"]},
    }
}


def test_criteria_read_as_conditions():
    assert criteria_words(CRITERIA) == [
        "severity at least 4 and below 7",
        "type starts with Recon:EC2/",
        "account is one of 111122223333 or 444455556666",
        "resource type is not S3Bucket",
        "action is port probe",
    ]


def test_a_filter_reads_as_words():
    filters = FindingFilters.from_query(
        QueryDict("band=high&band=critical&type_contains=Tor&account=4444-5555-6666&status=open&assignee=me&overdue=1")
    )

    assert filter_words(filters) == [
        "severity high or critical",
        "type contains Tor",
        "account is 444455556666",
        "status open",
        "assigned to you",
        "overdue",
    ]


def test_new_rule_from_the_filter_shows_the_filter_and_its_criteria_in_words(client_for):
    query = "band=low&band=medium&type_prefix=Recon:EC2/&account=222222222222"

    html = client_for("analyst").get(f"/findings/suppression/?query={quote(query)}").content.decode()

    words = html.split('data-testid="filter-words">', 1)[1].split("</p>", 1)[0]
    assert words == "Findings where severity low or medium; type starts with Recon:EC2/; account is 222222222222"
    conditions = html.split('data-testid="criteria-words">', 1)[1].split("</ul>", 1)[0]
    assert "<li>severity below 7</li>" in conditions and "<li>type starts with Recon:EC2/</li>" in conditions
    assert "<li>account is 222222222222</li>" in conditions


def test_the_rules_table_and_a_rules_page_read_their_criteria_as_conditions(client_for, analyst):
    rule = SuppressionRule.objects.create(name="quiet-scans", reason="Our scanner", query="band=low", criteria=CRITERIA,
                                          regions=["us-east-1"], created_by=analyst)  # fmt: skip
    client = client_for("analyst")

    listing = client.get("/findings/suppression/").content.decode()
    page = client.get(f"/findings/suppression/{rule.pk}/").content.decode()

    assert "severity at least 4 and below 7; type starts with Recon:EC2/" in listing
    assert "{&#x27;severity&#x27;" not in listing  # no Python dict dumped in the table
    assert "<li>action is port probe</li>" in page


def test_the_timeline_shows_status_labels(client_for):
    finding = store_findings(1)[0]
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/status/", {"status": "in_progress"})

    html = client.get(f"/findings/{finding.pk}/").content.decode()

    assert FindingEvent.objects.filter(kind="status", to_status="in_progress").exists()
    assert "changed status New → <strong>In progress</strong>" in html
    assert "in_progress</strong>" not in html


@pytest.mark.parametrize(("param", "raw"), [("sev_min", "12"), ("sev_max", "-1"), ("sev_min", "10.5"), ("sev_max", "nan")])
def test_severity_limits_outside_0_to_10_are_refused_and_say_the_range(client_for, param, raw):
    findings = store_findings(4)

    html = client_for("analyst").get(f"/findings/?{param}={raw}").content.decode()

    assert "0 and 10" in html or "(0–10)" in html
    assert "ignored" in html
    assert html.count("data-finding=") == len(findings)  # refused, not matching nothing


def test_the_severity_fields_say_their_range(client_for):
    html = client_for("analyst").get("/findings/").content.decode()

    assert "Severity from (0–10)" in html and 'name="sev_min" step="0.1" min="0" max="10"' in html
