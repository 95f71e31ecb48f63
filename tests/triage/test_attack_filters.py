"""ATT&CK on the findings list and page: filter by tactic or technique, see each finding's tactics and techniques."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from findings import attack
from findings.models import Finding
from tests.triage.support import store, store_findings
from tests.triage.test_list import rows_of
from triage.filters import FindingFilters, findings_filtered
from triage.suppression import suppression_criteria
from triage.words import filter_words

pytestmark = pytest.mark.django_db


def test_analyst_filters_by_tactic_and_sees_only_findings_of_types_mapped_to_it(client_for):
    store_findings(80)
    response = client_for("analyst").get("/findings/?tactic=TA0006&size=200")
    shown = set(Finding.objects.filter(pk__in=rows_of(response)).values_list("type", flat=True))
    expected = set(
        Finding.objects.filter(type__in=attack.finding_types_for_tactic("TA0006")).values_list(
            "type", flat=True
        )
    )
    assert expected, "the seeded findings include credential access types"
    assert shown == expected
    assert "ATT&amp;CK tactic is TA0006 Credential Access" in response.content.decode()


def test_analyst_filters_by_a_parent_technique_and_gets_its_sub_techniques_too(client_for):
    from tests.findings.factories import raw_finding

    console, tor, scan = store(
        [
            raw_finding(finding_type="UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"),
            raw_finding(finding_type="UnauthorizedAccess:Kubernetes/TorIPCaller"),  # T1078, the parent
            raw_finding(finding_type="Recon:EC2/Portscan"),
        ]
    )
    client = client_for("analyst")
    assert set(rows_of(client.get("/findings/?technique=T1078&all=1"))) == {console.pk, tor.pk}
    assert set(rows_of(client.get("/findings/?technique=t1078.004&all=1"))) == {console.pk}


def test_an_unknown_tactic_or_technique_is_reported_and_ignored(client_for):
    store_findings(5)
    html = client_for("analyst").get("/findings/?tactic=TA9999&technique=T0000&all=1").content.decode()
    assert "“TA9999” is not an ATT&amp;CK tactic id" in html
    assert "No finding type is mapped to ATT&amp;CK technique “T0000”" in html
    assert len(rows_of(client_for("analyst").get("/findings/?tactic=TA9999&all=1"))) == 5


def test_a_tactic_no_type_maps_to_matches_nothing_without_error(client_for):
    store_findings(10)
    assert attack.finding_types_for_tactic("TA0008") == ()  # Lateral Movement: GuardDuty has no such type
    response = client_for("analyst").get("/findings/?tactic=TA0008")
    assert response.status_code == 200
    assert rows_of(response) == []
    assert "No findings match this filter." in response.content.decode()


def test_the_tactic_filter_is_one_in_list_on_the_type_column():
    filters = FindingFilters.from_query(QueryDict("tactic=TA0043"))
    with CaptureQueriesContext(connection) as queries:
        list(findings_filtered(filters=filters).values_list("id", flat=True))
    sql = queries.captured_queries[-1]["sql"]
    assert '"findings_finding"."type" IN (' in sql
    assert "JOIN" not in sql


def test_the_list_shows_each_findings_tactics_as_chips(client_for):
    from tests.findings.factories import raw_finding

    store([raw_finding(finding_type="Recon:EC2/Portscan")])
    html = client_for("analyst").get("/findings/?all=1").content.decode()
    assert 'href="?tactic=TA0043"' in html and ">Reconnaissance</a>" in html


def test_finding_page_lists_tactics_and_techniques_linked_to_attack_mitre_org(client_for):
    from tests.findings.factories import raw_finding

    [finding] = store(
        [raw_finding(finding_type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")]
    )
    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    card = html.split('data-testid="attack-card"')[1].split("</section>")[0]
    assert "TA0006 Credential Access" in card and "TA0001 Initial Access" in card
    assert (
        '<a href="https://attack.mitre.org/techniques/T1552/005/" rel="noopener noreferrer" target="_blank" '
        'class="mono">T1552.005</a> Unsecured Credentials: Cloud Instance Metadata API' in card
    )
    assert 'href="/findings/?tactic=TA0006"' in card
    assert "Center for Threat-Informed Defense" in card


def test_attack_sequence_page_shows_the_tactics_guardduty_names_escaped(client_for):
    from tests.findings.factories import raw_finding

    raw = raw_finding(finding_type="AttackSequence:IAM/CompromisedCredentials")
    for indicator in raw["Service"]["Detection"]["Sequence"]["SequenceIndicators"]:
        if indicator["Key"] == "ATTACK_TACTIC":
            indicator["Values"] = ["Discovery", "<script>alert(1)</script>"]
    [finding] = store([raw])
    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    assert (
        "GuardDuty names these tactics for this sequence: Discovery, &lt;script&gt;alert(1)&lt;/script&gt;"
        in html
    )
    assert "AWS documentation" in html


def test_filter_words_name_the_tactic_and_technique():
    filters = FindingFilters.from_query(QueryDict("tactic=ta0040&technique=T1496.001"))
    assert filter_words(filters) == [
        "ATT&CK tactic is TA0040 Impact",
        "ATT&CK technique is T1496.001 Resource Hijacking: Compute Hijacking",
    ]


def test_a_suppression_rule_cannot_be_made_from_an_attack_filter():
    from triage.services import TriageError

    with pytest.raises(TriageError, match="ATT&CK tactic or technique"):
        suppression_criteria(filters=FindingFilters.from_query(QueryDict("tactic=TA0040")))
