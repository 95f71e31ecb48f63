"""Coverage as desired state: policies per scope, drift against the synced tables, alerts and compliance."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.drift import drift_evaluate
from accounts.models import (
    ComplianceDay,
    CoveragePolicy,
    Deviation,
    MemberAccount,
    MemberProtection,
    Membership,
    RegionState,
)
from accounts.policies import policies_ordered, policy_conflicts, policy_resolve
from guardwatch.core.models import Alert, AuditEntry
from tests.accounts.helpers import accounts_make

Scope = CoveragePolicy.Scope
REGIONS = ["us-east-1", "eu-west-1"]
ALL_ON = {"s3_data_events": "ENABLED", "eks_audit_logs": "ENABLED", "runtime_monitoring": "ENABLED",
          "ebs_malware_protection": "ENABLED", "rds_login_events": "ENABLED", "lambda_network_logs": "ENABLED",
          "ai_protection": "ENABLED"}  # fmt: skip
AGENTS_ON = {"RUNTIME_MONITORING": {"EKS_ADDON_MANAGEMENT": "ENABLED", "EC2_AGENT_MANAGEMENT": "ENABLED"}}


def policy(
    name, scope=Scope.ORGANISATION, value="", *, accounts=(), regions=(), plans=("s3_data_events",), agents=()
):
    return CoveragePolicy.objects.create(name=name, scope=scope, scope_value=value, scope_accounts=list(accounts),
                                         regions=list(regions), plans=list(plans), runtime_agents=list(agents))  # fmt: skip


def monitored(account, region, **plans):
    membership = Membership.objects.create(account=account, region=region, relationship_status="Enabled")
    MemberProtection.objects.create(membership=membership, checked_at=timezone.now(),
                                    additional_configuration=AGENTS_ON, **{**ALL_ON, **plans})  # fmt: skip
    return membership


@pytest.fixture
def estate(db, settings):
    settings.GUARDWATCH_AWS_REGIONS = REGIONS
    for region in REGIONS:
        RegionState.objects.create(region=region, detector_id=f"det-{region}", account_enabled=True)
    return accounts_make(3)


def test_most_specific_scope_wins_accounts_over_tag_over_ou_over_organisation(estate):
    first, second, third = estate
    MemberAccount.objects.filter(pk=first.pk).update(tags=["prod"], organizational_unit="ou-ab12-34567890")
    MemberAccount.objects.filter(pk=second.pk).update(organizational_unit="ou-ab12-34567890")
    org = policy("everything")
    ou = policy("the OU", Scope.OU, "ou-ab12-34567890", plans=["eks_audit_logs"])
    tag = policy("prod", Scope.TAG, "prod", plans=["rds_login_events"])
    listed = policy("listed", Scope.ACCOUNTS, accounts=[third.account_id], plans=["ai_protection"])

    def applied(account):
        account.refresh_from_db()
        return policy_resolve(policies_ordered(), account_id=account.account_id, tags=account.tags,
                              ou=account.organizational_unit).policy  # fmt: skip

    assert (applied(first), applied(second), applied(third)) == (tag, ou, listed)
    CoveragePolicy.objects.filter(pk__in=[tag.pk, ou.pk, listed.pk]).delete()
    assert applied(first) == org


def test_admin_sees_two_same_scope_policies_that_disagree_listed_as_a_conflict(estate, client_for):
    first = estate[0]
    MemberAccount.objects.filter(pk=first.pk).update(tags=["prod", "pci"])
    older = policy("prod", Scope.TAG, "prod", plans=["s3_data_events"])
    newer = policy("pci", Scope.TAG, "pci", plans=["rds_login_events"])

    conflicts, total = policy_conflicts()

    assert total == 1 and conflicts[0].applied == older and conflicts[0].ignored == (newer,)
    html = client_for("admin").get("/accounts/policies/").content.decode()
    section = html.split('id="conflicts"')[1].split("</section>")[0]
    assert first.account_id in section and "pci" in section


@pytest.mark.parametrize(
    ("status", "cause"),
    [("", "Not a member"), ("Invited", "has not accepted"), ("Disabled", "stopped monitoring"),
     ("Resigned", "left the administrator"), ("Created", "never invited")],
)  # fmt: skip
def test_each_unmonitored_status_is_a_deviation_with_its_cause(estate, status, cause):
    account = estate[0]
    policy("everything", regions=["us-east-1"], plans=[])
    if status:
        Membership.objects.create(account=account, region="us-east-1", relationship_status=status)

    drift_evaluate()

    found = Deviation.objects.get(account=account)
    assert (found.kind, found.region, found.status) == ("membership", "us-east-1", status)
    assert cause in found.cause


def test_a_plan_off_and_an_unmanaged_runtime_agent_are_deviations_with_their_causes(estate):
    account = estate[0]
    policy("everything", regions=["eu-west-1"], plans=["s3_data_events", "runtime_monitoring"],
           agents=["EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT"])  # fmt: skip
    monitored(account, "eu-west-1", s3_data_events="DISABLED")

    drift_evaluate()

    found = {(d.kind, d.feature): d for d in Deviation.objects.filter(account=account)}
    assert set(found) == {("plan", "s3_data_events"), ("agent", "ECS_FARGATE_AGENT_MANAGEMENT")}
    assert found[("plan", "s3_data_events")].cause == "S3 is DISABLED."
    assert "not reported" in found[("agent", "ECS_FARGATE_AGENT_MANAGEMENT")].cause


def test_organisation_auto_enable_other_than_all_is_a_region_deviation(estate):
    policy("everything", plans=[])
    RegionState.objects.filter(region="eu-west-1").update(org_auto_enable_members="NEW")
    RegionState.objects.filter(region="us-east-1").update(org_auto_enable_members="ALL")

    drift_evaluate()

    found = Deviation.objects.get(kind="auto_enable")
    assert (found.account, found.region, found.status) == (None, "eu-west-1", "NEW")
    assert "existing ones that are not members stay out" in found.cause


def test_a_new_deviation_raises_one_alert_per_account_and_kind_once(estate):
    account = estate[0]
    policy("everything", accounts=(), plans=["s3_data_events", "rds_login_events"])
    for region in REGIONS:
        monitored(account, region, s3_data_events="DISABLED", rds_login_events="DISABLED")
    for other in estate[1:]:
        for region in REGIONS:
            monitored(other, region)

    drift_evaluate()
    drift_evaluate()

    alert = Alert.objects.get()
    assert alert.occurrences == 1 and alert.kind == "drift.plan"
    assert (
        account.account_id in alert.title
        and "RDS, S3" in alert.title
        and "eu-west-1, us-east-1" in alert.title
    )


def test_fixed_deviations_are_resolved_and_compliance_is_recorded_per_day(estate):
    account = estate[0]
    policy("everything", plans=["s3_data_events"])
    for a in estate:
        for region in REGIONS:
            monitored(
                a, region, s3_data_events="DISABLED" if a == account and region == "us-east-1" else "ENABLED"
            )

    first = drift_evaluate()
    assert (first.pairs, first.compliant, first.new) == (6, 5, 1)
    MemberProtection.objects.filter(membership__account=account).update(s3_data_events="ENABLED")
    second = drift_evaluate()

    assert (second.resolved, Deviation.objects.count()) == (1, 0)
    day = ComplianceDay.objects.get()
    assert (day.pairs, day.compliant, day.percent) == (6, 6, 100.0)


def test_admin_creating_an_ou_policy_without_an_ou_id_sees_the_error_and_nothing_is_saved(estate, client_for):
    response = client_for("admin").post("/accounts/policies/add/", {"name": "eu", "scope": "ou", "scope_value": "x",
                                                                    "regions": "eu-west-1, moon-1"})  # fmt: skip

    assert response.status_code == 200
    html = response.content.decode()
    assert "An OU policy needs an OU id" in html and "Not AWS region names: moon-1" in html
    assert not CoveragePolicy.objects.exists()


def test_admin_creates_a_tag_policy_and_it_is_audited(estate, client_for):
    response = client_for("admin").post("/accounts/policies/add/", {
        "name": "prod", "scope": "tag", "scope_value": "prod", "regions": "eu-west-1",
        "plans": ["s3_data_events", "runtime_monitoring"], "runtime_agents": ["EKS_ADDON_MANAGEMENT"],
        "finding_publishing_frequency": "FIFTEEN_MINUTES"})  # fmt: skip

    assert response.status_code == 302
    saved = CoveragePolicy.objects.get()
    assert (saved.scope, saved.scope_value, saved.regions, saved.runtime_agents) == (
        "tag",
        "prod",
        ["eu-west-1"],
        ["EKS_ADDON_MANAGEMENT"],
    )
    assert AuditEntry.objects.filter(verb="policy.create").exists()


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_only_an_admin_may_edit_policies(estate, client_for, persona):
    response = client_for(persona).post("/accounts/policies/add/", {"name": "x", "scope": "organisation"})
    assert response.status_code == 403 and not CoveragePolicy.objects.exists()


def test_manager_sees_each_deviation_with_its_cause_and_the_compliance_chart(estate, client_for):
    policy("everything", regions=["us-east-1"], plans=["s3_data_events"])
    monitored(estate[0], "us-east-1", s3_data_events="DISABLED")
    monitored(estate[1], "us-east-1")
    drift_evaluate()

    html = client_for("manager").get("/accounts/drift/").content.decode()

    row = html.split('id="deviations"')[1].split("</table>")[0]
    assert estate[0].account_id in row and "S3 is DISABLED." in row and "Not a member in this region" in row
    assert '<svg class="chart-svg"' in html and "33.3 %" in html.split('id="compliance"')[1]


@pytest.mark.django_db
def test_runtime_resources_without_a_healthy_agent_are_a_deviation_read_with_few_calls(simulator, settings):
    from accounts.member_sync import members_sync_region
    from accounts.protection import member_protection_sync_region
    from tests.findings.simulated import MEMBERS
    from tests.findings.simulated import estate as simulated_estate

    region = "us-east-1"
    settings.GUARDWATCH_AWS_REGIONS = [region]
    simulated_estate(simulator, [region], per_region=0)
    for member in MEMBERS:  # the first with Runtime off (every resource UNHEALTHY), the second with it on
        detector = simulator.scope(member, region).detector
        detector.features = {
            **detector.features,
            "RUNTIME_MONITORING": "DISABLED" if member == MEMBERS[0] else "ENABLED",
        }
    members_sync_region(region=region)
    member_protection_sync_region(region=region)
    policy(
        "everything", Scope.ACCOUNTS, accounts=[MEMBERS[0]], regions=[region], plans=["runtime_monitoring"]
    )

    drift_evaluate()

    found = Deviation.objects.get(kind="agent", feature="COVERAGE")
    assert found.account.account_id == MEMBERS[0] and found.status == "UNHEALTHY"
    assert "without a healthy runtime agent (ListCoverage): Runtime Monitoring is not enabled" in found.cause
    assert simulator.call_counts["GetCoverageStatistics"] == 1 and simulator.call_counts["ListCoverage"] == 1
    # The same sync reads the administrator's publishing frequency (GetDetector), which policies check per region.
    assert RegionState.objects.get(region=region).finding_publishing_frequency == "SIX_HOURS"
