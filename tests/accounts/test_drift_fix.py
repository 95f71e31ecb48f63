"""Fixing drift: the preview names the exact AWS calls, their count and the paid plans; the fix runs in Celery."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.drift import drift_evaluate
from accounts.drift_fix import fix_plan
from accounts.models import (
    ComplianceDay,
    CoveragePolicy,
    Deviation,
    MemberAccount,
    MemberOperation,
    RegionState,
)
from tests.accounts.helpers import accounts_make

REGION = "us-east-1"


def deviation(policy, account, kind, *, status="", feature="", region=REGION):
    return Deviation.objects.create(policy=policy, account=account, region=region, kind=kind, status=status,
                                    feature=feature, cause="…", first_seen_at=timezone.now())  # fmt: skip


@pytest.fixture
def policy(db, settings):
    settings.GUARDWATCH_AWS_REGIONS = [REGION, "eu-west-1"]
    return CoveragePolicy.objects.create(name="everything", scope="organisation", plans=["rds_login_events"])


def test_admin_previews_the_exact_calls_their_count_and_the_paid_plans_turned_on(policy, client_for):
    disabled, org, outsider, resigned, invited, *rds = accounts_make(125)
    MemberAccount.objects.filter(pk=org.pk).update(in_organization=True)
    org.refresh_from_db()
    chosen = [deviation(policy, disabled, "membership", status="Disabled"),
              deviation(policy, org, "membership", status=""),
              deviation(policy, outsider, "membership", status=""),
              deviation(policy, resigned, "membership", status="Resigned"),
              deviation(policy, invited, "membership", status="Invited"),
              deviation(policy, None, "auto_enable", status="NEW", region="eu-west-1"),
              deviation(policy, rds[0], "agent", feature="EKS_ADDON_MANAGEMENT")]  # fmt: skip
    chosen += [deviation(policy, account, "plan", feature="rds_login_events") for account in rds[1:]]

    plan = fix_plan(deviation_ids=[d.pk for d in chosen])

    steps = {(s.region, s.operations, s.features): (s.account_ids, s.calls) for s in plan.steps}
    assert steps == {
        ("eu-west-1", ("UpdateOrganizationConfiguration",), ()): ([], 1),
        # An account the fix makes monitored gets its policy's plans in the same operation; an invited one cannot
        # until it accepts.
        (REGION, ("CreateMembers", "UpdateMemberDetectors"), ("RDS_LOGIN_EVENTS",)): ([org.account_id], 2),
        (REGION, ("CreateMembers", "InviteMembers"), ()): ([outsider.account_id], 2),
        (REGION, ("InviteMembers",), ()): ([resigned.account_id], 1),
        (REGION, ("StartMonitoringMembers", "UpdateMemberDetectors"), ("RDS_LOGIN_EVENTS",)): ([disabled.account_id], 2),
        (REGION, ("UpdateMemberDetectors",), ("RDS_LOGIN_EVENTS",)): ([a.account_id for a in rds[1:]], 3),  # 119
        (REGION, ("UpdateMemberDetectors",), ("EKS_ADDON_MANAGEMENT", "RUNTIME_MONITORING")): ([rds[0].account_id], 1),
    }  # fmt: skip
    assert plan.calls == 12
    assert plan.paid_plans == ["Runtime", "RDS", "EKS_ADDON_MANAGEMENT"]
    assert [d.account for d, _reason in plan.skipped] == [invited]

    response = client_for("admin").post("/accounts/drift/fix/", {"deviation": [d.pk for d in chosen]})
    html = response.content.decode()
    assert response.status_code == 200 and 'data-calls="12"' in html
    assert "Turns on paid GuardDuty protection: Runtime, RDS, EKS_ADDON_MANAGEMENT" in html
    assert not MemberOperation.objects.exists()  # a preview changes nothing


def test_analyst_cannot_preview_or_run_a_fix(policy, client_for):
    account = accounts_make(1)[0]
    found = deviation(policy, account, "membership", status="Disabled")
    response = client_for("analyst").post("/accounts/drift/fix/", {"deviation": [found.pk], "confirm": "yes"})
    assert response.status_code == 403 and not MemberOperation.objects.exists()


@pytest.mark.worker
def test_admin_fixes_drift_through_the_worker_against_the_simulator_and_compliance_reaches_100(
    simulator, celery_worker_process, transactional_db, settings, admin
):
    from accounts import gateway
    from accounts.drift_fix import drift_fix_start
    from accounts.member_sync import members_sync_region
    from accounts.protection import member_protection_sync_region
    from tests.findings.simulated import MEMBERS, estate
    from tests.support.waiting import wait_for

    region = settings.GUARDWATCH_AWS_REGIONS[0]
    estate(simulator, [region], per_region=0)
    detector = simulator.detector_id("111111111111", region)
    scope = simulator.scope(MEMBERS[0], region).detector
    scope.features = {**scope.features, "RDS_LOGIN_EVENTS": "DISABLED"}
    gateway.members_stop_monitoring(region=region, detector_id=detector, account_ids=[MEMBERS[1]])
    members_sync_region(region=region)
    member_protection_sync_region(region=region)
    CoveragePolicy.objects.create(name="members", scope="accounts", scope_accounts=list(MEMBERS), regions=[region],
                                  plans=["rds_login_events"])  # fmt: skip
    RegionState.objects.filter(region=region).update(account_enabled=True)
    assert drift_evaluate().percent == 0.0

    plan = fix_plan(deviation_ids=list(Deviation.objects.values_list("pk", flat=True)))
    assert sorted((s.operations, s.calls) for s in plan.steps) == [
        (("StartMonitoringMembers", "UpdateMemberDetectors"), 2), (("UpdateMemberDetectors",), 1)]  # fmt: skip
    scope = simulator.scope(MEMBERS[1], region).detector
    scope.features = {**scope.features, "RDS_LOGIN_EVENTS": "DISABLED"}  # off where monitoring stopped, too
    drift_fix_start(plan=plan, actor=admin)

    wait_for(lambda: ComplianceDay.objects.filter(compliant=2, pairs=2).exists(), timeout=60,
             what="the fix to run in the worker and the policies to be evaluated again at 100 %")  # fmt: skip
    for member in MEMBERS[:2]:  # the stopped member restarted and given its policy's plan in the same operation
        assert simulator.scope(member, region).detector.features["RDS_LOGIN_EVENTS"] == "ENABLED"
    assert not Deviation.objects.exists()
    assert set(MemberOperation.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_publishing_frequency_other_than_the_policys_is_fixed_with_one_update_detector(
    simulator, policy, admin
):
    from accounts.drift_fix import drift_fix_start

    detector = simulator.ensure_detector("111111111111", REGION)
    RegionState.objects.create(region=REGION, detector_id=detector, account_enabled=True,
                               finding_publishing_frequency="SIX_HOURS")  # fmt: skip
    CoveragePolicy.objects.filter(pk=policy.pk).update(finding_publishing_frequency="FIFTEEN_MINUTES", plans=[],
                                                       regions=[REGION])  # fmt: skip
    accounts_make(1)

    drift_evaluate()
    found = Deviation.objects.get(kind="publishing")
    assert (found.region, found.status) == (REGION, "SIX_HOURS") and "every six hours" in found.cause
    plan = fix_plan(deviation_ids=[found.pk])
    assert [(s.operations, s.calls) for s in plan.steps] == [
        (("UpdateDetector",), 1)
    ] and plan.paid_plans == []

    drift_fix_start(plan=plan, actor=admin)

    assert simulator.scope("111111111111", REGION).detector.finding_publishing_frequency == "FIFTEEN_MINUTES"
    assert RegionState.objects.get(region=REGION).finding_publishing_frequency == "FIFTEEN_MINUTES"
