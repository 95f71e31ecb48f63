"""Drift: compare each account's coverage policy with what the synced tables say GuardDuty has.

Reads only what the syncs already stored (Membership, MemberProtection with its AdditionalConfiguration, and
RegionState's auto-enable and enabled regions): no AWS call per account. Each deviation is kept with its cause;
a deviation not seen before raises one alert per account and kind; each evaluation records the day's compliance
(pairs of account x required region with no deviation).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts import deviation_history as history
from accounts.models import (
    MONITORED,
    PROTECTION_PLANS,
    ComplianceDay,
    ComplianceScopeDay,
    CoveragePolicy,
    Deviation,
    MemberAccount,
    Membership,
    RegionState,
    status_label,
)
from accounts.policies import policies_ordered, policy_resolve, resolution_key
from accounts.s3_malware import bucket_deviations
from accounts.services import account_who, configured_regions
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import alert_raise

Kind = Deviation.Kind
PLAN_LABELS = {name: label for name, (_names, label) in PROTECTION_PLANS.items()}
# Why an account that is not monitored in a region is not, by its GuardDuty relationship status.
MEMBERSHIP_CAUSES = {
    "": "Not a member in this region (never added, or deleted).",
    "Created": "Added (CreateMembers) but never invited.",
    "Invited": "Invited; the member has not accepted the invitation.",
    "EmailVerificationInProgress": "Invited; GuardDuty is still verifying the member's email.",
    "EmailVerificationFailed": "GuardDuty could not verify the member's email: re-create it with the root email.",
    "Disabled": "The administrator stopped monitoring it (Disabled).",
    "Removed": "Disassociated by the administrator (Removed).",
    "Resigned": "The member left the administrator (Resigned).",
    "RegionDisabled": "The region is disabled in the member account.",
    "AccountSuspended": "The AWS account is suspended.",
}
_MEMBERSHIP_FIELDS = ("account_id", "region", "relationship_status", *(f"protection__{n}" for n in PROTECTION_PLANS),
                      "protection__runtime_unhealthy", "protection__runtime_issue",
                      "protection__additional_configuration", "protection__checked_at")  # fmt: skip


@dataclass
class DriftResult:
    """What one evaluation found and changed."""

    pairs: int = 0
    compliant: int = 0
    deviations: int = 0
    new: int = 0
    resolved: int = 0
    alerts: int = 0
    seconds: float = 0.0

    @property
    def percent(self) -> float:
        return 100.0 * self.compliant / self.pairs if self.pairs else 100.0


@dataclass(frozen=True)
class Found:
    """A deviation as computed (before it is matched with the stored ones)."""

    policy_id: int
    account_id: int | None
    region: str
    kind: str
    feature: str
    status: str
    cause: str


def membership_cause(status: str, region: str) -> str:
    return MEMBERSHIP_CAUSES.get(status, f"GuardDuty reports {status_label(status)} in {region}.")


def pair_deviations(policy: CoveragePolicy, account_pk: int, region: str, row: tuple | None) -> list[Found]:
    """Deviations of one account in one required region from `policy`, given its Membership row (or None)."""
    status = row[2] if row else ""
    if status != MONITORED:
        return [
            Found(
                policy.pk, account_pk, region, Kind.MEMBERSHIP, "", status, membership_cause(status, region)
            )
        ]
    plans = dict(zip(PROTECTION_PLANS, row[3 : 3 + len(PROTECTION_PLANS)], strict=True))
    unhealthy, issue, additional, checked_at = row[-4:]
    found = []
    for name in policy.plans:
        current = (plans.get(name) or "").upper()
        if current != "ENABLED":
            cause = (f"{PLAN_LABELS.get(name, name)} is {current}." if current else
                     f"GetMemberDetectors has not reported {PLAN_LABELS.get(name, name)} for this member"
                     + (" yet." if checked_at is None else "."))  # fmt: skip
            found.append(Found(policy.pk, account_pk, region, Kind.PLAN, name, current, cause))
    if unhealthy and ("runtime_monitoring" in policy.plans or policy.runtime_agents):
        found.append(Found(policy.pk, account_pk, region, Kind.AGENT, "COVERAGE", "UNHEALTHY",
                           f"{unhealthy} resource{'s' if unhealthy != 1 else ''} without a healthy runtime agent "
                           f"(ListCoverage){': ' + issue if issue else ''}."))  # fmt: skip
    if policy.runtime_agents:
        agents = (
            (additional or {}).get("RUNTIME_MONITORING")
            or (additional or {}).get("EKS_RUNTIME_MONITORING")
            or {}
        )
        for name in policy.runtime_agents:
            current = str(agents.get(name, "")).upper()
            if current != "ENABLED":
                found.append(Found(policy.pk, account_pk, region, Kind.AGENT, name, current,
                                   f"Runtime Monitoring's {name} is {current or 'not reported'}: GuardDuty does not "
                                   "manage the security agent there."))  # fmt: skip
    return found


def required_regions(policy: CoveragePolicy, enabled: Sequence[str]) -> list[str]:
    return list(policy.regions) if policy.regions else list(enabled)


def enabled_regions() -> list[str]:
    """Regions enabled for the administrator account (region discovery), or the configured ones if not read."""
    found = list(
        RegionState.objects.filter(account_enabled=True).order_by("region").values_list("region", flat=True)
    )
    return found or configured_regions()


def drift_evaluate() -> DriftResult:
    """Evaluate every account against its policy, store the deviations, alert on new ones, record compliance."""
    started = time.process_time()
    result = DriftResult()
    policies = policies_ordered()
    enabled = enabled_regions()
    applied: dict[int, tuple[CoveragePolicy, frozenset[str]]] = {}  # account pk -> (policy, required regions)
    by_key: dict[tuple, CoveragePolicy | None] = {}
    wanted_by_policy: dict[int, frozenset[str]] = {}
    key_of = resolution_key(policies)
    ous: dict[int, str] = {}
    for pk, account_id, tags, ou in MemberAccount.objects.values_list(
        "pk", "account_id", "tags", "organizational_unit"
    ).iterator(chunk_size=10000):
        tags = tuple(tags or ())
        key = key_of(account_id, tags, ou)
        if key not in by_key:
            by_key[key] = policy_resolve(policies, account_id=account_id, tags=tags, ou=ou).policy
        if by_key[key] is not None:
            ous[pk] = ou
            applied[pk] = (by_key[key], wanted_by_policy.setdefault(by_key[key].pk, frozenset(
                required_regions(by_key[key], enabled))))  # fmt: skip
    found: list[Found] = []
    per_scope: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # (policy, OU) -> [pairs, compliant]
    regions = sorted({region for _p, wanted in applied.values() for region in wanted})
    for (
        region
    ) in regions:  # one plain query per region (~50,000 rows at most): no sort, no server-side cursor
        rows = {
            row[0]: row for row in Membership.objects.filter(region=region).values_list(*_MEMBERSHIP_FIELDS)
        }
        for account_pk, (policy, wanted) in applied.items():
            if region in wanted:
                pair = pair_deviations(policy, account_pk, region, rows.get(account_pk))
                result.pairs += 1
                result.compliant += not pair
                counts = per_scope[(policy.pk, ous[account_pk])]
                counts[0] += 1
                counts[1] += not pair
                found.extend(pair)
    found.extend(_auto_enable_deviations(applied, policies))
    found.extend(_publishing_deviations(applied))
    found.extend(_s3_malware_deviations(applied, result))
    _store(found, result)
    today = timezone.localdate()
    ComplianceDay.objects.update_or_create(
        day=today, defaults={"pairs": result.pairs, "compliant": result.compliant, "evaluated_at": timezone.now()},
    )  # fmt: skip
    _scope_days_store(today, per_scope, {p.pk: p.name for p in policies})
    result.deviations = len(found)
    result.seconds = time.process_time() - started
    return result


def _auto_enable_deviations(applied: dict, policies: Sequence[CoveragePolicy]) -> list[Found]:
    """Where an organisation-wide policy applies and the region's AutoEnableOrganizationMembers is known and not
    ALL, existing organisation accounts that are not members stay out (the region is a deviation)."""
    organisation = next((p for p in policies if p.scope == CoveragePolicy.Scope.ORGANISATION), None)
    if organisation is None or not applied:
        return []
    wanted = set(required_regions(organisation, enabled_regions()))
    found = []
    for region, value in (
        RegionState.objects.filter(region__in=wanted)
        .exclude(org_auto_enable_members="")
        .values_list("region", "org_auto_enable_members")
    ):
        if value != "ALL":
            found.append(Found(organisation.pk, None, region, Kind.AUTO_ENABLE, "", value,
                               f"Auto-enable for organisation members is {value}: accounts that join the "
                               f"organisation{' ' if value == 'NEW' else ' (or are already in it) '}"
                               f"{'are added, but existing ones that are not members stay out' if value == 'NEW' else 'are not added'}."))  # fmt: skip
    return found


def _publishing_deviations(applied: dict) -> list[Found]:
    """The administrator's publishing frequency applies to every member of a region: a region whose frequency (as
    last read) is not the one its accounts' policies ask for deviates; policies asking for two is shown too."""
    wanted: dict[str, dict[str, CoveragePolicy]] = defaultdict(dict)  # region -> frequency -> a policy asking it
    for policy, regions in {(p.pk, r): (p, r) for p, r in applied.values()}.values():
        if policy.finding_publishing_frequency:
            for region in regions:
                wanted[region].setdefault(policy.finding_publishing_frequency, policy)
    known = dict(RegionState.objects.filter(region__in=list(wanted)).exclude(finding_publishing_frequency="")
                 .values_list("region", "finding_publishing_frequency"))  # fmt: skip
    found = []
    for region, asked in sorted(wanted.items()):
        current = known.get(region)
        if current is None or current in asked and len(asked) == 1:
            continue
        policy = next(iter(asked.values()))
        cause = (f"Findings are published every {current.replace('_', ' ').lower()}; the policy asks for "
                 f"{policy.finding_publishing_frequency.replace('_', ' ').lower()}.") if len(asked) == 1 else (
                 f"Policies ask for {', '.join(sorted(asked))} in one region, and one frequency applies to every "
                 "member there.")  # fmt: skip
        found.append(Found(policy.pk, None, region, Kind.PUBLISHING, "", current, cause))
    return found


def _s3_malware_deviations(applied: dict, result: DriftResult) -> list[Found]:
    """Buckets carrying one of their policy's S3 malware tags without an ACTIVE plan (from the S3 inventory); each
    covered bucket counts in compliance like an (account, region) pair."""
    rows, covered = bucket_deviations(applied)
    result.pairs += covered
    result.compliant += covered - len(rows)
    return [Found(policy, account, region, Kind.S3_MALWARE, bucket, status, cause)
            for policy, account, region, bucket, status, cause in rows]  # fmt: skip


def _scope_days_store(day, per_scope: dict[tuple[int, str], list[int]], names: dict[int, str]) -> None:
    """The day's compliance per policy and OU (what evidence exports read per scope), replacing today's."""
    with transaction.atomic():
        ComplianceScopeDay.objects.filter(day=day).delete()
        ComplianceScopeDay.objects.bulk_create(
            [ComplianceScopeDay(day=day, policy_id=policy_pk, policy_name=names[policy_pk], organizational_unit=ou,
                                pairs=pairs, compliant=compliant)
             for (policy_pk, ou), (pairs, compliant) in sorted(per_scope.items())],
            batch_size=2000,
        )  # fmt: skip


def _key(item) -> tuple:
    return (item.account_id, item.region, item.kind, item.feature)


def _store(found: list[Found], result: DriftResult) -> None:
    """Replace the stored deviations with `found`, keeping first-seen dates and their history; alert on new ones."""
    now = timezone.now()
    current = {_key(item): item for item in found}
    with transaction.atomic():
        stored = {
            (account_id, region, kind, feature): (pk, policy_id, status, cause)
            for pk, account_id, region, kind, feature, policy_id, status, cause in Deviation.objects.values_list(
                "pk", "account_id", "region", "kind", "feature", "policy_id", "status", "cause").iterator(chunk_size=20000)
        }  # fmt: skip
        gone = [pk for key, (pk, *_rest) in stored.items() if key not in current]
        for chunk in itertools.batched(gone, 10000, strict=False):
            Deviation.objects.filter(pk__in=chunk).delete()
        changed = [
            Deviation(pk=stored[key][0], policy_id=item.policy_id, status=item.status, cause=item.cause)
            for key, item in current.items()
            if key in stored and stored[key][1:] != (item.policy_id, item.status, item.cause)
        ]
        Deviation.objects.bulk_update(changed, ["policy_id", "status", "cause"], batch_size=2000)
        new = [item for key, item in current.items() if key not in stored]
        Deviation.objects.bulk_create(
            [Deviation(policy_id=i.policy_id, account_id=i.account_id, region=i.region, kind=i.kind, feature=i.feature,
                       status=i.status, cause=i.cause, first_seen_at=now) for i in new],
            batch_size=5000,
        )  # fmt: skip
        history.records_follow(changed=changed, gone=gone, now=now)
        result.new, result.resolved = len(new), len(gone)
        result.alerts = _alerts_raise(new)


# Past this many accounts newly drifting in one evaluation (a first evaluation, a new policy), each kind raises one
# summary alert for the rest instead of one per account: thousands of alerts would bury everything else.
ALERTS_PER_EVALUATION = 200


def _alerts_raise(new: Iterable[Found]) -> int:
    """One alert per account (or region) and kind of deviation, naming what is off and where."""
    grouped: dict[tuple, list[Found]] = defaultdict(list)
    for item in new:
        grouped[(item.account_id, item.region if item.account_id is None else "", item.kind)].append(item)
    keys = sorted(grouped, key=lambda key: (key[0] is not None, key[0] or 0, key[1], key[2]))
    one_by_one, rest = keys[:ALERTS_PER_EVALUATION], keys[ALERTS_PER_EVALUATION:]
    accounts = MemberAccount.objects.in_bulk([pk for pk, _r, _k in one_by_one if pk is not None])
    for key in one_by_one:
        account_pk, region, kind = key
        items = grouped[key]
        where = ", ".join(sorted({i.region for i in items}))
        what = ", ".join(sorted({PLAN_LABELS.get(i.feature, i.feature) for i in items if i.feature}))
        label = Kind(kind).label + (f" ({what})" if what else "")
        if account_pk is None:
            target, who = ("region", region, f"Organisation in {region}"), f"Region {region}"
            dedupe = f"drift:region:{region}:{kind}"
        else:
            account = accounts[account_pk]
            target = ("accounts.memberaccount", account.account_id, f"{account.account_id} in {where}")
            who, dedupe = f"Member {account_who(account)}", f"drift:{account.account_id}:{kind}"
        alert_raise(kind=f"drift.{kind}", title=f"{who} drifted from its coverage policy: {label} in {where}",
                    message=" ".join(sorted({i.cause for i in items}))[:2000], target=target, dedupe_key=dedupe)  # fmt: skip
    by_kind: dict[str, int] = defaultdict(int)
    for _pk, _region, kind in rest:
        by_kind[kind] += 1
    for kind, count in by_kind.items():
        alert_raise(kind=f"drift.{kind}", title=f"{count:,} more accounts drifted from their coverage policy: "
                    f"{Kind(kind).label}", message="See the drift page for each account and cause.",
                    target=("page", "accounts:drift", "Drift"), dedupe_key=f"drift:many:{kind}")  # fmt: skip
    return len(one_by_one) + len(by_kind)


def drift_evaluate_request() -> None:
    """Queue an evaluation (after commit), e.g. from the drift page's "Evaluate now"."""
    task_send_on_commit("accounts.tasks.drift_evaluate")
