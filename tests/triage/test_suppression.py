"""Suppression rules: a list filter pushed to GuardDuty as an ARCHIVE filter in every region."""

from __future__ import annotations

import pytest

from findings.models import Finding
from findings.sync import findings_sync_region
from tests.findings.simulated import ADMIN, estate
from triage.models import SuppressionRule
from triage.services import TriageError
from triage.suppression import suppression_rule_approve, suppression_rule_create

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
            "query": "band=low&band=medium&type_prefix=Recon:EC2/&resource_type=Instance",
            "confirmed": "yes",
        },
    )
    assert response.status_code == 302
    for region in REGIONS:
        saved = filter_in(synced, region, "quiet-port-probes")
        assert saved.action == "ARCHIVE"
        assert saved.criteria == {"Criterion": {"severity": {"LessThan": 7}, "type": {"Matches": ["Recon:EC2/*"]},
                                                "resource.resourceType": {"Eq": ["Instance"]}}}
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
    change = {"reason": "Second", "query": "band=low&account=222222222222"}
    review = client.post(f"/findings/suppression/{rule.pk}/", change)
    assert 'data-testid="suppression-count"' in review.content.decode()
    assert filter_in(synced, "us-east-1", "edit-me").description == "First"  # nothing changed before confirming
    client.post(f"/findings/suppression/{rule.pk}/", {**change, "confirmed": "yes"})
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


# --- A rule that hides everything is refused; a rule that hides many waits for an Admin (issue 22.3) ----------


def _nothing_changed(simulator, name: str) -> None:
    assert all(filter_in(simulator, region, name) is None for region in REGIONS)
    assert not SuppressionRule.objects.exists()
    assert not Finding.objects.filter(status="suppressed").exists()


@pytest.mark.parametrize(
    "query",
    ["sev_min=0", "sev_min=1", "sev_max=10", "sev_min=0&sev_max=10", "type_contains=:", "type_contains=/"],
)
def test_criteria_every_finding_meets_are_refused_before_guardduty_hears_of_them(synced, client_for, query):
    client = client_for("analyst")
    response = client.post(
        "/findings/suppression/new/",
        {"name": "everything", "reason": "quiet", "query": query, "confirmed": "yes"},
        follow=True,
    )
    assert "would match every finding GuardDuty can produce" in response.content.decode()
    _nothing_changed(synced, "everything")
    preview = client.get("/findings/suppression/", {"query": query}).content.decode()
    assert "would match every finding GuardDuty can produce" in preview and "Review the rule" not in preview


def test_a_rule_matching_every_stored_finding_in_its_regions_is_refused(synced, analyst):
    accounts = sorted(set(Finding.objects.values_list("account_id", flat=True)))
    query = "&".join(f"account={a}" for a in accounts)  # every account that has findings: all of them
    with pytest.raises(TriageError, match=r"matches every one of the 30 findings GuardWatch holds in us-east-1, eu-west-1"):
        suppression_rule_create(name="all-accounts", reason="x", query=query, actor=analyst)
    _nothing_changed(synced, "all-accounts")


def test_the_confirmation_shows_how_many_findings_the_rule_would_hide_and_creates_nothing(synced, client_for):
    client = client_for("analyst")
    form = {"name": "quiet-low", "reason": "Noise", "query": "band=low"}
    hidden = Finding.objects.filter(severity__lt=4, status__in=["new", "acknowledged", "in_progress"]).count()
    assert hidden

    page = client.post("/findings/suppression/new/", form)

    assert page.status_code == 200
    count = page.content.decode().split('data-testid="suppression-count">')[1].split("</p>")[0]
    assert f"would hide <strong>{hidden}</strong> open finding" in count
    _nothing_changed(synced, "quiet-low")
    client.post("/findings/suppression/new/", {**form, "confirmed": "yes"})
    assert SuppressionRule.objects.get().status == "active"
    assert Finding.objects.filter(status="suppressed").count() == hidden


@pytest.fixture
def low_threshold(settings):
    settings.GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD = 3
    return Finding.objects


def _ask(client, name="wide-rule", query="band=low&band=medium"):
    return client.post(
        "/findings/suppression/new/", {"name": name, "reason": "Noise", "query": query, "confirmed": "yes"}
    )


def test_an_analysts_rule_hiding_more_than_the_threshold_waits_for_an_admin(synced, low_threshold, client_for):
    client = client_for("analyst")
    page = client.post("/findings/suppression/new/", {"name": "wide-rule", "reason": "Noise", "query": "band=low&band=medium"})
    assert 'data-testid="needs-approval"' in page.content.decode()

    _ask(client)

    rule = SuppressionRule.objects.get()
    assert rule.status == "pending" and rule.hidden_at_request > 3
    assert all(filter_in(synced, region, "wide-rule") is None for region in REGIONS)  # not in GuardDuty
    assert not Finding.objects.filter(status="suppressed").exists()
    assert client.post(f"/findings/suppression/{rule.pk}/approve/").status_code == 403  # not theirs to approve
    assert SuppressionRule.objects.get().status == "pending"
    assert "Awaiting approval" in client.get("/findings/suppression/").content.decode()


def test_an_admin_approves_and_the_rule_reaches_guardduty(synced, low_threshold, client_for):
    from guardwatch.core.models import AuditEntry

    _ask(client_for("analyst"))
    rule = SuppressionRule.objects.get()
    admin = client_for("admin")
    assert "Approve" in admin.get("/findings/suppression/").content.decode()

    admin.post(f"/findings/suppression/{rule.pk}/approve/")

    rule.refresh_from_db()
    assert rule.status == "active" and rule.decided_by.username == "admin"
    for region in REGIONS:
        saved = filter_in(synced, region, "wide-rule")
        assert saved.action == "ARCHIVE" and saved.criteria == {"Criterion": {"severity": {"LessThan": 7}}}
    assert Finding.objects.filter(status="suppressed").count() == rule.hidden_at_request
    entries = AuditEntry.objects.filter(target_id=str(rule.pk)).order_by("id")
    assert [(e.verb, e.actor_name) for e in entries] == [
        ("findings.suppression_request", "analyst"),
        ("findings.suppression_approve", "admin"),
    ]


def test_an_admin_rejects_with_a_reason_and_nothing_reaches_guardduty(synced, low_threshold, client_for):
    from guardwatch.core.models import AuditEntry

    _ask(client_for("analyst"))
    rule = SuppressionRule.objects.get()
    admin = client_for("admin")
    admin.post(f"/findings/suppression/{rule.pk}/reject/", {"note": "Too broad: <b>name the scanner</b>"})

    rule.refresh_from_db()
    assert rule.status == "rejected" and rule.decision_note == "Too broad: <b>name the scanner</b>"
    assert all(filter_in(synced, region, "wide-rule") is None for region in REGIONS)
    assert not Finding.objects.filter(status="suppressed").exists()
    assert AuditEntry.objects.filter(verb="findings.suppression_reject", actor_name="admin").exists()
    page = client_for("analyst").get("/findings/suppression/").content.decode()
    assert "Too broad: &lt;b&gt;name the scanner&lt;/b&gt;" in page
    admin.post(f"/findings/suppression/{rule.pk}/approve/")  # too late: decided
    assert SuppressionRule.objects.get().status == "rejected"


def test_nobody_approves_their_own_rule(synced, low_threshold, analyst, client_for):
    from guardwatch.core.roles import Role
    from guardwatch.core.services import user_set_role

    _ask(client_for("analyst"))
    user_set_role(user=analyst, role=Role.ADMIN)  # promoted since asking
    response = client_for("analyst").post(f"/findings/suppression/{SuppressionRule.objects.get().pk}/approve/", follow=True)
    assert "another Admin must approve it" in response.content.decode()
    assert SuppressionRule.objects.get().status == "pending"
    assert all(filter_in(synced, region, "wide-rule") is None for region in REGIONS)


def test_an_admins_own_rule_above_the_threshold_waits_for_a_second_admin(synced, low_threshold, admin):
    rule = suppression_rule_create(name="wide-rule", reason="Noise", query="band=low&band=medium", actor=admin)
    assert rule.status == "pending" and rule.hidden_at_request > 3
    assert filter_in(synced, "us-east-1", "wide-rule") is None
    with pytest.raises(TriageError, match="another Admin must approve it"):
        suppression_rule_approve(rule=rule, actor=admin)


def test_with_approval_always_on_even_a_small_rule_waits(synced, settings, analyst):
    settings.GUARDWATCH_SUPPRESSION_APPROVAL = "always"
    rule = suppression_rule_create(name="tiny", reason="x", query="band=critical&account=111111111111", actor=analyst)
    assert rule.status == "pending"
    assert filter_in(synced, "us-east-1", "tiny") is None


def test_an_analyst_cannot_widen_an_approved_rule_past_the_threshold(synced, low_threshold, analyst):
    from triage.suppression import suppression_rule_update

    rule = suppression_rule_create(name="narrow", reason="x", query="band=critical&sev_min=9", actor=analyst)
    assert rule.status == "active"
    with pytest.raises(TriageError, match="without an Admin's approval"):
        suppression_rule_update(rule=rule, reason="x", query="band=low&band=medium", actor=analyst)
    assert filter_in(synced, "us-east-1", "narrow").criteria == rule.criteria


def test_an_edit_that_would_match_every_finding_is_refused_too(synced, admin):
    from triage.suppression import suppression_rule_update

    rule = suppression_rule_create(name="narrow", reason="x", query="band=critical&sev_min=9", actor=admin)
    with pytest.raises(TriageError, match="would match every finding GuardDuty can produce"):
        suppression_rule_update(rule=rule, reason="x", query="sev_min=1", actor=admin)  # not even an Admin
    assert filter_in(synced, "us-east-1", "narrow").criteria == rule.criteria
