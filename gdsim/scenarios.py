"""Deterministic worlds to start the simulator with, and the live tick that keeps a demo moving.

`demo` (the default): administrator 111111111111 with 40 member accounts in four regions and a
mix of relationship statuses that covers every state the console shows, several thousand findings
spread over the last 90 days, saved filters (one a suppression rule), and an organization holding
most accounts in one OU per team (`organizational_unit`). The administrator has GuardDuty on, and is the
delegated administrator, in all 17 default regions; the members are in the first four only. The same seed
and the same starting clock give the same world.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import catalogue, relationships
from .ec2 import ENABLED_BY_DEFAULT
from .records import MalwareProtectionPlan, SavedFilter, iso, parse_iso

if TYPE_CHECKING:
    from .state import SimulatorState

ADMIN_ACCOUNT = "111111111111"
MANAGEMENT_ACCOUNT = "100000000001"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
_TEAMS = ("payments", "web", "data", "ml", "identity", "search", "mobile", "billing", "logistics", "analytics")
_STAGES = ("prod", "staging", "dev", "sandbox")
# How the 40 members end up, in account order (the rest are Enabled).
_STATUS_PLAN = {
    3: "Invited", 11: "Invited", 27: "Invited",
    6: "Created", 33: "Created",
    9: "EmailVerificationFailed", 21: "EmailVerificationFailed",
    14: "Disabled", 30: "Disabled",
    18: "Resigned", 36: "Resigned",
    39: "NeverInvited",
}
# Members outside the organization (invitation-only accounts, e.g. an acquired company).
_OUTSIDE_ORGANIZATION = {5, 17, 29, 38}


def member_accounts() -> list[dict[str, str]]:
    """The demo's 40 member accounts: id, name and root email."""
    accounts = []
    for index in range(40):
        name = f"{_TEAMS[index // 4]}-{_STAGES[index % 4]}"  # payments-prod, payments-staging, …
        account_id = f"2{index + 1:02d}{(index * 7919) % 10**9:09d}"
        accounts.append({"account_id": account_id, "name": name, "email": f"aws+{name}@example.com"})
    return accounts


def organizational_unit(team: str) -> str:
    """The demo organization's OU for a team: one OU per team directly under the root, as many organizations
    group accounts (botocore organizations model, OrganizationalUnitId pattern ^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$)."""
    return f"ou-d3mo-{team[:8]:0>8}"


def invitation_only_accounts() -> list[dict[str, str]]:
    """The demo's members outside the organization: invited by hand, so Organizations has no name for
    them and the demo's GuardWatch is told them as an administrator would have typed them."""
    members = member_accounts()
    return [members[index] for index in sorted(_OUTSIDE_ORGANIZATION)]


def run_scenario(state: SimulatorState, name: str, *, seed: int) -> dict[str, Any]:
    """Reset the state and build the named scenario; returns a summary.

    The scenario draws from the state's own stream (`state.rng`, seeded with `seed` by the reset),
    so whatever comes after it (live ticks, findings added through the control API or the Python
    API, operations) continues that stream. A second `random.Random(seed)` here would replay the
    draws the state's stream makes later: a live tick or an added finding then receives an Id the
    scenario already gave to another finding.
    """
    builders = {"demo": build_demo, "empty": build_empty}
    if name not in builders:
        raise ValueError(f"unknown scenario {name!r}; known: {sorted(builders)}")
    with state.lock:
        state.reset(seed=seed)
        return builders[name](state, state.rng)


def build_empty(state: SimulatorState, rng: random.Random) -> dict[str, Any]:
    """Nothing but the administrator account with detectors in the demo regions."""
    state.register_account(ADMIN_ACCOUNT, "security@example.com", name="security-tooling")
    for region in REGIONS:
        state.ensure_detector(ADMIN_ACCOUNT, region)
    return {"scenario": "empty", "admin": ADMIN_ACCOUNT, "regions": list(REGIONS), "findings": 0}


def build_demo(state: SimulatorState, rng: random.Random) -> dict[str, Any]:
    """The demo world (see the module docstring).

    Everything in it happened before the simulator's now (`anchor`): the clock stands still at or
    before the anchor while the world is built, and is given back as it was (a running clock resumes
    at real time), so no timestamp is after now.
    """
    anchor, frozen = state.now(), state.clock_frozen
    running_offset = anchor - datetime.now(UTC)  # a running clock resumes where it would be by then
    members = member_accounts()
    state.set_clock(anchor - timedelta(days=95))
    state.register_account(MANAGEMENT_ACCOUNT, "aws+management@example.com", name="management")
    state.set_organization(MANAGEMENT_ACCOUNT)
    state.register_account(ADMIN_ACCOUNT, "security@example.com", name="security-tooling", organization=True)
    for index, account in enumerate(members):
        in_organization = index not in _OUTSIDE_ORGANIZATION
        state.register_account(account["account_id"], account["email"], name=account["name"],
                               organization=in_organization,
                               parent_id=organizational_unit(_TEAMS[index // 4]) if in_organization else None)

    # GuardDuty on for the administrator in every region enabled for it, members only in the four it started with: the
    # organisation enabled the other regions later, and "auto-enable" reaches no existing account there (issue 19).
    for region in ENABLED_BY_DEFAULT:
        state.ensure_detector(ADMIN_ACCOUNT, region, features=dict.fromkeys(("S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING"), "ENABLED"), finding_publishing_frequency="FIFTEEN_MINUTES")
    _build_relationships(state, rng, members)
    # Later the organization made the security account its delegated GuardDuty administrator in every demo region
    # (EnableOrganizationAdminAccount, as the management account), so the console's Organization page works as it
    # does for a delegated administrator; the members it had invited stay members as they were.
    # GuardDuty User Guide, "Designating a delegated GuardDuty administrator account": the designation applies to the
    # current Region, and it is recommended to repeat it in every Region where GuardDuty is enabled; this one did.
    for region in ENABLED_BY_DEFAULT:
        state.delegated_admins[region] = ADMIN_ACCOUNT
    _save_filters(state)
    _seed_buckets(state, members)

    # Findings span the last 90 days, so build them at the anchor (the clock held there).
    state.set_clock(anchor)
    finding_total = _build_findings(state, rng, members)
    resign_time = anchor - timedelta(days=12)
    state.set_clock(resign_time)
    for index, status in _STATUS_PLAN.items():
        if status == "Resigned":
            for region in REGIONS:
                state.resign(members[index]["account_id"], region)
    state.set_clock(anchor)
    _archive_some(state, rng)
    if frozen:
        state.set_clock(anchor)
    else:
        state.set_clock(datetime.now(UTC) + running_offset, frozen=False)
    statuses: dict[str, int] = {}
    for region in REGIONS:
        for member in state.scope(ADMIN_ACCOUNT, region).members.values():
            statuses[member.relationship_status] = statuses.get(member.relationship_status, 0) + 1
    return {"scenario": "demo", "admin": ADMIN_ACCOUNT, "management_account": MANAGEMENT_ACCOUNT,
            "regions": list(REGIONS), "members": len(members), "statuses": statuses,
            "findings": state.finding_count(), "generated": finding_total}


# A few members' S3 buckets (bucket -> region, tags, plan status or None) for S3 malware protection per bucket tag:
# confidential buckets without a plan, one protected, one whose plan is in ERROR (GuardDuty's status reason for a
# scanning role that lost its permissions: the code is the simulator's own, the docs name no codes), and a public one
# no policy asks for. No draw from the random stream (it would move every finding id that follows).
_BUCKETS = {
    0: {"payments-prod-statements": ("us-east-1", {"data-class": "confidential", "team": "payments"}, None),
        "payments-prod-static-assets": ("us-east-1", {"data-class": "public"}, None)},
    1: {"payments-staging-kyc-documents": ("us-west-2", {"data-class": "confidential"}, "ERROR")},
    8: {"data-prod-warehouse-exports": ("eu-west-1", {"data-class": "confidential"}, "ACTIVE"),
        "data-prod-raw-uploads": ("eu-west-1", {"data-class": "confidential"}, None)},
}


def _seed_buckets(state: SimulatorState, members: list[dict[str, str]]) -> None:
    for index, buckets in _BUCKETS.items():
        account_id = members[index]["account_id"]
        for number, (name, (region, tags, status)) in enumerate(sorted(buckets.items())):
            state.accounts[account_id].s3_buckets[name] = {"region": region, "tags": dict(tags)}
            if status is None:
                continue
            plan_id = f"{int(account_id):012x}{index:04x}{number:04x}"
            reasons = [] if status == "ACTIVE" else [{
                "Code": "S3_BUCKET_ACCESS_DENIED",
                "Message": "The IAM role does not have the permissions to access the S3 bucket.",
            }]  # fmt: skip
            state.scope(account_id, region).malware_plans[plan_id] = MalwareProtectionPlan(
                plan_id=plan_id, bucket_name=name, created_at=iso(state.now()), tagging="ENABLED", status=status,
                role=f"arn:aws:iam::{account_id}:role/GuardDutyS3MalwareProtection", status_reasons=reasons,
            )


def _build_relationships(state: SimulatorState, rng: random.Random, members: list[dict[str, str]]) -> None:
    """The administrator adds and invites the members one after another (minutes apart), and each
    invited member accepts within three days of its own invitation.

    Acceptances are played afterwards in time order: they do not hold up the next invitation, and
    they end days, not months, after the first one. Before, each acceptance delay moved the clock
    for every later member, so the last ones were invited months after now ("Invited 2027-01-20").
    A member's `InvitedAt` is "The timestamp when the invitation was sent" and its `UpdatedAt` "The
    last-updated timestamp of the member" (botocore guardduty service-2.json, shape `Member`):
    neither can be after now.
    """
    acceptances: list[tuple[datetime, str, str, str]] = []
    for index, account in enumerate(members):
        plan = _STATUS_PLAN.get(index, "Enabled")
        if plan == "NeverInvited":
            continue
        account_id = account["account_id"]
        for region in REGIONS:
            state.advance_clock(rng.uniform(60, 3600))
            email = account["email"] if plan != "EmailVerificationFailed" else f"security+{account['name']}@example.net"
            relationships.create_members(state, ADMIN_ACCOUNT, region, [{"AccountId": account_id, "Email": email}])
            if plan == "Created":
                continue
            relationships.invite_members(state, ADMIN_ACCOUNT, region, [account_id],
                                         message="Please join the security team's GuardDuty.")
            if plan in ("Invited", "EmailVerificationFailed"):
                continue
            accepted_at = state.now() + timedelta(seconds=rng.uniform(3600, 3 * 86400))
            acceptances.append((accepted_at, account_id, region, plan))
    for accepted_at, account_id, region, plan in sorted(acceptances):
        state.set_clock(accepted_at)
        state.accept_invitation(account_id, region, ADMIN_ACCOUNT)
        if plan == "Disabled":
            relationships.set_monitoring(state, ADMIN_ACCOUNT, region, [account_id], enabled=False)


def _save_filters(state: SimulatorState) -> None:
    stamp = iso(state.now())
    for region in REGIONS:
        filters = state.scope(ADMIN_ACCOUNT, region).filters
        filters["high-severity-open"] = SavedFilter(
            name="high-severity-open", action="NOOP", rank=1, created_at=stamp, updated_at=stamp,
            description="High and critical findings not archived",
            criteria={"Criterion": {"severity": {"GreaterThanOrEqual": 7}, "service.archived": {"Eq": ["false"]}}})
        filters["suppress-sandbox-port-probes"] = SavedFilter(
            name="suppress-sandbox-port-probes", action="ARCHIVE", rank=2, created_at=stamp, updated_at=stamp,
            description="Port probes on unprotected ports are expected in sandboxes",
            criteria={"Criterion": {"type": {"Eq": ["Recon:EC2/PortProbeUnprotectedPort"]},
                                    "severity": {"LessThan": 4}}})


def _build_findings(state: SimulatorState, rng: random.Random, members: list[dict[str, str]]) -> int:
    total = 0
    for region in REGIONS:
        total += len(state.generate_findings(ADMIN_ACCOUNT, region, rng.randint(15, 30), spread=timedelta(days=89),
                                             rng=rng))
        for account in members:
            detector_id = state.detector_id(account["account_id"], region)
            if detector_id is None:
                continue
            busy = 1 + (int(account["account_id"][-3:]) % 3)  # some accounts are noisier
            count = rng.randint(10, 20) * busy
            total += len(state.generate_findings(account["account_id"], region, count,
                                                 spread=timedelta(days=89), rng=rng))
        total += len(state.generate_findings(ADMIN_ACCOUNT, region, 5, sample=True, rng=rng))
    total += _build_attack_sequences(state, rng, members)
    return total


# Attack sequences the demo always has, whatever the random draws gave: (member index, region, type, days ago).
# Their signals are findings of the same account (catalogue.build_attack_sequence).
_DEMO_SEQUENCES = (
    (0, "us-east-1", "AttackSequence:IAM/CompromisedCredentials", 2),
    (8, "eu-west-1", "AttackSequence:S3/CompromisedData", 9),
)


# The IAM sequence's access key was at work before, elsewhere: (member index, region, type, days ago first seen,
# days ago last seen). A finding belongs to "the account in which the finding was generated" and "the Region where
# the finding was generated" (GuardDuty API Reference, Finding: AccountId, Region) — here its detector's, as the
# types chosen are not about global-service events — and a finding seen again keeps its EventFirstSeen, "the
# first-seen timestamp of the activity that prompted GuardDuty to generate this finding", while EventLastSeen
# moves on (API Reference, Service); updated within 90 days, it is retained (state.purge_expired). So the key's
# history spans two accounts, three regions and 120+ days.
_DEMO_KEY_HISTORY = (
    (1, "us-west-2", "DefenseEvasion:IAMUser/AnomalousBehavior", 125, 20),
    (1, "eu-west-1", "Discovery:IAMUser/AnomalousBehavior", 40, 6),
)


def _build_attack_sequences(state: SimulatorState, rng: random.Random, members: list[dict[str, str]]) -> int:
    total = 0
    for index, region, finding_type, days in _DEMO_SEQUENCES:
        account_id = members[index]["account_id"]
        if state.detector_id(account_id, region) is not None:
            ids = state.add_attack_sequence(account_id, region, finding_type,
                                            now=state.now() - timedelta(days=days), rng=rng)
            total += len(ids)
            if finding_type == "AttackSequence:IAM/CompromisedCredentials":
                total += _build_key_history(state, rng, members, region, ids)
    return total


def _build_key_history(state: SimulatorState, rng: random.Random, members: list[dict[str, str]], region: str,
                       ids: list[str]) -> int:
    """Findings of other accounts and regions about the IAM sequence's access key (_DEMO_KEY_HISTORY)."""
    store = state.region_findings(region)
    key = next((store.get(finding_id).data["Resource"]["AccessKeyDetails"] for finding_id in ids[1:]
                if "AccessKeyDetails" in store.get(finding_id).data["Resource"]), None)
    total = 0
    for index, home, finding_type, first_days, last_days in _DEMO_KEY_HISTORY:
        account_id = members[index]["account_id"]
        detector_id = state.detector_id(account_id, home)
        if key is None or detector_id is None:
            continue
        finding = catalogue.build_finding(rng, finding_type=finding_type, account_id=account_id, region=home,
                                          detector_id=detector_id, now=state.now() - timedelta(days=last_days),
                                          created_at=state.now() - timedelta(days=first_days))
        old = finding["Resource"]["AccessKeyDetails"]
        finding["Resource"]["AccessKeyDetails"] = dict(key)
        for name in ("UserName", "AccessKeyId"):
            for text in ("Title", "Description"):
                finding[text] = finding[text].replace(old[name], key[name])
        state.add_finding(finding)
        total += 1
    return total


def _archive_some(state: SimulatorState, rng: random.Random) -> None:
    """The team has triaged part of the backlog: archive about a fifth of the older low findings."""
    cutoff = int((state.now() - timedelta(days=30)).timestamp() * 1000)
    for region in REGIONS:
        store = state.region_findings(region)
        for stored in list(store.by_id.values()):
            if stored.severity < 4 and stored.updated_ms < cutoff and rng.random() < 0.2 and not stored.archived:
                store.settle_results()
                stored.data["Service"]["Archived"] = True
                store.touch(stored)


def live_tick(state: SimulatorState, *, rng: random.Random | None = None) -> dict[str, Any]:
    """One step of activity: a few new findings in monitored accounts and a few repeat occurrences."""
    rng = rng or state.rng
    new, repeated = [], []
    with state.lock:
        state.settle_invitations()
        sources = sorted((scope.account_id, scope.region) for scope in state.scopes.values()
                         if scope.detector is not None and scope.detector.status == "ENABLED")
        if not sources:
            return {"new": [], "repeated": [], "accepted": []}
        for _ in range(rng.randint(1, 3)):
            account_id, region = rng.choice(sources)
            new.extend(state.generate_findings(account_id, region, 1, rng=rng))
        recent_cutoff = int((state.now() - timedelta(days=14)).timestamp() * 1000)
        for region in sorted(state.findings):
            store = state.findings[region]
            recent = [finding_id for finding_id in store.latest_ids(200)
                      if store.by_id[finding_id].updated_ms >= recent_cutoff]
            if recent and rng.random() < 0.6:
                finding_id = rng.choice(recent)
                state.repeat_finding(region, finding_id, rng=rng)
                repeated.append(finding_id)
        accepted = _members_accept(state, rng)
    return {"new": new, "repeated": repeated, "accepted": accepted}


# In live mode a member invited recently accepts on its own after a while, as the people who own member
# accounts do (the seed's member side: CreateDetector, then AcceptAdministratorInvitation). Invitations
# older than a day are left pending, so the demo keeps its long-pending "Invited" members.
ACCEPT_AFTER = timedelta(seconds=60)
ACCEPT_WITHIN = timedelta(days=1)
ACCEPT_CHANCE = 0.3


def _members_accept(state: SimulatorState, rng: random.Random) -> list[tuple[str, str]]:
    now = state.now()
    accepted = []
    for scope in sorted(state.scopes.values(), key=lambda s: (s.account_id, s.region)):
        for administrator_id, invitation in sorted(scope.invitations.items()):
            age = now - parse_iso(invitation.invited_at)
            if ACCEPT_AFTER <= age <= ACCEPT_WITHIN and rng.random() < ACCEPT_CHANCE:
                state.accept_invitation(scope.account_id, scope.region, administrator_id)
                accepted.append((scope.account_id, scope.region))
                break  # one administrator per account and region
    return accepted
