"""Member accounts, their membership in each region, and the runs of work done on them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

account_id_validator = RegexValidator(r"^\d{12}\Z", "An AWS account id is exactly 12 digits.")

# GuardDuty's RelationshipStatus is free text; these are the values the product knows how to explain.
STATUS_LABELS = {
    "Enabled": "Monitored",
    "Created": "Created",
    "Invited": "Invited",
    "EmailVerificationInProgress": "Verifying email",
    "EmailVerificationFailed": "Email verification failed",
    "Disabled": "Disabled",
    "Removed": "Removed",
    "Resigned": "Resigned",
    "RegionDisabled": "Region disabled",
    "AccountSuspended": "Account suspended",
    "": "Not a member",
}
# Statuses that mean the account is not (or no longer) monitored and someone should look.
MONITORED = "Enabled"  # the relationship status of a member the administrator watches
# A membership in one of these statuses (or none at all) was never invited: CreateMembers alone
# leaves "Created". Coverage's "Never invited" gap and "Invite accounts not yet members" both read this.
NOT_INVITED = ("", "Created")
ALERT_STATUSES = ("Resigned", "Removed", "Disabled", "EmailVerificationFailed")


def status_label(status: str) -> str:
    """The console's wording ("Monitored" for Enabled); unknown values are shown as they come."""
    return STATUS_LABELS.get(status, status)


def status_css(status: str) -> str:
    """A CSS class for a status; unknown (attacker-free but unbounded) values share one class."""
    if status == "":
        return "status-none"
    return f"status-{status}" if status in STATUS_LABELS else "status-other"


class MemberAccount(models.Model):
    """An AWS account the administrator manages (or wants to) as a GuardDuty member."""

    class Source(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        ORGANIZATIONS = "organizations", "AWS Organizations"

    account_id = models.CharField(max_length=12, unique=True, validators=[account_id_validator])
    email = models.EmailField(max_length=64)
    display_name = models.CharField(max_length=128, blank=True)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # The AWS Organizations parent (an OU id `ou-…` or the root `r-…`): read by the Organization page's refresh,
    # or recorded by an Admin; "" = not known. Teams and coverage policies scoped to an OU match on it.
    organizational_unit = models.CharField(max_length=68, blank=True, default="", db_default="", db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INVITATION)
    # Whether AWS Organizations listed the account in the administrator's organization at the last read of the
    # Organization page's snapshot (or GuardWatch added it from there): Organizations-mode rules apply to it.
    in_organization = models.BooleanField(default=False)
    auto_accept = models.BooleanField(
        default=False, help_text="Accept invitations on the member's behalf through the configured member role."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The regions (sorted) where the account has a membership with a status, and where it is monitored: a summary
    # of its memberships, rewritten by `accounts.services.account_regions_refresh` wherever statuses are saved,
    # so the heatmap's "not a member" and "gaps only" filters read one row per account, not one per membership.
    member_regions = models.JSONField(default=list, db_default=[], blank=True, editable=False)
    monitored_regions = models.JSONField(default=list, db_default=[], blank=True, editable=False)

    class Meta:
        ordering = ["account_id"]
        indexes = [models.Index(fields=["display_name"], name="member_display_name_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.display_name}".strip()

    @property
    def is_organization_account(self) -> bool:
        return self.in_organization or self.source == self.Source.ORGANIZATIONS


class MembershipStatusCount(models.Model):
    """How many memberships a region has per status, as signed deltas that add up (PostgreSQL only).

    Written by triggers on `Membership` alone (accounts 0016): every statement that inserts, deletes or updates
    memberships adds one row per (region, status) it moved, +n or -n, so every writer (syncs, operations, seeds, a
    cascade from a deleted account) keeps the counts without knowing they exist, and no writer waits on another
    (rows are only added). `accounts.services.membership_counts_compact` folds them into one row per pair after
    each member sync. The accounts page reads the sums instead of grouping 850,000 memberships per request.
    """

    region = models.CharField(max_length=32)
    status = models.CharField(max_length=64, blank=True)
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["region", "status"], name="membershipcount_pair_idx")]

    def __str__(self) -> str:
        return f"{self.region} {self.status or 'not a member'}: {self.n:+d}"


class Membership(models.Model):
    """One account's relationship with the administrator in one region, as GuardDuty last reported it."""

    account = models.ForeignKey(MemberAccount, on_delete=models.CASCADE, related_name="memberships")
    region = models.CharField(max_length=32)
    # Free text as GuardDuty reports it; "" = not a member in this region (never created, or deleted).
    relationship_status = models.CharField(max_length=64, blank=True)
    detector_id = models.CharField(max_length=64, blank=True)
    invited_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True, help_text="GuardDuty's UpdatedAt.")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account__account_id", "region"]
        constraints = [models.UniqueConstraint(fields=["account", "region"], name="membership_account_region")]
        indexes = [
            models.Index(fields=["relationship_status", "region"], name="membership_status_idx"),
            models.Index(fields=["region", "relationship_status"], name="membership_region_idx"),
            # The accounts page's status counts of text-filtered accounts and its status filter's EXISTS probe,
            # index-only (accounts 0017).
            models.Index(fields=["account", "relationship_status", "region"], name="membership_account_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account.account_id} in {self.region}: {self.relationship_status or 'not a member'}"

    @property
    def status_label(self) -> str:
        return status_label(self.relationship_status)

    @property
    def status_css(self) -> str:
        return status_css(self.relationship_status)

    @property
    def actions(self) -> list[tuple[str, str, bool]]:
        """(action, label, destructive) an administrator can take from this status (invitation rules only)."""
        return self.actions_for(organization=False, held_by_all=False)

    def actions_for(self, *, organization: bool, held_by_all: bool) -> list[tuple[str, str, bool]]:
        """The actions AWS allows for this membership, with Organizations mode's refusals left out."""
        return [
            (action, label, destructive)
            for action, label, destructive in self._status_actions(organization)
            if not organization_refusal(action, self.relationship_status, organization=organization,
                                        held_by_all=held_by_all)
        ]  # fmt: skip

    def _status_actions(self, organization: bool) -> list[tuple[str, str, bool]]:
        status = self.relationship_status
        found = []
        if organization and status in ("", "Removed"):
            found.append(("org_add", "Add again (organization)" if status else "Add (organization)", False))
        if status in ("", "Removed", "Resigned", "Created"):
            found.append(("invite", "Invite", False))
        # GuardDuty refuses InviteMembers for an Invited member ("already invited"): resending withdraws
        # the pending invitation (DisassociateMembers) and invites again. A failed email verification is
        # fixed by "Re-create with a corrected email" instead; a Removed or Resigned member is invited.
        if status == "Invited":
            found.append(("resend", "Resend invitation", False))
        if status == "Invited":  # only once GuardDuty has sent the invitation (email verified)
            found.append(("accept", "Accept on member's behalf", False))
        if status == "Disabled":
            found.append(("start", "Start monitoring", False))
        if status == "Enabled":
            found.append(("stop", "Stop monitoring", True))
        if status in ("Enabled", "Disabled", "Invited"):
            found.append(("disassociate", "Disassociate", True))
        if status:
            found.append(("delete", "Delete member", True))
        return found


def organization_refusal(action: str, status: str, *, organization: bool, held_by_all: bool) -> str:
    """Why AWS refuses `action` on an organization account with `status` in a region ("" when it does not).

    `held_by_all`: the region's AutoEnableOrganizationMembers is ALL. Sources (botocore guardduty service-2.json and
    the GuardDuty User Guide) are cited where the simulator models each refusal (gdsim/relationships.py).
    """
    if not organization:
        return ""
    if held_by_all and action in ("stop", "disassociate", "delete"):
        return ("AutoEnableOrganizationMembers is ALL here, so AWS keeps every organization account a member and "
                "refuses to stop monitoring, disassociate or delete it. Set auto-enable to NEW or NONE on the "
                "Organization page first, or remove the account from the organization.")
    if action == "delete" and status not in ("", "Removed"):
        return ("It joined through AWS Organizations and is still associated: disassociate it first, then delete it "
                "(AWS deletes organization members only once they are Removed).")
    if action == "invite" and status == "Removed":
        return ("It joined through AWS Organizations: add it again (CreateMembers). AWS does not let an "
                "administrator invite a disassociated organization member.")
    return ""


class MembershipStatusChange(models.Model):
    """History: a membership's status moved from one value to another (seen by a sync or made by an action)."""

    class Source(models.TextChoices):
        SYNC = "sync", "Sync"
        ACTION = "action", "Action"

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=64, blank=True)
    to_status = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    actor_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["membership", "-at"], name="status_change_idx")]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status or '—'}"

    @property
    def from_label(self) -> str:
        return status_label(self.from_status)

    @property
    def to_label(self) -> str:
        return status_label(self.to_status)


class RegionState(models.Model):
    """What GuardWatch knows about the administrator in one region: its detector and the last member sync."""

    region = models.CharField(max_length=32, unique=True)
    detector_id = models.CharField(max_length=64, blank=True)
    sync_requested_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Organizations mode: AutoEnableOrganizationMembers (NEW, ALL, NONE) as last read or set; "" = not known (not
    # the delegated administrator, or never read). Under ALL, AWS refuses to let organization members go.
    org_auto_enable_members = models.CharField(max_length=8, blank=True)
    # Region discovery (EC2 DescribeRegions): whether the region is enabled for the administrator account
    # (None: never read), and when that was read. Rows exist for enabled regions GuardWatch does not manage
    # (not in GUARDWATCH_AWS_REGIONS), with their administrator detector, so Coverage can count them.
    account_enabled = models.BooleanField(null=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    # Coverage (reports): when the protection-plan sync last recorded plans in this region, so the
    # coverage page's freshness column reads 17 rows instead of MAX over every MemberProtection.
    protection_checked_at = models.DateTimeField(null=True, blank=True)
    # The administrator detector's FindingPublishingFrequency (GetDetector, read by the protection sync); it applies
    # to every member in the region. "" = not read.
    finding_publishing_frequency = models.CharField(max_length=16, blank=True, default="", db_default="")

    def __str__(self) -> str:
        return self.region

    @property
    def refreshing(self) -> bool:
        """A "Refresh now" was asked for and no sync has finished (or failed) since."""
        if self.sync_requested_at is None:
            return False
        finished = max(filter(None, [self.last_synced_at, self.last_error_at]), default=None)
        return finished is None or finished < self.sync_requested_at


class MemberOperation(models.Model):
    """A run of member work in Celery (invite, resend, start/stop, disassociate, delete, re-create, …).

    One `MemberOperationResult` per (account, region) records the outcome, so progress survives page
    reloads and a re-delivered task only does what is still pending.
    """

    class Action(models.TextChoices):
        INVITE = "invite", "Invite"
        RESEND = "resend", "Resend invitation"
        START = "start", "Start monitoring"
        STOP = "stop", "Stop monitoring"
        DISASSOCIATE = "disassociate", "Disassociate"
        DELETE = "delete", "Delete member"
        RECREATE = "recreate", "Re-create with corrected email"
        ACCEPT = "accept", "Accept on the member's behalf"
        ORG_ADD = "org_add", "Add organization accounts"
        FEATURES = "features", "Turn protection plans on"
        S3_MALWARE = "s3_malware", "Protect S3 buckets from malware"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # Invitations sent; GuardDuty is verifying the members' emails (polled with GetMembers until
        # `verify_until`).
        VERIFYING = "verifying", "Verifying emails"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with failures"
        UNSETTLED = "unsettled", "Finished, emails still verifying"
        FAILED = "failed", "Failed"

    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    regions = models.JSONField(default=list)
    message = models.TextField(blank=True)
    disable_email_notification = models.BooleanField(default=False)
    create_detectors = models.BooleanField(default=False)
    # Protection plans (DETECTOR_FEATURES names) to enable in any detector this operation creates; every
    # other plan is sent DISABLED.
    detector_features = models.JSONField(default=list, blank=True)
    # Started by "Fix" on the drift page: the policies are evaluated again once it finishes.
    drift_fix = models.BooleanField(default=False, db_default=False)
    # S3_MALWARE: the S3Bucket rows to give a Malware Protection plan (each in its own account and region).
    s3_bucket_ids = models.JSONField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # While VERIFYING: when the next GetMembers check is due (a check claims it by moving it on), and
    # when checking stops and the emails GuardDuty is still verifying are recorded as such.
    verify_check_at = models.DateTimeField(null=True, blank=True)
    verify_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="member_op_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.pk}"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING, self.Status.VERIFYING)


class MemberOperationResult(models.Model):
    """The outcome of one operation for one account in one region (GuardDuty's UnprocessedAccounts text)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        # InviteMembers took the account; GuardDuty is verifying its email (EmailVerificationInProgress).
        VERIFYING = "verifying", "Verifying email"
        OK = "ok", "Done"
        # Still EmailVerificationInProgress when the operation stopped checking: the member sync tells the end.
        UNSETTLED = "unsettled", "Still verifying"
        FAILED = "failed", "Failed"

    operation = models.ForeignKey(MemberOperation, on_delete=models.CASCADE, related_name="results")
    account = models.ForeignKey(MemberAccount, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    result = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["region", "account__account_id"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "account", "region"], name="member_op_result_unique")
        ]
        indexes = [models.Index(fields=["operation", "outcome"], name="member_op_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.region}: {self.outcome}"


# --- Coverage (reports) -------------------------------------------------------------------------
# Owned by the coverage/reports work (accounts/coverage.py): what GetMemberDetectors says about each
# member's protection plans. Kept apart from Membership so the member sync never has to know about it.

# Plan field → (GuardDuty feature names, first found wins; label shown to people).
# Every member feature GuardDuty reports (botocore's guardduty model, enum OrgFeature of
# MemberFeaturesConfigurationResult.Name) is one of these plans: field -> (feature names, label).
# Runtime Monitoring is on when either RUNTIME_MONITORING or the legacy EKS_RUNTIME_MONITORING is
# (GuardDuty User Guide, "Runtime Monitoring": EKS Runtime Monitoring is now part of it).
PROTECTION_PLANS = {
    "s3_data_events": (("S3_DATA_EVENTS",), "S3"),
    "eks_audit_logs": (("EKS_AUDIT_LOGS",), "EKS"),
    "runtime_monitoring": (("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"), "Runtime"),
    "ebs_malware_protection": (("EBS_MALWARE_PROTECTION",), "Malware"),
    "rds_login_events": (("RDS_LOGIN_EVENTS",), "RDS"),
    "lambda_network_logs": (("LAMBDA_NETWORK_LOGS",), "Lambda"),
    "ai_protection": (("AI_PROTECTION",), "AI"),
}


# The protection plans a detector GuardWatch creates is given, each ENABLED or DISABLED explicitly:
# "CreateDetector without Features enables every optional protection plan except RUNTIME_MONITORING"
# (GUARDDUTY.md), so paid plans would be switched on silently. One name per plan, from botocore's
# DetectorFeature enum; not sent: EKS_RUNTIME_MONITORING (legacy, superseded by RUNTIME_MONITORING) and
# AI_ANALYST (not a protection plan; GuardDuty's default applies).
DETECTOR_FEATURES = tuple(names[0] for names, _label in PROTECTION_PLANS.values())


class MemberProtection(models.Model):
    """A member's protection plans in one region as GetMemberDetectors last reported them.

    Each plan holds GuardDuty's status text (`ENABLED`, `DISABLED`) or "" when GuardDuty did not
    mention it; `plans_off` counts the DISABLED ones so the coverage gap list is one indexed filter.
    """

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="protection")
    s3_data_events = models.CharField(max_length=16, blank=True)
    eks_audit_logs = models.CharField(max_length=16, blank=True)
    runtime_monitoring = models.CharField(max_length=16, blank=True)
    ebs_malware_protection = models.CharField(max_length=16, blank=True)
    rds_login_events = models.CharField(max_length=16, blank=True)
    lambda_network_logs = models.CharField(max_length=16, blank=True)
    ai_protection = models.CharField(max_length=16, blank=True, default="")
    # Each plan's AdditionalConfiguration as GuardDuty reports it: feature name -> configuration name -> status
    # (botocore MemberFeaturesConfigurationResult.AdditionalConfiguration, enum OrgFeatureAdditionalConfiguration).
    additional_configuration = models.JSONField(default=dict, blank=True)
    # Runtime Monitoring coverage (ListCoverage, COVERAGE_STATUS UNHEALTHY): resources of this member in the region
    # without a healthy security agent, and the first issue GuardDuty gave ("No Agent Reporting", …).
    runtime_unhealthy = models.PositiveIntegerField(default=0, db_default=0)
    runtime_issue = models.CharField(max_length=255, blank=True, default="", db_default="")
    plans_off = models.PositiveSmallIntegerField(default=0)
    checked_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["plans_off"], name="protection_off_idx", condition=models.Q(plans_off__gt=0))
        ]

    def __str__(self) -> str:
        return f"protection of {self.membership_id}: {self.plans_off} off"

    @property
    def off_labels(self) -> list[str]:
        """Labels of the plans GuardDuty reports DISABLED (S3, EKS, …)."""
        return [label for name, (_, label) in PROTECTION_PLANS.items() if getattr(self, name) == "DISABLED"]

    @property
    def plan_rows(self) -> list[PlanRow]:
        """Every plan GuardDuty mentioned, with its additional configuration (Runtime: its automated agents)."""
        rows = []
        stored = self.additional_configuration if isinstance(self.additional_configuration, dict) else {}
        for field_name, (names, label) in PROTECTION_PLANS.items():
            extras: dict[str, str] = {}
            for feature in names:  # RUNTIME_MONITORING before the legacy EKS_RUNTIME_MONITORING
                for name, status in (stored.get(feature) or {}).items():
                    extras.setdefault(str(name), str(status))
            status = getattr(self, field_name)
            if status or extras:
                rows.append(PlanRow(label, status, [
                    (ADDITIONAL_CONFIGURATION_LABELS.get(name, name), name, extra) for name, extra in extras.items()]))
        return rows


# GuardDuty User Guide, Runtime Monitoring, "Managing the security agent automatically": GuardDuty can deploy and
# update its agent for each resource type. Names from botocore's enum OrgFeatureAdditionalConfiguration;
# names GuardDuty adds later are shown as it sends them.
ADDITIONAL_CONFIGURATION_LABELS = {
    "EKS_ADDON_MANAGEMENT": "Automated agent for Amazon EKS",
    "ECS_FARGATE_AGENT_MANAGEMENT": "Automated agent for AWS Fargate (ECS)",
    "EC2_AGENT_MANAGEMENT": "Automated agent for Amazon EC2",
    "RDS_DATA_RISK": "RDS data risk",
}


@dataclass(frozen=True)
class PlanRow:
    """One protection plan of a member in a region: its status and its additional configuration
    as (label, GuardDuty name, status)."""

    label: str
    status: str
    additional: list[tuple[str, str, str]]


# --- end coverage (reports) ---------------------------------------------------------------------


class Team(models.Model):
    """A group of people who own a set of member accounts: listed ids, Organizations OUs, and account tags.

    An account belongs to the team when any rule matches it. A team-scoped member (`ScopedUser`) sees only
    the findings, alerts, coverage and figures of their teams' accounts (`guardwatch.core.scope`).
    """

    name = models.CharField(max_length=100, unique=True)
    account_ids = models.JSONField(default=list, blank=True)  # 12-digit ids, whether or not yet members
    organizational_units = models.JSONField(default=list, blank=True)  # `ou-…` ids
    tags = models.JSONField(default=list, blank=True)  # account tags as written on the account (`env=prod`)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A person in a team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    # Made by single sign-on from the user's IdP groups (re-made at each sign-in), not by an Admin's hand.
    from_sso = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class ScopedUser(models.Model):
    """Marks a person as team-scoped: they see only their teams' accounts (none if they are in no team).

    Admins are always organisation-wide, so the mark has no effect on them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="team_scope"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    from_sso = models.BooleanField(default=False, db_default=False)  # set by single sign-on's group mappings

    def __str__(self) -> str:
        return f"{self.user} (team-scoped)"


# --- Coverage policies and drift (accounts/policies.py, accounts/drift.py) ------------------------------

# Runtime Monitoring's automated agents a policy can require (botocore enum OrgFeatureAdditionalConfiguration).
RUNTIME_AGENTS = ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")
# botocore enum FindingPublishingFrequency.
PUBLISHING_FREQUENCIES = ("FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS")


class CoveragePolicy(models.Model):
    """Desired GuardDuty coverage for a scope: required regions, protection plans, agents, publishing frequency.

    Where several policies match an account, the most specific scope wins (accounts > tag > OU > organisation);
    two policies of the same scope that both match and disagree are a conflict, shown on the policies page
    (the older one applies until it is resolved).
    """

    class Scope(models.TextChoices):
        ORGANISATION = "organisation", "Whole organisation"
        OU = "ou", "Organizations OU"
        TAG = "tag", "Account tag"
        ACCOUNTS = "accounts", "List of accounts"

    name = models.CharField(max_length=128, unique=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    # OU id (scope ou) or tag (scope tag); the account ids for scope accounts.
    scope_value = models.CharField(max_length=128, blank=True)
    scope_accounts = models.JSONField(default=list, blank=True)
    # Required regions; empty = every region enabled for the administrator account (RegionState.account_enabled).
    regions = models.JSONField(default=list, blank=True)
    plans = models.JSONField(default=list, blank=True)  # PROTECTION_PLANS field names
    runtime_agents = models.JSONField(default=list, blank=True)  # RUNTIME_AGENTS names
    # S3 Malware Protection plans are per bucket: buckets carrying one of these tags must have one.
    s3_malware_bucket_tags = models.JSONField(default=list, blank=True)
    finding_publishing_frequency = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Deviation(models.Model):
    """One way reality differs from the policy that applies, as the last drift evaluation found it."""

    class Kind(models.TextChoices):
        MEMBERSHIP = "membership", "Not monitored"
        PLAN = "plan", "Protection plan off"
        AGENT = "agent", "Runtime agent not managed"
        AUTO_ENABLE = "auto_enable", "Organisation auto-enable"
        PUBLISHING = "publishing", "Finding publishing frequency"
        S3_MALWARE = "s3_malware", "S3 bucket without malware protection"

    policy = models.ForeignKey(CoveragePolicy, on_delete=models.CASCADE, related_name="deviations")
    # None for a region-wide deviation (the organisation's auto-enable).
    account = models.ForeignKey(MemberAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    feature = models.CharField(max_length=64, blank=True)  # plan field, agent name, or bucket name (S3_MALWARE)
    status = models.CharField(max_length=64, blank=True)  # what reality shows
    cause = models.TextField()
    first_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["region", "account__account_id", "kind", "feature"]
        constraints = [
            # One deviation per (account, region, kind, feature), and one per region-wide (no account) one: two
            # partial constraints rather than nulls_distinct=False, which the demo's SQLite cannot build.
            models.UniqueConstraint(
                fields=["account", "region", "kind", "feature"], name="deviation_unique",
                condition=models.Q(account__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["region", "kind", "feature"], name="deviation_region_unique",
                condition=models.Q(account__isnull=True),
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "region"], name="deviation_kind_idx"),
            # The drift page's order (accounts.selectors.drift_page): a page's ids are a range of this index (id last: read
            # from the index alone, on every database; SQLite has no INCLUDE).
            models.Index(fields=["region", "account", "kind", "feature", "id"], name="deviation_page_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id or 'region'} {self.region} {self.kind} {self.feature}"


class ComplianceDay(models.Model):
    """Compliance on one day: (account, required region) pairs that match their policy, out of all of them."""

    day = models.DateField(unique=True)
    pairs = models.PositiveIntegerField(default=0)
    compliant = models.PositiveIntegerField(default=0)
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.percent:.1f} %"

    @property
    def percent(self) -> float:
        return 100.0 * self.compliant / self.pairs if self.pairs else 100.0


class S3Bucket(models.Model):
    """A member's S3 bucket (ListBuckets, GetBucketLocation, GetBucketTagging as the member) and its GuardDuty
    Malware Protection plan (ListMalwareProtectionPlans + GetMalwareProtectionPlan in the bucket's region), as the
    S3 inventory last read them. Bucket names are global, so (account, name) identifies one."""

    account = models.ForeignKey(MemberAccount, on_delete=models.CASCADE, related_name="s3_buckets")
    name = models.CharField(max_length=63)  # S3 bucket names are 3..63 characters
    region = models.CharField(max_length=32)
    tags = models.JSONField(default=dict, blank=True)  # tag key -> value
    # The bucket's Malware Protection plan; empty when it has none.
    plan_id = models.CharField(max_length=128, blank=True)
    plan_status = models.CharField(max_length=16, blank=True)  # ACTIVE | WARNING | ERROR
    plan_status_reasons = models.JSONField(default=list, blank=True)  # [{"Code": …, "Message": …}]
    plan_role = models.CharField(max_length=2048, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["account__account_id", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="s3_bucket_unique")]
        indexes = [models.Index(fields=["region"], name="s3_bucket_region_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.name} ({self.region})"


class DeviationRecord(models.Model):
    """The history of one deviation for auditors: when it was first seen, how its cause changed, when it resolved.

    `Deviation` holds what the last evaluation found and loses a row when it is fixed; this keeps the row (open
    while `resolved_at` is None), with the account, policy and OU written out so deleting either keeps the record.
    """

    deviation_id = models.BigIntegerField(db_index=True)  # the Deviation it follows while open (pks are not reused)
    policy = models.ForeignKey(CoveragePolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_name = models.CharField(max_length=128)
    account = models.ForeignKey(MemberAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    account_number = models.CharField(max_length=12, blank=True)  # the 12-digit id; blank for region-wide ones
    organizational_unit = models.CharField(max_length=68, blank=True)  # the account's OU when first seen
    region = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Deviation.Kind.choices)
    feature = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=64, blank=True)
    cause = models.TextField()
    # Earlier (at, status, cause, policy) while open, oldest first: what each evaluation said before the last.
    changes = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Why it ended when no evaluation saw it fixed (its policy or account was deleted); blank when fixed.
    resolution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["first_seen_at", "id"]

    def __str__(self) -> str:
        return f"{self.account_number or 'region'} {self.region} {self.kind} {self.feature} from {self.first_seen_at:%Y-%m-%d}"


class ComplianceScopeDay(models.Model):
    """Compliance on one day per policy and OU (accounts outside any OU under ""), so a period reads per scope."""

    day = models.DateField(db_index=True)
    policy = models.ForeignKey(CoveragePolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_name = models.CharField(max_length=128)
    organizational_unit = models.CharField(max_length=68, blank=True)
    pairs = models.PositiveIntegerField(default=0)
    compliant = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "policy_name", "organizational_unit"]

    def __str__(self) -> str:
        return f"{self.day} {self.policy_name} {self.organizational_unit}: {self.compliant}/{self.pairs}"


class EvidencePack(models.Model):
    """A signed evidence export for auditors (policies, compliance per scope, deviations with their history).

    Queued by a person, rendered by a worker (`reports.evidence`): the JSON (with its Ed25519 signature) and the
    PDF are kept here until `expires_at`, so the list of past packs downloads exactly what was signed.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    period_start = models.DateField()
    period_end = models.DateField()
    scope_kind = models.CharField(max_length=8, blank=True)  # "", "policy" or "ou"
    scope_value = models.CharField(max_length=128, blank=True)  # the policy's pk or the OU id
    scope_label = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    error = models.CharField(max_length=300, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    json_file = models.BinaryField(default=b"", blank=True)
    pdf_file = models.BinaryField(default=b"", blank=True)
    json_sha256 = models.CharField(max_length=64, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    key_fingerprint = models.CharField(max_length=80, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Evidence {self.period_start}–{self.period_end} {self.scope_label or 'everything'}"

    @property
    def stem(self) -> str:
        """The download's file name without extension."""
        stamp = (self.generated_at or self.requested_at).strftime("%Y%m%d-%H%M%S")
        return f"guardwatch-evidence-{stamp}-{self.pk}"
