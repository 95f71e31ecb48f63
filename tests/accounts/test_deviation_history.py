"""Each deviation's history (first seen, earlier causes, resolved) and compliance per policy and OU, which evidence
packs read: kept by every drift evaluation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.deviation_history import ORPHANED
from accounts.drift import drift_evaluate
from accounts.models import (
    ComplianceScopeDay,
    CoveragePolicy,
    Deviation,
    DeviationRecord,
    MemberAccount,
    Membership,
)
from accounts.policies import policy_delete
from tests.accounts.test_policies_drift import REGIONS, estate, monitored, policy  # noqa: F401 - the fixture

OU = "ou-ab12-34567890"


@pytest.fixture
def drifting(estate):  # noqa: F811 - the fixture imported above
    """Three accounts, the first in an OU; the second not accepted in eu-west-1, the third not a member there."""
    first, second, third = estate
    MemberAccount.objects.filter(pk=first.pk).update(organizational_unit=OU)
    for account in estate:
        monitored(account, "us-east-1")
    monitored(first, "eu-west-1")
    Membership.objects.create(account=second, region="eu-west-1", relationship_status="Invited")
    return estate


def test_each_evaluation_records_compliance_per_policy_and_ou(drifting):
    org = policy("everything", regions=REGIONS)
    ou = policy("the OU", CoveragePolicy.Scope.OU, OU, regions=["us-east-1"])

    drift_evaluate()
    drift_evaluate()  # the same day again: replaced, not added

    rows = {(r.policy_name, r.organizational_unit): (r.pairs, r.compliant) for r in ComplianceScopeDay.objects.all()}
    assert rows == {("the OU", OU): (1, 1), ("everything", ""): (4, 2)}
    assert {r.policy_id for r in ComplianceScopeDay.objects.all()} == {org.pk, ou.pk}


def test_a_deviation_is_recorded_when_first_seen_keeps_its_earlier_cause_and_is_resolved_when_fixed(drifting):
    policy("everything", regions=REGIONS)
    second = drifting[1]
    drift_evaluate()
    Membership.objects.filter(account=second, region="eu-west-1").update(relationship_status="Resigned")
    drift_evaluate()
    record = DeviationRecord.objects.get(account=second)
    assert record.resolved_at is None and record.status == "Resigned" and record.account_number == second.account_id
    assert [change["status"] for change in record.changes] == ["Invited"]

    Membership.objects.filter(account=second, region="eu-west-1").delete()
    monitored(second, "eu-west-1")
    monitored(drifting[2], "eu-west-1")
    drift_evaluate()

    assert not Deviation.objects.exists()
    assert DeviationRecord.objects.filter(resolved_at=None).count() == 0
    record.refresh_from_db()
    assert record.resolved_at is not None and record.resolution_note == ""


def test_deleting_a_policy_closes_its_open_records_at_the_next_evaluation_and_keeps_them(drifting, admin):
    doomed = policy("everything", regions=REGIONS)
    drift_evaluate()
    assert DeviationRecord.objects.filter(resolved_at=None).count() == 2

    policy_delete(policy=doomed, actor=admin)
    drift_evaluate()

    records = list(DeviationRecord.objects.all())
    assert len(records) == 2 and all(r.resolved_at and r.resolution_note == ORPHANED for r in records)
    assert {r.policy_name for r in records} == {"everything"} and {r.policy_id for r in records} == {None}


def test_deviations_found_before_the_history_existed_get_a_record_first_seen_as_they_were(drifting):
    policy("everything", regions=REGIONS)
    drift_evaluate()
    earlier = timezone.now() - timedelta(days=30)
    Deviation.objects.update(first_seen_at=earlier)
    DeviationRecord.objects.all().delete()  # as after upgrading: deviations, no records

    drift_evaluate()

    assert sorted(DeviationRecord.objects.values_list("first_seen_at", flat=True)) == [earlier, earlier]
    assert DeviationRecord.objects.filter(resolved_at=None).count() == Deviation.objects.count() == 2
