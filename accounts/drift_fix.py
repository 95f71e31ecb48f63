"""Fixing drift: from selected deviations, the exact AWS calls that would fix them (the preview), then the run.

The preview is computed from the stored deviations and member data, without calling AWS. The run reuses member
operations (Celery, progress, audit, retry): StartMonitoringMembers, CreateMembers (organisation accounts) or
CreateMembers + InviteMembers, and UpdateMemberDetectors (a plan set per operation), plus UpdateDetector (publishing
frequency) and UpdateOrganizationConfiguration (auto-enable), and CreateMalwareProtectionPlan (S3 buckets, as the
member that owns each, in the bucket's region). Each operation evaluates the policies again when it finishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import aws_organizations, gateway
from accounts.gateway import BATCH
from accounts.models import (
    PROTECTION_PLANS,
    RUNTIME_AGENTS,
    CoveragePolicy,
    Deviation,
    MemberAccount,
    MemberOperation,
    RegionState,
    S3Bucket,
)
from accounts.operations import member_operation_start
from accounts.s3_malware import PAID_PLAN, role_arn
from accounts.services import administrator_detector, configured_regions
from guardwatch.core.services import audit_record

Action = MemberOperation.Action
Kind = Deviation.Kind
FEATURE_NAMES = {name: names[0] for name, (names, _label) in PROTECTION_PLANS.items()}  # field -> GuardDuty name
PLAN_LABELS = {names[0]: label for names, label in PROTECTION_PLANS.values()}
# What each membership status needs to become monitored, by whether the account is in the organisation.
ORG_ADD_FROM = ("", "Removed")
INVITE_FROM = ("", "Removed", "Resigned", "Created")
WAITING = {
    "Invited": "Waiting for the member to accept the invitation (or accept on its behalf from the account page).",
    "EmailVerificationInProgress": "GuardDuty is still verifying the member's email.",
    "EmailVerificationFailed": "Needs “Re-create with a corrected email” on the account page.",
}


@dataclass
class FixStep:
    """One kind of work in one region: the AWS operations, the accounts they take, and how many calls."""

    region: str
    action: str  # MemberOperation.Action, or "auto_enable"
    operations: tuple[str, ...]
    accounts: list[MemberAccount] = field(default_factory=list)
    features: tuple[str, ...] = ()  # GuardDuty feature and agent names to turn on
    buckets: list[S3Bucket] = field(default_factory=list)  # s3_malware: one CreateMalwareProtectionPlan each

    @property
    def calls(self) -> int:
        if self.action in ("auto_enable", "publishing"):
            return 1
        if self.action == Action.S3_MALWARE:
            return len(self.buckets)
        return len(self.operations) * -(-len(self.accounts) // BATCH)

    @property
    def account_ids(self) -> list[str]:
        return [account.account_id for account in self.accounts]

    @property
    def plan_calls(self) -> list[tuple[str, str, str]]:
        """s3_malware: (account id, bucket, scanning role ARN) of each CreateMalwareProtectionPlan, in this region."""
        return [(b.account.account_id, b.name, role_arn(b.account.account_id)) for b in self.buckets]


@dataclass
class FixPlan:
    """What fixing the selected deviations would do."""

    steps: list[FixStep]
    skipped: list[tuple[Deviation, str]]
    deviation_ids: list[int]

    @property
    def calls(self) -> int:
        return sum(step.calls for step in self.steps)

    @property
    def paid_plans(self) -> list[str]:
        """Protection plans (all billed by GuardDuty) the fix turns on, and Runtime's agents."""
        names = {name for step in self.steps if step.action != "publishing" for name in step.features}
        labels = [label for feature, label in PLAN_LABELS.items() if feature in names]
        s3 = [PAID_PLAN] if any(step.action == Action.S3_MALWARE for step in self.steps) else []
        return labels + [name for name in RUNTIME_AGENTS if name in names] + s3


def fix_plan(*, deviation_ids: Sequence[int]) -> FixPlan:
    """The AWS calls that would fix the chosen deviations, grouped per region and kind, 50 accounts per call."""
    deviations = list(Deviation.objects.filter(pk__in=deviation_ids).select_related("account"))
    # A few policies for up to a thousand deviations: read once, not one instance (six JSON fields) per row.
    policies = CoveragePolicy.objects.in_bulk({deviation.policy_id for deviation in deviations})
    for deviation in deviations:
        deviation.policy = policies[deviation.policy_id]
    steps: dict[tuple, FixStep] = {}
    skipped: list[tuple[Deviation, str]] = []
    wanted: dict[tuple[str, int], set[str]] = defaultdict(set)  # (region, account pk) -> features to turn on
    accounts: dict[int, MemberAccount] = {}
    for deviation in deviations:
        account = deviation.account
        if deviation.kind == Kind.AUTO_ENABLE:
            steps[(deviation.region, "auto_enable")] = FixStep(
                deviation.region, "auto_enable", ("UpdateOrganizationConfiguration",)
            )
        elif deviation.kind == Kind.PUBLISHING:
            frequency = deviation.policy.finding_publishing_frequency
            steps[(deviation.region, "publishing")] = FixStep(deviation.region, "publishing", ("UpdateDetector",),
                                                               features=(frequency,))  # fmt: skip
        elif deviation.kind == Kind.AGENT and deviation.feature == "COVERAGE":
            skipped.append((deviation, "No API call repairs an agent that does not report: check the resources "
                                       "GuardDuty lists under Runtime coverage (automated agent management, "
                                       "VPC endpoint, agent version)."))  # fmt: skip
        elif deviation.kind == Kind.S3_MALWARE:
            problem = _s3_bucket_step(steps, deviation)
            if problem:
                skipped.append((deviation, problem))
        elif deviation.kind in (Kind.PLAN, Kind.AGENT):
            wanted[(deviation.region, account.pk)].add(FEATURE_NAMES.get(deviation.feature, deviation.feature))
            accounts[account.pk] = account
        elif deviation.status == "Disabled":
            features = policy_features(deviation.policy)
            _step(steps, deviation.region, Action.START, ("StartMonitoringMembers", *_then(features)),
                  features).accounts.append(account)  # fmt: skip
        elif account.is_organization_account and deviation.status in ORG_ADD_FROM:
            features = policy_features(deviation.policy)
            _step(steps, deviation.region, Action.ORG_ADD, ("CreateMembers", *_then(features)),
                  features).accounts.append(account)  # fmt: skip
        elif deviation.status in INVITE_FROM:
            operations = ("InviteMembers",) if deviation.status in ("Removed", "Resigned", "Created") else (
                "CreateMembers", "InviteMembers")  # fmt: skip
            _step(steps, deviation.region, Action.INVITE, operations).accounts.append(account)
        else:
            skipped.append((deviation, WAITING.get(deviation.status, f"No call fixes {deviation.status} from here.")))
    for (region, account_pk), features in sorted(wanted.items()):
        names = tuple(sorted(features))
        if any(name in RUNTIME_AGENTS for name in names) and "RUNTIME_MONITORING" not in names:
            names = tuple(sorted({*names, "RUNTIME_MONITORING"}))
        step = _step(steps, region, Action.FEATURES, ("UpdateMemberDetectors",), names)
        step.accounts.append(accounts[account_pk])
    ordered = sorted(steps.values(), key=lambda s: (s.region, s.action, s.features))
    return FixPlan(ordered, skipped, [d.pk for d in deviations])


def policy_features(policy) -> tuple[str, ...]:
    """The GuardDuty features and agents a policy asks for: an account the fix makes monitored gets them in the same
    operation (UpdateMemberDetectors after StartMonitoringMembers or CreateMembers)."""
    names = {FEATURE_NAMES.get(plan, plan) for plan in policy.plans} | set(policy.runtime_agents)
    if policy.runtime_agents:
        names.add("RUNTIME_MONITORING")
    return tuple(sorted(names))


def _then(features: tuple[str, ...]) -> tuple[str, ...]:
    return ("UpdateMemberDetectors",) if features else ()


def publishing_frequency_set(*, region: str, frequency: str, actor) -> None:
    """UpdateDetector's FindingPublishingFrequency on the administrator's detector (it applies to its members)."""
    detector_id = administrator_detector(region, create=False)
    gateway.detector_publishing_frequency_update(region=region, detector_id=detector_id, frequency=frequency)
    RegionState.objects.filter(region=region).update(finding_publishing_frequency=frequency)
    audit_record(actor=actor, verb="detector.publishing_frequency", target=("region", region, f"Detector in {region}"),
                 details={"finding_publishing_frequency": frequency})  # fmt: skip


def _s3_bucket_step(steps: dict, deviation: Deviation) -> str:
    """Add the bucket of an S3 malware deviation to its region's CreateMalwareProtectionPlan step; or why not."""
    bucket = S3Bucket.objects.filter(account=deviation.account, name=deviation.feature).select_related("account").first()
    if bucket is None:
        return "The bucket is no longer in the S3 inventory: it will drop off at the next evaluation."
    if bucket.plan_id:
        return (f"The bucket already has a plan ({bucket.plan_status}): GuardDuty allows one per bucket. Fix what its "
                "status reasons name (usually the scanning role's permissions) in the member account.")
    if not role_arn(bucket.account.account_id):
        return ("No scanning role is configured: set GUARDWATCH_S3_MALWARE_ROLE_NAME to the IAM role GuardDuty "
                "assumes in member accounts (see docs/s3-malware.md).")
    if not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        return "Plans are created as the member: set GUARDWATCH_MEMBER_ROLE_NAME to the member role."
    if bucket.region not in configured_regions():
        return f"The bucket is in {bucket.region}, which is not among GUARDWATCH_AWS_REGIONS."
    step = _step(steps, bucket.region, Action.S3_MALWARE, ("CreateMalwareProtectionPlan",))
    step.buckets.append(bucket)
    if all(account.pk != bucket.account_id for account in step.accounts):
        step.accounts.append(bucket.account)
    return ""


def _step(steps: dict, region: str, action: str, operations: tuple[str, ...], features: tuple[str, ...] = ()):
    key = (region, action, operations, features)
    if key not in steps:
        steps[key] = FixStep(region, action, operations, features=features)
    return steps[key]


def drift_fix_start(*, plan: FixPlan, actor) -> list[MemberOperation]:
    """Run a previewed fix: one member operation per step (Celery, with progress and audit), auto-enable at once."""
    if not plan.steps:
        raise ValidationError("Nothing to fix among the chosen deviations.")
    started = []
    with transaction.atomic():
        for step in plan.steps:
            if step.action == "auto_enable":
                aws_organizations.organization_auto_enable_set(region=step.region, value="ALL", actor=actor)
                continue
            if step.action == "publishing":
                publishing_frequency_set(region=step.region, frequency=step.features[0], actor=actor)
                continue
            invite = {"message": "", "disable_email_notification": False} if step.action == Action.INVITE else {}
            if step.action == Action.S3_MALWARE:
                invite = {"s3_bucket_ids": [bucket.pk for bucket in step.buckets]}
            started.append(member_operation_start(
                action=step.action, accounts=step.accounts, regions=[step.region], actor=actor,
                detector_features=step.features, drift_fix=True, **invite,
            ))  # fmt: skip
    return started
