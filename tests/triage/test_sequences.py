"""Attack sequences: the sequence page, links both ways, the list's sequence filter and grouping."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict

from findings.models import Finding, TriageStatus
from gdsim.catalogue import build_attack_sequence, to_camel_case
from tests.findings.factories import DETECTOR, MEMBER, NOW, raw_finding
from tests.triage.support import store
from triage.filters import FindingFilters
from triage.sequence import attack_sequence
from triage.services import TriageError
from triage.suppression import suppression_criteria

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"


def sequence_raws(*, seed: int = 5, finding_type: str = "AttackSequence:IAM/CompromisedCredentials",
                  account_id: str = MEMBER, now: datetime = NOW) -> tuple[dict, list[dict]]:
    return build_attack_sequence(random.Random(seed), finding_type=finding_type, account_id=account_id,
                                 region="us-east-1", detector_id=DETECTOR, now=now)


def stored_sequence(**options) -> tuple[Finding, list[Finding]]:
    sequence, members = sequence_raws(**options)
    rows = store([sequence, *members])
    return rows[0], rows[1:]


# --- parsing ----------------------------------------------------------------------------------------------


def test_the_sequence_details_read_the_same_in_both_spellings():
    sequence, _ = sequence_raws()
    pascal, camel = attack_sequence(sequence), attack_sequence(to_camel_case(sequence))

    assert pascal == camel
    assert [signal.name for signal in pascal.signals][-1] == "DeleteTrail"  # the CloudTrail activity comes last
    assert [s.first_seen for s in pascal.signals] == sorted(s.first_seen for s in pascal.signals)
    assert "Persistence" in pascal.tactics and any(t.startswith("T1098") for t in pascal.techniques)
    assert pascal.actors[0]["name"] and pascal.endpoints[0]["address"].startswith(("198.51.100.", "203.0.113."))
    assert len(pascal.finding_uids) == 3
    api_signal = pascal.signals[-1]
    assert api_signal.apis == ["DeleteTrail"] and api_signal.actors == [pascal.actors[0]["name"]]


def test_a_finding_without_a_sequence_has_no_sequence_details_and_odd_values_are_skipped():
    assert attack_sequence(raw_finding(random.Random(1))) is None
    odd = {"Service": {"Detection": {"Sequence": {"Uid": "u", "Description": {"not": "text"}, "Signals": [
        {"Uid": "s", "Type": "FINDING", "Name": ["x"], "FirstSeenAt": "yesterday", "Count": "many"}, "junk"]}}}}

    details = attack_sequence(odd)
    assert details.description == "" and len(details.signals) == 1
    assert details.signals[0].first_seen is None and details.signals[0].count is None and details.signals[0].name == ""


# --- the sequence page ------------------------------------------------------------------------------------


def test_the_analyst_reads_the_sequence_timeline_actors_resources_and_mitre_tactics(client_for):
    sequence, members = stored_sequence()
    html = client_for("analyst").get(f"/findings/{sequence.pk}/sequence/").content.decode()
    details = attack_sequence(sequence.raw)

    assert "Defense Evasion" in html and "T1562.008" in html
    assert details.actors[0]["credential"] in html
    assert details.resources[0]["uid"] in html
    assert details.endpoints[0]["address"] in html
    positions = [html.index(f"/findings/{member.pk}/\" data-testid=\"signal-finding\"") for member in
                 sorted(members, key=lambda member: member.first_seen)]
    assert positions == sorted(positions)  # the timeline in time order, each signal linked to its finding
    assert html.count('data-signal-type="CLOUD_TRAIL"') == 1
    for api in ("ListBuckets", "CreateAccessKey", "DeleteFlowLogs", "DeleteTrail"):  # the findings' own API calls
        assert f'<td class="mono small">{api}</td>' in html


def test_the_sequence_page_links_the_findings_it_includes_and_each_links_back(client_for):
    sequence, members = stored_sequence()
    client = client_for("analyst")

    html = client.get(f"/findings/{sequence.pk}/sequence/").content.decode()
    for member in members:
        assert f'href="/findings/{member.pk}/"' in html
        back = client.get(f"/findings/{member.pk}/").content.decode()
        assert f'href="/findings/{sequence.pk}/sequence/" data-testid="sequence-back"' in back
    assert f'href="/findings/{sequence.pk}/sequence/"' in client.get(f"/findings/{sequence.pk}/").content.decode()


def test_a_signal_finding_stored_without_its_sequence_links_to_the_filtered_list(client_for):
    _, members = sequence_raws()
    member = store([members[0]])[0]

    html = client_for("analyst").get(f"/findings/{member.pk}/").content.decode()
    assert "not stored in GuardWatch" in html
    assert "?sequence=arn%3Aaws%3Aguardduty" in html


def test_a_hostile_actor_name_and_signal_text_come_out_escaped(client_for):
    raw, members = sequence_raws()
    details = raw["Service"]["Detection"]["Sequence"]
    details["Actors"][0]["User"]["Name"] = SCRIPT
    details["Description"] = '"><img src=x onerror=alert(1)>'
    details["Signals"][0]["Description"] = "</textarea><svg onload=alert(1)>"
    details["Resources"][0]["Name"] = "javascript:alert(1)"
    details["SequenceIndicators"][0]["Values"] = [SCRIPT]
    sequence = store([raw, *members])[0]

    html = client_for("analyst").get(f"/findings/{sequence.pk}/sequence/").content.decode()
    assert SCRIPT not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_a_finding_that_is_not_a_sequence_has_no_sequence_page(client_for):
    finding = store([raw_finding(random.Random(2))])[0]
    assert client_for("analyst").get(f"/findings/{finding.pk}/sequence/").status_code == 404


def test_a_signal_named_by_finding_id_resolves_to_the_stored_finding(client_for):
    raw, members = sequence_raws()
    for signal in raw["Service"]["Detection"]["Sequence"]["Signals"]:
        if signal["Type"] == "FINDING":
            signal["Uid"] = signal["Uid"].rsplit("/", 1)[1]  # the bare finding id
    for member in members:
        member.pop("AssociatedAttackSequenceArn")  # only the signals name them
    rows = store([raw, *members])

    html = client_for("analyst").get(f"/findings/{rows[0].pk}/sequence/").content.decode()
    assert html.count('data-testid="signal-finding"') == len(members)


# --- the list: filter and grouping ------------------------------------------------------------------------


def test_the_list_filters_one_sequence_and_any_sequence(client_for):
    sequence, members = stored_sequence()
    other, other_members = stored_sequence(seed=9, finding_type="AttackSequence:S3/CompromisedData")
    loner = store([raw_finding(random.Random(4))])[0]
    client = client_for("analyst")

    one = client.get("/findings/", {"sequence": sequence.arn, "size": 200}).content.decode()
    assert all(f'data-finding="{f.pk}"' in one for f in (sequence, *members))
    assert not any(f'data-finding="{f.pk}"' in one for f in (other, *other_members, loner))
    assert "in attack sequence" in one

    anywhere = client.get("/findings/", {"sequence": "any", "size": 200}).content.decode()
    assert all(f'data-finding="{f.pk}"' in anywhere for f in (*members, *other_members))
    assert f'data-finding="{loner.pk}"' not in anywhere


def test_a_sequence_filter_that_is_not_an_arn_is_refused_with_the_expected_form():
    filters = FindingFilters.from_query(QueryDict("sequence=finding-123"))
    assert filters.sequence == ""
    assert "neither “any” nor a GuardDuty finding ARN" in filters.errors[0]


def test_a_sequence_filter_cannot_become_a_suppression_rule():
    sequence, _ = sequence_raws()
    with pytest.raises(TriageError, match="attack sequence"):
        suppression_criteria(filters=FindingFilters.from_query(QueryDict(f"sequence={sequence['Arn']}")))


def test_grouped_by_sequence_one_row_counts_its_signals_by_severity_and_status(client_for, analyst):
    sequence, members = stored_sequence()
    stored_sequence(seed=9, finding_type="AttackSequence:S3/CompromisedData")
    Finding.objects.filter(pk=members[0].pk).update(status=TriageStatus.RESOLVED)
    from triage.selectors import sequence_groups

    groups = {group.arn: group for group in sequence_groups(filters=FindingFilters(), user=analyst)}
    group = groups[sequence.arn]
    assert len(groups) == 2
    assert group.sequence == sequence and group.total == len(members)
    assert sum(group.by_band.values()) == len(members)
    assert group.by_band["low"] == sum(1 for m in members if m.severity < 4)
    assert (group.open, group.closed) == (len(members) - 1, 1)

    html = client_for("analyst").get("/findings/", {"group": "sequence"}).content.decode()
    assert 'data-testid="sequence-groups"' in html
    assert f'href="/findings/{sequence.pk}/sequence/"' in html
    assert "sequence=arn%3Aaws%3Aguardduty" in html  # each count opens the filtered list


def test_grouping_reads_the_partial_sequence_index(analyst):
    stored_sequence()
    from triage.selectors import sequence_groups

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            sequence_groups(filters=FindingFilters(), user=analyst)
        grouped = next(q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"])
        cursor.execute("EXPLAIN " + grouped)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "finding_sequence_idx" in plan


def test_signals_seen_weeks_apart_still_group_under_their_sequence(analyst):
    sequence, members = stored_sequence(now=datetime(2026, 10, 1, tzinfo=UTC))
    later = store([{**raw_finding(random.Random(8), now=NOW - timedelta(days=1)),
                    "AssociatedAttackSequenceArn": sequence.arn}])[0]
    from triage.selectors import sequence_groups

    group = sequence_groups(filters=FindingFilters(), user=analyst)[0]
    assert group.total == len(members) + 1 and group.last_seen == later.last_seen
