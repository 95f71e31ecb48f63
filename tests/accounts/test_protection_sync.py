"""The protection-plan sync reads GetMemberDetectors into the coverage page's "plans off" gap list."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.member_sync import members_sync_region
from accounts.models import MemberProtection, RegionState
from accounts.protection import member_protection_sync_region, plan_statuses
from tests.findings.simulated import MEMBERS, estate

REGION = "us-east-1"


def test_guardduty_feature_names_map_to_plans_with_runtime_falling_back_to_eks_runtime():
    plans = plan_statuses({"S3_DATA_EVENTS": "enabled", "EKS_RUNTIME_MONITORING": "DISABLED"})
    assert plans["s3_data_events"] == "ENABLED"
    assert plans["runtime_monitoring"] == "DISABLED"
    assert plans["lambda_network_logs"] == ""


@pytest.mark.django_db
def test_sync_records_each_monitored_members_plans_as_guardduty_reports_them(simulator, settings, client_for):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=0)
    members_sync_region(region=REGION)
    member = MEMBERS[0]
    features = simulator.scope(member, REGION).detector.features
    simulator.scope(member, REGION).detector.features = {**features, "EKS_AUDIT_LOGS": "DISABLED",
                                                         "S3_DATA_EVENTS": "ENABLED"}  # fmt: skip

    result = member_protection_sync_region(region=REGION)

    assert (result.members, result.described, result.error) == (2, 2, "")
    stored = MemberProtection.objects.get(membership__account__account_id=member)
    assert stored.eks_audit_logs == "DISABLED" and stored.s3_data_events == "ENABLED"
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    assert "EKS" in html.split('id="gap-plans_off"')[1].split("</table>")[0]


@pytest.mark.django_db
def test_sync_twice_keeps_one_row_per_membership(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=0)
    members_sync_region(region=REGION)
    member_protection_sync_region(region=REGION)
    member_protection_sync_region(region=REGION)
    assert MemberProtection.objects.count() == 2


@pytest.mark.worker
def test_a_members_sync_in_the_worker_goes_on_to_read_protection_plans(simulator, celery_worker_process,
                                                                        transactional_db, settings):
    from accounts.tasks import members_sync_region as members_sync_task
    from tests.support.waiting import wait_for

    estate(simulator, list(settings.GUARDWATCH_AWS_REGIONS), per_region=0)

    assert members_sync_task.delay(REGION).get(timeout=30)["error"] == ""

    wait_for(lambda: MemberProtection.objects.filter(membership__region=REGION).count() == len(MEMBERS),
             timeout=30, what="the worker to store each member's protection plans")  # fmt: skip


def _plans_checked_cell(client) -> str:
    """The "Protection plans checked" cell of the region's data-freshness row."""
    freshness = client.get("/accounts/coverage/").content.decode().split('id="freshness"')[1]
    row = re.search(rf'<tr data-region="{REGION}">.*?</tr>', freshness, re.S).group(0)
    return row.rsplit("<td>", 1)[1]


@pytest.mark.django_db
def test_coverage_freshness_shows_when_the_regions_plans_were_last_checked(simulator, settings, client_for):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=0)
    members_sync_region(region=REGION)
    manager = client_for("manager")
    assert "never" in _plans_checked_cell(manager)

    member_protection_sync_region(region=REGION)

    checked = RegionState.objects.get(region=REGION).protection_checked_at
    assert checked == MemberProtection.objects.filter(membership__region=REGION).latest("checked_at").checked_at
    assert f"{timezone.localtime(checked):%Y-%m-%d %H:%M}" in _plans_checked_cell(manager)


def test_every_member_feature_guardduty_reports_is_a_protection_plan():
    """botocore's model, MemberFeaturesConfigurationResult.Name (enum OrgFeature): each name is shown."""
    import botocore.session

    from accounts.models import PROTECTION_PLANS

    model = botocore.session.get_session().get_service_model("guardduty")
    reported = set(model.shape_for("MemberFeaturesConfigurationResult").members["Name"].enum)
    shown = {name for names, _label in PROTECTION_PLANS.values() for name in names}
    assert reported == shown


@pytest.mark.parametrize(
    ("features", "runtime"),
    [
        ({"RUNTIME_MONITORING": "DISABLED", "EKS_RUNTIME_MONITORING": "ENABLED"}, "ENABLED"),  # legacy on
        ({"RUNTIME_MONITORING": "ENABLED", "EKS_RUNTIME_MONITORING": "DISABLED"}, "ENABLED"),
        ({"RUNTIME_MONITORING": "DISABLED", "EKS_RUNTIME_MONITORING": "DISABLED"}, "DISABLED"),
        ({"EKS_RUNTIME_MONITORING": "DISABLED"}, "DISABLED"),
        ({}, ""),
    ],
)
def test_runtime_monitoring_is_on_when_either_runtime_feature_is(features, runtime):
    from accounts.protection import plan_statuses

    assert plan_statuses(features)["runtime_monitoring"] == runtime


def test_ai_protection_is_read_as_a_plan():
    from accounts.protection import plan_statuses

    assert plan_statuses({"AI_PROTECTION": "disabled"})["ai_protection"] == "DISABLED"


@pytest.mark.django_db
def test_reading_members_back_after_a_change_reads_runtime_coverage_again(simulator, settings):
    """A drift fix that turns automated agent management on reads the plans back; the region's runtime coverage
    must be read again too, or the re-check keeps the agents that did not report before the fix."""
    from accounts import gateway
    from accounts.protection import member_protection_refresh

    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=0)
    members_sync_region(region=REGION)
    for member in MEMBERS:
        simulator.scope(member, REGION).detector.features["RUNTIME_MONITORING"] = "DISABLED"
    member_protection_sync_region(region=REGION)
    assert all(row.runtime_unhealthy > 0 for row in MemberProtection.objects.all())  # Runtime off: nothing reports
    detector = RegionState.objects.get(region=REGION).detector_id
    agents = ["EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT"]
    gateway.member_detectors_update(region=REGION, detector_id=detector, account_ids=list(MEMBERS),
                                    features=["RUNTIME_MONITORING"], agents=agents)  # fmt: skip

    member_protection_refresh(region=REGION, detector_id=detector, account_ids=[MEMBERS[0]])

    # Every associated member of the region, not only the one read back: ListCoverage answers for the region.
    assert {row.runtime_unhealthy for row in MemberProtection.objects.all()} == {0}
    assert MemberProtection.objects.get(membership__account__account_id=MEMBERS[0]).runtime_monitoring == "ENABLED"
