"""Suppression rules: a list filter pushed to GuardDuty as an ARCHIVE filter in every region."""

from __future__ import annotations

import pytest

from findings.models import Finding
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, estate
from triage.models import SuppressionRule
from triage.services import TriageError
from triage.suppression import suppression_rule_create

pytestmark = pytest.mark.django_db
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture
def synced(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = REGIONS
    estate(simulator, REGIONS, per_region=15)
    for region in REGIONS:
        findings_sync_region(region=region)
    return simulator


def filter_in(simulator, region: str, name: str):
    return simulator.scope(ADMIN, region).filters.get(name)


def test_a_rule_from_the_filter_becomes_an_archive_filter_in_every_region(synced, client_for):
    client = client_for("analyst")
    response = client.post(
        "/findings/suppression/new/",
        {
            "name": "quiet-port-probes",
            "reason": "Our scanner",
            "query": "band=low&band=medium&type_prefix=Recon:EC2/",
        },
    )
    assert response.status_code == 302
    for region in REGIONS:
        saved = filter_in(synced, region, "quiet-port-probes")
        assert saved.action == "ARCHIVE"
        assert saved.criteria == {"Criterion": {"severity": {"LessThan": 7}, "type": {"Matches": ["Recon:EC2/*"]}}}
    assert "quiet-port-probes" in client.get("/findings/suppression/").content.decode()


def test_stored_findings_matching_a_new_rule_are_marked_suppressed(synced, analyst):
    rule = suppression_rule_create(
        name="no-ec2-high", reason="Sandbox", query="band=high&resource_type=Instance", actor=analyst
    )
    matching = Finding.objects.filter(severity__gte=7, severity__lt=9, resource_type="Instance")
    assert matching.exists()
    assert set(matching.values_list("status", flat=True)) == {"suppressed"}
    assert not Finding.objects.exclude(pk__in=matching).filter(status="suppressed").exists()
    assert rule.regions == REGIONS


def test_a_filter_guardduty_cannot_express_is_refused_with_the_reason(synced, analyst, client_for):
    with pytest.raises(TriageError, match="free-text search, status"):
        suppression_rule_create(name="bad-rule", reason="x", query="q=bitcoin&status=open", actor=analyst)
    page = client_for("analyst").get("/findings/suppression/?query=q%3Dbitcoin").content.decode()
    assert "cannot express: free-text search" in page
    assert filter_in(synced, "us-east-1", "bad-rule") is None
    assert not SuppressionRule.objects.exists()


def test_past_a_hundred_filters_in_a_region_the_rule_is_refused_clearly(synced, analyst):
    from guardwatch.aws import guardduty

    client = guardduty("eu-west-1")
    detector = synced.detector_id(ADMIN, "eu-west-1")
    for index in range(100):
        client.create_filter(
            DetectorId=detector,
            Name=f"existing-{index}",
            FindingCriteria={"Criterion": {"severity": {"Gte": 1}}},
        )
    with pytest.raises(TriageError, match="eu-west-1 already has 100 GuardDuty filters"):
        suppression_rule_create(name="one-too-many", reason="x", query="band=low", actor=analyst)
    assert filter_in(synced, "us-east-1", "one-too-many") is None


def test_editing_a_rule_updates_the_filter_and_deleting_removes_it(synced, client_for, analyst):
    rule = suppression_rule_create(name="edit-me", reason="First", query="band=low", actor=analyst)
    client = client_for("analyst")
    client.post(
        f"/findings/suppression/{rule.pk}/", {"reason": "Second", "query": "band=low&account=222222222222"}
    )
    for region in REGIONS:
        saved = filter_in(synced, region, "edit-me")
        assert saved.description == "Second"
        assert saved.criteria["Criterion"]["accountId"] == {"Eq": ["222222222222"]}
    client.post(f"/findings/suppression/{rule.pk}/delete/")
    assert all(filter_in(synced, region, "edit-me") is None for region in REGIONS)
    assert not SuppressionRule.objects.exists()


def test_new_findings_matching_the_rule_arrive_archived_in_guardduty(synced, analyst):
    suppression_rule_create(name="all-low", reason="Noise", query="band=low", actor=analyst)
    synced.advance_clock(60)
    ids = synced.generate_findings(ADMIN, "us-east-1", 30)
    stored = [synced.region_findings("us-east-1").get(i) for i in ids]
    low = [s for s in stored if s.data["Severity"] < 4]
    assert low and all(s.archived for s in low)


# --- Only what GuardDuty accepts reaches CreateFilter (botocore's model text; see triage/suppression.py) -------


def test_a_reason_with_commas_and_symbols_is_kept_here_and_sent_reduced(synced, analyst):
    reason = "Our scanner, in QA — ticket #12; see https://wiki/scan?id=7"
    rule = suppression_rule_create(name="qa-scanner", reason=reason, query="band=low", actor=analyst)
    assert rule.reason == reason  # the analyst's words, whole
    for region in REGIONS:
        sent = filter_in(synced, region, "qa-scanner").description
        assert sent == "Our scanner in QA ticket 12 see https://wiki/scan id 7"
    assert SuppressionRule.objects.get().reason == reason


def test_editing_a_rule_with_a_comma_in_its_reason_updates_guardduty(synced, analyst):
    from triage.suppression import suppression_rule_update

    rule = suppression_rule_create(name="qa-scanner", reason="first", query="band=low", actor=analyst)
    suppression_rule_update(rule=rule, reason="second, with a comma", query="band=low", actor=analyst)
    assert filter_in(synced, "us-east-1", "qa-scanner").description == "second with a comma"
    assert SuppressionRule.objects.get().reason == "second, with a comma"


def test_severity_bounds_are_sent_as_whole_numbers_in_the_long_conditions(synced, analyst):
    suppression_rule_create(name="mid", reason="x", query="sev_min=5&sev_max=8", actor=analyst)
    assert filter_in(synced, "us-east-1", "mid").criteria == {
        "Criterion": {"severity": {"GreaterThanOrEqual": 5, "LessThanOrEqual": 8}}
    }


def test_a_decimal_severity_is_refused_before_anything_reaches_guardduty(synced, analyst):
    with pytest.raises(TriageError, match=r"whole severities: the lowest severity 6.5 cannot be sent. Use 6 or 7"):
        suppression_rule_create(name="decimal", reason="x", query="sev_min=6.5", actor=analyst)
    assert filter_in(synced, "us-east-1", "decimal") is None
    assert not SuppressionRule.objects.exists()


def test_more_than_fifty_accounts_are_refused_with_what_to_do(synced, analyst):
    accounts = "&".join(f"account={n:012d}" for n in range(1, 52))
    with pytest.raises(TriageError, match="at most 50 accounts; this filter names 51. Split it"):
        suppression_rule_create(name="many", reason="x", query=accounts, actor=analyst)
    assert not SuppressionRule.objects.exists()
    rule = suppression_rule_create(name="fifty", reason="x", query=accounts.rsplit("&", 1)[0], actor=analyst)
    assert len(rule.criteria["Criterion"]["accountId"]["Eq"]) == 50
