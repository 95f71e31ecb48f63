"""Protection-plan sync (a write): GetMemberDetectors for every associated member of a region.

Run after the member sync by beat (`accounts.tasks.member_protection_sync_all_regions`); idempotent,
one upsert per region. Members GuardDuty did not describe (not associated, no detector) keep their
last known row, which the coverage page dates with `checked_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.gateway import GatewayError
from accounts.models import PROTECTION_PLANS, MemberProtection, Membership, RegionState
from guardwatch.core.data_version import data_version_bump

# GetMemberDetectors describes members the administrator holds: monitored or paused.
ASSOCIATED = ("Enabled", "Disabled")


@dataclass
class ProtectionSyncResult:
    """What one region's protection sync read and wrote."""

    region: str
    members: int = 0
    described: int = 0
    error: str = ""


def plan_statuses(features: dict[str, str]) -> dict[str, str]:
    """GuardDuty feature names → this model's plan fields: ENABLED when any of a plan's features is
    (Runtime: RUNTIME_MONITORING or the legacy EKS_RUNTIME_MONITORING), else the first one reported;
    "" when GuardDuty did not mention the plan."""
    found = {}
    for field_name, (names, _label) in PROTECTION_PLANS.items():
        statuses = [features[n].upper() for n in names if features.get(n)]
        found[field_name] = "ENABLED" if "ENABLED" in statuses else next(iter(statuses), "")
    return found


def member_protection_sync_region(*, region: str) -> ProtectionSyncResult:
    """Read the protection plans of the region's associated members into MemberProtection."""
    outcome = ProtectionSyncResult(region=region)
    state = RegionState.objects.filter(region=region).first()
    if state is None or not state.detector_id:
        outcome.error = f"No administrator detector known in {region}; run the member sync first."
        return outcome
    memberships = dict(
        Membership.objects.filter(region=region, relationship_status__in=ASSOCIATED).values_list(
            "account__account_id", "id"
        )
    )
    outcome.members = len(memberships)
    if not memberships:
        return outcome
    try:
        described = gateway.member_detectors_get(
            region=region, detector_id=state.detector_id, account_ids=sorted(memberships)
        )
    except GatewayError as error:
        outcome.error = error.message
        return outcome
    outcome.described = _store(state, described, memberships)
    try:
        frequency = gateway.detector_publishing_frequency(region=region, detector_id=state.detector_id)
        RegionState.objects.filter(pk=state.pk).update(finding_publishing_frequency=frequency)
        unhealthy, _calls = gateway.coverage_unhealthy_list(region=region, detector_id=state.detector_id)
    except GatewayError as error:
        outcome.error = error.message  # the plans are stored; runtime coverage keeps its last reading
        return outcome
    _coverage_store(region, unhealthy, memberships)
    return outcome


def _coverage_store(region: str, unhealthy: list[gateway.UnhealthyCoverage], memberships: dict[str, int]) -> None:
    """Record each member's UNHEALTHY runtime resources (three queries); members not listed have none."""
    listed = {memberships[item.account_id]: item for item in unhealthy if item.account_id in memberships}
    with transaction.atomic():
        MemberProtection.objects.filter(membership__region=region, runtime_unhealthy__gt=0).exclude(
            membership_id__in=list(listed)
        ).update(runtime_unhealthy=0, runtime_issue="")
        rows = list(MemberProtection.objects.filter(membership_id__in=list(listed)).only("pk", "membership_id"))
        for row in rows:
            row.runtime_unhealthy = listed[row.membership_id].resources
            row.runtime_issue = listed[row.membership_id].issue[:255]
        MemberProtection.objects.bulk_update(rows, ["runtime_unhealthy", "runtime_issue"], batch_size=1000)


def member_protection_refresh(*, region: str, detector_id: str, account_ids: list[str]) -> int:
    """Read some members' plans again (GetMemberDetectors, 50 per call) after changing them; returns the calls."""
    if not account_ids:
        return 0
    memberships = dict(
        Membership.objects.filter(region=region, account__account_id__in=account_ids).values_list(
            "account__account_id", "id"
        )
    )
    described = gateway.member_detectors_get(region=region, detector_id=detector_id, account_ids=sorted(memberships))
    state = RegionState.objects.get(region=region)
    _store(state, described, memberships)
    calls = -(-len(memberships) // gateway.BATCH)
    # Runtime coverage too (ListCoverage, UNHEALTHY only, once per region): turning on Runtime or its automated
    # agent management is what makes resources report, so drift's re-check must not keep the old reading.
    try:
        unhealthy, listed = gateway.coverage_unhealthy_list(region=region, detector_id=detector_id)
    except GatewayError:
        return calls  # the plans are stored; coverage keeps its last reading until the region's sync
    associated = dict(Membership.objects.filter(region=region, relationship_status__in=ASSOCIATED)
                      .values_list("account__account_id", "id"))  # fmt: skip
    _coverage_store(region, unhealthy, {**associated, **memberships})
    return calls + listed


def _store(state: RegionState, described: list[gateway.MemberDetector], memberships: dict[str, int]) -> int:
    """Upsert what GetMemberDetectors described; returns how many rows were written."""
    now = timezone.now()
    rows = []
    for item in described:
        if item.account_id not in memberships:
            continue
        plans = plan_statuses(item.features)
        rows.append(
            MemberProtection(
                membership_id=memberships[item.account_id],
                checked_at=now,
                plans_off=sum(1 for status in plans.values() if status == "DISABLED"),
                additional_configuration=item.additional,
                **plans,
            )
        )
    with transaction.atomic():
        MemberProtection.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["membership"],
            update_fields=[*PROTECTION_PLANS, "additional_configuration", "plans_off", "checked_at"],
        )
        if rows:  # the region's freshness on the coverage page: the newest checked_at of its plans
            RegionState.objects.filter(pk=state.pk).update(protection_checked_at=now)
        transaction.on_commit(data_version_bump)
    return len(rows)
