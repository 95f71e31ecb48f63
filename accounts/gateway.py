"""GuardDuty member APIs (and Organizations) through boto3: the only place accounts/ talks to AWS.

Every batch call is cut into batches of 50 (GuardDuty's maximum for every member call), every
listing is paginated, and answers come back as dataclasses. Per-account failures of batch calls
(`UnprocessedAccounts`) are data, not exceptions; a failed call (after botocore's adaptive retries)
raises one `GatewayError(region, operation, message)` whose message says what a person can do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from accounts.models import DETECTOR_FEATURES
from guardwatch import aws

# Calls in this block assume roles with the user's STS SourceIdentity (CloudTrail shows who acted).
acting_as = aws.acting_as

BATCH = 50  # CreateMembers, InviteMembers, GetMembers, … take 1..50 accounts per call

THROTTLING_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
REGION_OFF_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure", "OptInRequired"}


class GatewayError(Exception):
    """One AWS call failed for good; `message` tells an administrator what happened and what to do."""

    def __init__(self, region: str, operation: str, message: str, *, code: str = ""):
        super().__init__(f"{operation} in {region}: {message}")
        self.region = region
        self.operation = operation
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class UnprocessedAccount:
    """An account a batch call did not process, with GuardDuty's reason."""

    account_id: str
    result: str


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member as ListMembers/GetMembers describe it."""

    account_id: str
    email: str
    relationship_status: str
    detector_id: str = ""
    invited_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch call did: how many calls it took and which accounts it could not process."""

    calls: int
    unprocessed: tuple[UnprocessedAccount, ...] = ()

    def failed(self) -> dict[str, str]:
        return {item.account_id: item.result for item in self.unprocessed}


@dataclass(frozen=True, slots=True)
class MembersFetched:
    """GetMembers' answer: the members found and the accounts it could not get."""

    calls: int
    members: tuple[MemberInfo, ...] = ()
    unprocessed: tuple[UnprocessedAccount, ...] = ()


@dataclass(frozen=True, slots=True)
class Invitation:
    """A pending invitation a member account received."""

    administrator_id: str
    invitation_id: str
    invited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrganizationAccount:
    """An account of the AWS organization."""

    account_id: str
    email: str
    name: str
    status: str  # Organizations' account State (PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED)

    @property
    def active(self) -> bool:
        """Only ACTIVE accounts can become GuardDuty members."""
        return self.status == "ACTIVE"


@dataclass(frozen=True, slots=True)
class OrganizationConfiguration:
    """The delegated administrator's organization settings in one region."""

    auto_enable_members: str
    member_account_limit_reached: bool
    features: dict[str, str] = field(default_factory=dict)


def batches(items: list, size: int = BATCH) -> Iterator[list]:
    """`items` cut into lists of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(region: str, operation: str, error: Exception) -> GatewayError:
    """One actionable message per kind of failure."""
    if isinstance(error, EndpointConnectionError):
        return GatewayError(
            region,
            operation,
            f"Could not reach GuardDuty in {region}. Check that the region is enabled for the administrator "
            "account and that this server can reach AWS, then retry.",
            code="EndpointConnectionError",
        )
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
        text = str(details.get("Message") or "").strip()
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in THROTTLING_CODES or status == 429:
            message = f"AWS kept throttling {operation} in {region} after retries. Wait a few minutes and retry."
        elif code in REGION_OFF_CODES:
            message = (
                f"AWS refused the credentials in {region} ({code}). The region is probably not enabled for the "
                "administrator account: enable it in the AWS account settings or remove it from "
                "GUARDWATCH_AWS_REGIONS."
            )
        elif code in {"AccessDeniedException", "AccessDenied"}:
            message = (
                f"The administrator credentials may not call {operation} in {region}: {text} "
                "Grant the permission to GuardWatch's role, then retry."
            )
        elif status and status >= 500:
            message = f"GuardDuty failed in {region} ({code}: {text}). This is usually temporary: retry."
        else:
            message = f"GuardDuty rejected the request ({code}): {text}"
        return GatewayError(region, operation, message, code=code)
    return GatewayError(region, operation, f"The AWS SDK failed: {error}", code=type(error).__name__)


@contextmanager
def _calling(region: str, operation: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise _describe(region, operation, error) from error


def _client(region: str, member_account_id: str | None = None):
    """The GuardDuty client; reaching a member (assume-role) can itself fail, reported as AssumeRole."""
    with _calling(region, "AssumeRole"):
        return aws.guardduty(region, member_account_id=member_account_id)


def _unprocessed(response: dict) -> tuple[UnprocessedAccount, ...]:
    return tuple(
        UnprocessedAccount(account_id=item.get("AccountId", ""), result=item.get("Result", ""))
        for item in response.get("UnprocessedAccounts") or ()
    )


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _member(item: dict) -> MemberInfo:
    return MemberInfo(
        account_id=item["AccountId"],
        email=item.get("Email", ""),
        relationship_status=item.get("RelationshipStatus", ""),
        detector_id=item.get("DetectorId", "") or "",
        invited_at=_parse_time(item.get("InvitedAt")),
        updated_at=_parse_time(item.get("UpdatedAt")),
    )


# --- The administrator's regions -----------------------------------------------------------------

# botocore ec2 model, Region.OptInStatus: the region is enabled for the account unless "not-opted-in".
ENABLED_OPT_IN_STATUSES = frozenset({"opt-in-not-required", "opted-in"})


def enabled_regions(*, region: str) -> list[str]:
    """The regions enabled for the administrator account (EC2 DescribeRegions: "the Regions that are enabled for
    your account"); filtered on OptInStatus too, since not every implementation (moto) leaves the others out."""
    with _calling(region, "AssumeRole"):
        client = aws.client("ec2", region)
    with _calling(region, "DescribeRegions"):
        response = client.describe_regions(AllRegions=False)
    return sorted(
        item["RegionName"] for item in response.get("Regions") or ()
        if item.get("OptInStatus", "opt-in-not-required") in ENABLED_OPT_IN_STATUSES
    )  # fmt: skip


# --- The administrator's detector ---------------------------------------------------------------


def detector_id_find(*, region: str, member_account_id: str | None = None) -> str | None:
    """The detector of the administrator (or of a member, reached by assume-role) in `region`, or None."""
    client = _client(region, member_account_id)
    token = None
    with _calling(region, "ListDetectors"):
        while True:
            response = client.list_detectors(**({"NextToken": token} if token else {}))
            ids = response.get("DetectorIds") or []
            if ids:
                return ids[0]
            token = response.get("NextToken")
            if not token:
                return None


def detector_publishing_frequency(*, region: str, detector_id: str) -> str:
    """The detector's FindingPublishingFrequency (GetDetector)."""
    client = _client(region)
    with _calling(region, "GetDetector"):
        return client.get_detector(DetectorId=detector_id).get("FindingPublishingFrequency", "")


def detector_publishing_frequency_update(*, region: str, detector_id: str, frequency: str) -> None:
    """UpdateDetector's FindingPublishingFrequency (the administrator's applies to its members)."""
    client = _client(region)
    with _calling(region, "UpdateDetector"):
        client.update_detector(DetectorId=detector_id, FindingPublishingFrequency=frequency)


def detector_create(*, region: str, features: Iterable[str] = (), member_account_id: str | None = None) -> str:
    """Enable GuardDuty (CreateDetector) for the administrator, or for a member by assume-role, with every
    protection plan of DETECTOR_FEATURES explicitly ENABLED (those in `features`) or DISABLED."""
    client = _client(region, member_account_id)
    chosen = set(features)
    plans = [{"Name": name, "Status": "ENABLED" if name in chosen else "DISABLED"} for name in DETECTOR_FEATURES]
    with _calling(region, "CreateDetector"):
        return client.create_detector(Enable=True, Features=plans)["DetectorId"]


def caller_account_id(*, region: str) -> str:
    """The administrator's own account id (STS GetCallerIdentity)."""
    with _calling(region, "GetCallerIdentity"):
        return aws.client("sts", region).get_caller_identity()["Account"]


def caller_arn(*, region: str) -> str:
    """The ARN the administrator's credentials act as (STS GetCallerIdentity)."""
    with _calling(region, "GetCallerIdentity"):
        return aws.client("sts", region).get_caller_identity()["Arn"]


# --- Administrator-side member calls -------------------------------------------------------------


def members_create(*, region: str, detector_id: str, accounts: Iterable[tuple[str, str]]) -> BatchResult:
    """CreateMembers for (account id, email) pairs, 50 per call."""
    client = _client(region)
    calls, unprocessed = 0, []
    for batch in batches(list(accounts)):
        details = [{"AccountId": account_id, "Email": email} for account_id, email in batch]
        with _calling(region, "CreateMembers"):
            response = client.create_members(DetectorId=detector_id, AccountDetails=details)
        calls += 1
        unprocessed.extend(_unprocessed(response))
    return BatchResult(calls=calls, unprocessed=tuple(unprocessed))


def members_invite(
    *, region: str, detector_id: str, account_ids: Iterable[str], message: str = "", disable_email: bool = False
) -> BatchResult:
    """InviteMembers, 50 per call, with the optional message and email switch."""
    client = _client(region)
    calls, unprocessed = 0, []
    for batch in batches(list(account_ids)):
        request = {"DetectorId": detector_id, "AccountIds": batch, "DisableEmailNotification": disable_email}
        if message:
            request["Message"] = message
        with _calling(region, "InviteMembers"):
            response = client.invite_members(**request)
        calls += 1
        unprocessed.extend(_unprocessed(response))
    return BatchResult(calls=calls, unprocessed=tuple(unprocessed))


def _batch_call(region: str, operation: str, method_name: str, detector_id: str, account_ids, **extra) -> BatchResult:
    client = _client(region)
    calls, unprocessed = 0, []
    for batch in batches(list(account_ids)):
        with _calling(region, operation):
            response = getattr(client, method_name)(DetectorId=detector_id, AccountIds=batch, **extra)
        calls += 1
        unprocessed.extend(_unprocessed(response))
    return BatchResult(calls=calls, unprocessed=tuple(unprocessed))


def member_features_payload(features: Iterable[str], agents: Iterable[str] = ()) -> list[dict]:
    """UpdateMemberDetectors' Features: each plan ENABLED; Runtime's agent management under RUNTIME_MONITORING."""
    payload = [{"Name": name, "Status": "ENABLED"} for name in sorted(set(features))]
    agents = sorted(set(agents))
    if agents:
        runtime = next((f for f in payload if f["Name"] == "RUNTIME_MONITORING"), None)
        if runtime is None:
            runtime = {"Name": "RUNTIME_MONITORING", "Status": "ENABLED"}
            payload.append(runtime)
        runtime["AdditionalConfiguration"] = [{"Name": name, "Status": "ENABLED"} for name in agents]
    return payload


def member_detectors_update(
    *, region: str, detector_id: str, account_ids: Iterable[str], features: Iterable[str], agents: Iterable[str] = ()
) -> BatchResult:
    """UpdateMemberDetectors, 50 per call: turn the named plans (and Runtime's agent management) on."""
    return _batch_call(region, "UpdateMemberDetectors", "update_member_detectors", detector_id, account_ids,
                       Features=member_features_payload(features, agents))  # fmt: skip


def members_start_monitoring(*, region: str, detector_id: str, account_ids: Iterable[str]) -> BatchResult:
    """StartMonitoringMembers (Disabled → Enabled), 50 per call."""
    return _batch_call(region, "StartMonitoringMembers", "start_monitoring_members", detector_id, account_ids)


def members_stop_monitoring(*, region: str, detector_id: str, account_ids: Iterable[str]) -> BatchResult:
    """StopMonitoringMembers (Enabled → Disabled), 50 per call."""
    return _batch_call(region, "StopMonitoringMembers", "stop_monitoring_members", detector_id, account_ids)


def members_disassociate(*, region: str, detector_id: str, account_ids: Iterable[str]) -> BatchResult:
    """DisassociateMembers (→ Removed), 50 per call."""
    return _batch_call(region, "DisassociateMembers", "disassociate_members", detector_id, account_ids)


def members_delete(*, region: str, detector_id: str, account_ids: Iterable[str]) -> BatchResult:
    """DeleteMembers (gone from the administrator's list), 50 per call."""
    return _batch_call(region, "DeleteMembers", "delete_members", detector_id, account_ids)


def members_get(*, region: str, detector_id: str, account_ids: Iterable[str]) -> MembersFetched:
    """GetMembers, 50 per call."""
    client = _client(region)
    calls, members, unprocessed = 0, [], []
    for batch in batches(list(account_ids)):
        with _calling(region, "GetMembers"):
            response = client.get_members(DetectorId=detector_id, AccountIds=batch)
        calls += 1
        members.extend(_member(item) for item in response.get("Members") or ())
        unprocessed.extend(_unprocessed(response))
    return MembersFetched(calls=calls, members=tuple(members), unprocessed=tuple(unprocessed))


def members_list(*, region: str, detector_id: str, only_associated: bool = False) -> list[MemberInfo]:
    """Every member in the region (ListMembers, 50 per page); all statuses unless `only_associated`."""
    client = _client(region)
    members: list[MemberInfo] = []
    token = None
    while True:
        request = {
            "DetectorId": detector_id,
            "MaxResults": BATCH,
            "OnlyAssociated": "true" if only_associated else "false",
        }
        if token:
            request["NextToken"] = token
        with _calling(region, "ListMembers"):
            response = client.list_members(**request)
        members.extend(_member(item) for item in response.get("Members") or ())
        token = response.get("NextToken")
        if not token:
            return members


@dataclass(frozen=True, slots=True)
class MemberDetector:
    """A member's protection plans as GetMemberDetectors reports them.

    `additional` holds each plan's AdditionalConfiguration (feature name -> configuration name -> status),
    e.g. RUNTIME_MONITORING's EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT and EC2_AGENT_MANAGEMENT.
    """

    account_id: str
    features: dict[str, str]
    additional: dict[str, dict[str, str]] = field(default_factory=dict)


def member_detectors_get(*, region: str, detector_id: str, account_ids: Iterable[str]) -> list[MemberDetector]:
    """GetMemberDetectors, 50 per call: each member's protection plans (feature name → status)."""
    client = _client(region)
    found: list[MemberDetector] = []
    for batch in batches(list(account_ids)):
        with _calling(region, "GetMemberDetectors"):
            response = client.get_member_detectors(DetectorId=detector_id, AccountIds=batch)
        for item in response.get("MemberDataSourceConfigurations") or ():
            features = {f.get("Name", ""): f.get("Status", "") for f in item.get("Features") or ()}
            additional = {
                f.get("Name", ""): {a.get("Name", ""): a.get("Status", "") for a in f["AdditionalConfiguration"]}
                for f in item.get("Features") or ()
                if f.get("AdditionalConfiguration")
            }
            found.append(MemberDetector(account_id=item["AccountId"], features=features, additional=additional))
    return found


@dataclass(frozen=True, slots=True)
class UnhealthyCoverage:
    """Runtime Monitoring resources of one account without a healthy agent (ListCoverage UNHEALTHY)."""

    account_id: str
    resources: int
    issue: str


def coverage_unhealthy_list(*, region: str, detector_id: str) -> tuple[list[UnhealthyCoverage], int]:
    """Accounts with UNHEALTHY runtime coverage, and the calls made: GetCoverageStatistics first (one call), then
    ListCoverage filtered on UNHEALTHY (50 per page) only when there is any."""
    client = _client(region)
    unhealthy = {"FilterCriterion": [{"CriterionKey": "COVERAGE_STATUS", "FilterCondition": {"Equals": ["UNHEALTHY"]}}]}
    with _calling(region, "GetCoverageStatistics"):
        statistics = client.get_coverage_statistics(DetectorId=detector_id, StatisticsType=["COUNT_BY_COVERAGE_STATUS"])
    calls = 1
    if not (statistics.get("CoverageStatistics") or {}).get("CountByCoverageStatus", {}).get("UNHEALTHY"):
        return [], calls
    counts: dict[str, int] = {}
    issues: dict[str, str] = {}
    token = None
    while True:
        request = {"DetectorId": detector_id, "FilterCriteria": unhealthy, "MaxResults": BATCH}
        with _calling(region, "ListCoverage"):
            response = client.list_coverage(**request, **({"NextToken": token} if token else {}))
        calls += 1
        for resource in response.get("Resources") or ():
            account_id = resource.get("AccountId", "")
            counts[account_id] = counts.get(account_id, 0) + 1
            issues.setdefault(account_id, resource.get("Issue", ""))
        token = response.get("NextToken")
        if not token:
            return [UnhealthyCoverage(a, n, issues.get(a, "")) for a, n in sorted(counts.items())], calls


# --- Member-side calls (assumed into the member account) ----------------------------------------


def member_invitations_list(*, account_id: str, region: str) -> list[Invitation]:
    """Invitations pending for a member account (ListInvitations, as the member)."""
    client = _client(region, account_id)
    invitations: list[Invitation] = []
    token = None
    while True:
        request = {"MaxResults": BATCH, **({"NextToken": token} if token else {})}
        with _calling(region, "ListInvitations"):
            response = client.list_invitations(**request)
        invitations.extend(
            Invitation(
                administrator_id=item.get("AccountId", ""),
                invitation_id=item.get("InvitationId", ""),
                invited_at=_parse_time(item.get("InvitedAt")),
            )
            for item in response.get("Invitations") or ()
        )
        token = response.get("NextToken")
        if not token:
            return invitations


def member_invitation_accept(
    *, account_id: str, region: str, detector_id: str, administrator_id: str, invitation_id: str
) -> None:
    """AcceptAdministratorInvitation, as the member."""
    client = _client(region, account_id)
    with _calling(region, "AcceptAdministratorInvitation"):
        client.accept_administrator_invitation(
            DetectorId=detector_id, AdministratorId=administrator_id, InvitationId=invitation_id
        )


# --- AWS Organizations ----------------------------------------------------------------------------


def organization_accounts_list(*, region: str) -> list[OrganizationAccount]:
    """Every account of the organization (Organizations ListAccounts, paginated)."""
    with _calling(region, "AssumeRole"):
        client = aws.client("organizations", region)
    accounts: list[OrganizationAccount] = []
    token = None
    while True:
        with _calling(region, "ListAccounts"):
            response = client.list_accounts(**({"NextToken": token} if token else {}))
        accounts.extend(
            OrganizationAccount(
                account_id=item["Id"],
                email=item.get("Email", ""),
                name=item.get("Name", ""),
                # `State` replaces `Status`, which the model says "will be retired on September 9, 2026".
                status=item.get("State") or item.get("Status") or "",
            )
            for item in response.get("Accounts") or ()
        )
        token = response.get("NextToken")
        if not token:
            return accounts


def organization_parents(*, region: str) -> tuple[dict[str, str], int]:
    """Each organization account's parent (an OU id, or the root id), walking the tree from the root: ListRoots,
    then ListOrganizationalUnitsForParent and ListAccountsForParent per node (paginated); and the calls made.
    One call per OU rather than ListParents per account (50,000 accounts, a few hundred OUs)."""
    with _calling(region, "AssumeRole"):
        client = aws.client("organizations", region)

    def listed(operation: str, method: str, key: str, parent_id: str) -> list[dict]:
        nonlocal calls
        found, token = [], None
        while True:
            with _calling(region, operation):
                response = getattr(client, method)(ParentId=parent_id, **({"NextToken": token} if token else {}))
            calls += 1
            found.extend(response.get(key) or ())
            token = response.get("NextToken")
            if not token:
                return found

    with _calling(region, "ListRoots"):
        roots = [root["Id"] for root in client.list_roots().get("Roots") or ()]
    calls = 1
    parents: dict[str, str] = {}
    pending = list(roots)
    while pending:
        node = pending.pop()
        for account in listed("ListAccountsForParent", "list_accounts_for_parent", "Accounts", node):
            parents[account["Id"]] = node
        pending.extend(unit["Id"] for unit in listed("ListOrganizationalUnitsForParent",
                                                      "list_organizational_units_for_parent", "OrganizationalUnits", node))  # fmt: skip
    return parents, calls


def organization_management_account_id(*, region: str) -> str:
    """The organization's management account (Organizations DescribeOrganization)."""
    with _calling(region, "AssumeRole"):
        client = aws.client("organizations", region)
    with _calling(region, "DescribeOrganization"):
        response = client.describe_organization()
    return (response.get("Organization") or {}).get("MasterAccountId", "")


def organization_configuration_get(*, region: str, detector_id: str) -> OrganizationConfiguration:
    """DescribeOrganizationConfiguration of the delegated administrator in `region`."""
    client = _client(region)
    with _calling(region, "DescribeOrganizationConfiguration"):
        response = client.describe_organization_configuration(DetectorId=detector_id)
    auto = response.get("AutoEnableOrganizationMembers") or ("NEW" if response.get("AutoEnable") else "NONE")
    features = {f.get("Name", ""): f.get("AutoEnable", "") for f in response.get("Features") or ()}
    return OrganizationConfiguration(
        auto_enable_members=auto,
        member_account_limit_reached=bool(response.get("MemberAccountLimitReached")),
        features=features,
    )


def organization_configuration_update(*, region: str, detector_id: str, auto_enable_members: str) -> None:
    """UpdateOrganizationConfiguration's AutoEnableOrganizationMembers (NEW, ALL or NONE)."""
    client = _client(region)
    with _calling(region, "UpdateOrganizationConfiguration"):
        client.update_organization_configuration(DetectorId=detector_id, AutoEnableOrganizationMembers=auto_enable_members)


# --- S3 buckets and GuardDuty Malware Protection for S3 (as the member that owns the buckets) -----------


@dataclass(frozen=True, slots=True)
class BucketInfo:
    """A member's S3 bucket: its name, region (GetBucketLocation) and tags (GetBucketTagging)."""

    name: str
    region: str
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class MalwarePlanInfo:
    """A GuardDuty Malware Protection plan (GetMalwareProtectionPlan): the bucket it protects and its status."""

    plan_id: str
    bucket: str
    role: str
    status: str  # ACTIVE | WARNING | ERROR (botocore enum MalwareProtectionPlanStatus)
    status_reasons: tuple[tuple[str, str], ...] = ()  # (Code, Message)


def _bucket_region(location: str | None) -> str:
    """GetBucketLocation's LocationConstraint as a region: null is us-east-1, and the legacy `EU` is eu-west-1
    (S3 API reference, GetBucketLocation)."""
    return {"": "us-east-1", "EU": "eu-west-1"}.get(location or "", location or "us-east-1")


def member_buckets_list(*, account_id: str, region: str) -> tuple[list[BucketInfo], int]:
    """Every bucket the member owns, with its region and tags, and the calls made: ListBuckets (paginated), then
    GetBucketLocation and GetBucketTagging per bucket (S3 has no batch read of either). A bucket without tags
    answers NoSuchTagSet, which is no tags."""
    with _calling(region, "AssumeRole"):
        client = aws.client("s3", region, member_account_id=account_id)
    names: list[str] = []
    calls, token = 0, None
    while True:
        with _calling(region, "ListBuckets"):
            response = client.list_buckets(**({"ContinuationToken": token} if token else {}))
        calls += 1
        names.extend(item["Name"] for item in response.get("Buckets") or ())
        token = response.get("ContinuationToken")
        if not token:
            break
    buckets = []
    for name in names:
        with _calling(region, "GetBucketLocation"):
            location = client.get_bucket_location(Bucket=name).get("LocationConstraint")
        try:
            tag_set = client.get_bucket_tagging(Bucket=name).get("TagSet") or ()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchTagSet":
                raise _describe(region, "GetBucketTagging", error) from error
            tag_set = ()
        except BotoCoreError as error:
            raise _describe(region, "GetBucketTagging", error) from error
        calls += 2
        buckets.append(BucketInfo(name, _bucket_region(location), {t["Key"]: t.get("Value", "") for t in tag_set}))
    return buckets, calls


def _malware_plan(plan_id: str, response: dict) -> MalwarePlanInfo:
    bucket = ((response.get("ProtectedResource") or {}).get("S3Bucket") or {}).get("BucketName", "")
    reasons = tuple((r.get("Code", ""), r.get("Message", "")) for r in response.get("StatusReasons") or ())
    return MalwarePlanInfo(plan_id, bucket, response.get("Role", ""), response.get("Status", ""), reasons)


def member_malware_plans_list(*, account_id: str, region: str) -> tuple[list[MalwarePlanInfo], int]:
    """The member's Malware Protection plans in `region`, and the calls made: ListMalwareProtectionPlans (it
    answers only ids, paginated) then GetMalwareProtectionPlan for each (bucket, role, status and reasons)."""
    client = _client(region, account_id)
    ids: list[str] = []
    calls, token = 0, None
    while True:
        with _calling(region, "ListMalwareProtectionPlans"):
            response = client.list_malware_protection_plans(**({"NextToken": token} if token else {}))
        calls += 1
        ids.extend(item["MalwareProtectionPlanId"] for item in response.get("MalwareProtectionPlans") or ())
        token = response.get("NextToken")
        if not token:
            break
    plans = []
    for plan_id in ids:
        with _calling(region, "GetMalwareProtectionPlan"):
            plans.append(_malware_plan(plan_id, client.get_malware_protection_plan(MalwareProtectionPlanId=plan_id)))
        calls += 1
    return plans, calls


def member_malware_plan_create(*, account_id: str, region: str, bucket: str, role_arn: str) -> MalwarePlanInfo:
    """CreateMalwareProtectionPlan for one bucket, as the member that owns it (in the bucket's region), scanned
    objects tagged with the result; then GetMalwareProtectionPlan for the status GuardDuty gives it."""
    client = _client(region, account_id)
    with _calling(region, "CreateMalwareProtectionPlan"):
        plan_id = client.create_malware_protection_plan(
            Role=role_arn, ProtectedResource={"S3Bucket": {"BucketName": bucket}},
            Actions={"Tagging": {"Status": "ENABLED"}},
        )["MalwareProtectionPlanId"]  # fmt: skip
    with _calling(region, "GetMalwareProtectionPlan"):
        return _malware_plan(plan_id, client.get_malware_protection_plan(MalwareProtectionPlanId=plan_id))
