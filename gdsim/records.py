"""What the simulator remembers per account and region, as plain dataclasses.

Times are kept as the ISO-8601 strings GuardDuty returns ("2024-05-01T12:34:56.789Z") so records
serialise to JSON for persistence without conversion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Data sources every detector has and cannot switch off.
FOUNDATIONAL_FEATURES = ("CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS")
# Protection plans a detector can switch on and off: botocore's DetectorFeature enum minus the foundational
# sources, the legacy EKS_RUNTIME_MONITORING and AI_ANALYST (an investigation assistant, not a plan); every one
# of these is also an OrgFeature.
OPTIONAL_FEATURES = (
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "LAMBDA_NETWORK_LOGS",
    "RUNTIME_MONITORING",
    "AI_PROTECTION",
)
RUNTIME_ADDITIONAL = ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")
# Relationship statuses in which the administrator sees (Enabled) or holds (Disabled) a member.
ASSOCIATED = ("Enabled", "Disabled")


def iso(moment: datetime) -> str:
    """GuardDuty's timestamp spelling: UTC, millisecond precision, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """The datetime of a GuardDuty ISO-8601 string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch_ms(text: str) -> int:
    """Epoch milliseconds of a GuardDuty ISO-8601 string (what FindingCriteria compares with)."""
    return int(parse_iso(text).timestamp() * 1000)


@dataclass
class Detector:
    """One account's GuardDuty detector in one region."""

    detector_id: str
    created_at: str
    updated_at: str
    status: str = "ENABLED"
    finding_publishing_frequency: str = "SIX_HOURS"
    features: dict[str, str] = field(default_factory=dict)
    additional: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def feature_enabled(self, name: str) -> bool:
        """Whether a protection plan (or a foundational source) is on."""
        return name in FOUNDATIONAL_FEATURES or self.features.get(name) == "ENABLED"


@dataclass
class Member:
    """A member account as its administrator sees it (one row of ListMembers)."""

    account_id: str
    email: str
    relationship_status: str
    updated_at: str
    invited_at: str | None = None
    detector_id: str | None = None
    invitation_id: str | None = None
    via_organization: bool = False
    hidden_reads: int = 0  # reads of the member list that still leave it out (see SimulatorState)
    # While EmailVerificationInProgress: when GuardDuty's check of the root email ends, and the
    # invitation (message, whether to email it) it then sends (see relationships.invite_members).
    verification_due: str | None = None
    invitation_message: str = ""
    invitation_email: bool = True


@dataclass
class AdministratorLink:
    """A member's side of its relationship (GetAdministratorAccount)."""

    account_id: str
    invitation_id: str
    relationship_status: str
    invited_at: str


@dataclass
class Invitation:
    """A pending invitation received by an account (ListInvitations)."""

    account_id: str
    invitation_id: str
    invited_at: str
    message: str = ""


@dataclass
class SavedFilter:
    """A saved filter or, with action ARCHIVE, a suppression rule."""

    name: str
    action: str
    rank: int
    criteria: dict[str, Any]
    created_at: str
    updated_at: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    version: int = 1


@dataclass
class OrganizationConfiguration:
    """A delegated administrator's organization settings in one region."""

    auto_enable_members: str = "NONE"
    features: dict[str, str] = field(default_factory=dict)


@dataclass
class Account:
    """An AWS account the simulator knows: its root email and whether it is in the organization."""

    account_id: str
    email: str | None = None
    name: str | None = None
    in_organization: bool = False
    joined_at: str | None = None
    # Organizations' account State (botocore organizations model, shape Account: PENDING_ACTIVATION | ACTIVE |
    # SUSPENDED | PENDING_CLOSURE | CLOSED).
    state: str = "ACTIVE"
    # The organizational unit holding the account (`ou-…`); None: directly under the organization's root.
    parent_id: str | None = None
    # S3 buckets the account owns (name -> {"region": …, "tags": {…}}): what GuardDuty checks a Malware Protection
    # plan's bucket against (ownership, region). The simulator serves no S3 API; tests and scenarios set them.
    s3_buckets: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class MalwareProtectionPlan:
    """A GuardDuty Malware Protection plan for one S3 bucket, kept by the account (and region) that created it."""

    plan_id: str
    bucket_name: str
    role: str
    created_at: str
    object_prefixes: list[str] = field(default_factory=list)
    tagging: str = "DISABLED"
    status: str = "ACTIVE"  # ACTIVE | WARNING | ERROR (botocore enum MalwareProtectionPlanStatus)
    status_reasons: list[dict[str, str]] = field(default_factory=list)  # [{"Code": …, "Message": …}]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class InvestigationRun:
    """One GuardDuty investigation (CreateInvestigation) kept by the administrator that started it.

    `status` is RUNNING until `due` (the simulated analysis time has passed), then COMPLETED or FAILED
    (operations.investigations settles it when it is read); the result is built from the findings then.
    """

    investigation_id: str
    prompt: str
    triggered_by: str
    region: str
    started_at: str
    due: str
    client_token: str = ""
    status: str = "RUNNING"
    kind: str = ""  # FINDING | ACCOUNT | ORGANIZATION, set when it completes (ListInvestigations' InvestigationType)
    finding_id: str = ""
    account_id: str = ""  # the account analysed (a FINDING's account, or the ACCOUNT one)
    ended_at: str | None = None
    error: str = ""
    forced_failure: str = ""  # the control API's failure for this run (set when it was created)
    result: dict[str, Any] = field(default_factory=dict)  # Title, RiskLevel, Risk, Confidence, Summary, Records


@dataclass
class AccountRegion:
    """Everything GuardDuty keeps for one account in one region, findings aside."""

    account_id: str
    region: str
    detector: Detector | None = None
    members: dict[str, Member] = field(default_factory=dict)
    administrator: AdministratorLink | None = None
    invitations: dict[str, Invitation] = field(default_factory=dict)
    filters: dict[str, SavedFilter] = field(default_factory=dict)
    organization: OrganizationConfiguration = field(default_factory=OrganizationConfiguration)
    detector_generation: int = 0
    malware_plans: dict[str, MalwareProtectionPlan] = field(default_factory=dict)
    investigations: dict[str, InvestigationRun] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for persistence."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountRegion:
        """Inverse of to_dict."""
        return cls(
            account_id=data["account_id"],
            region=data["region"],
            detector=Detector(**data["detector"]) if data.get("detector") else None,
            members={key: Member(**value) for key, value in data.get("members", {}).items()},
            administrator=AdministratorLink(**data["administrator"]) if data.get("administrator") else None,
            invitations={key: Invitation(**value) for key, value in data.get("invitations", {}).items()},
            filters={key: SavedFilter(**value) for key, value in data.get("filters", {}).items()},
            organization=OrganizationConfiguration(**data.get("organization", {})),
            detector_generation=data.get("detector_generation", 0),
            malware_plans={key: MalwareProtectionPlan(**value) for key, value in data.get("malware_plans", {}).items()},
            investigations={key: InvestigationRun(**value) for key, value in data.get("investigations", {}).items()},
        )
