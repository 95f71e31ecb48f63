"""Coverage policies: the desired GuardDuty state per scope, and which policy applies to an account.

The most specific scope wins: a list of accounts, then an account tag, then an Organizations OU, then the whole
organisation. Two policies of the same scope that both match an account and ask for different things are a
conflict: the older one applies, and the policies page lists the conflict until an Admin resolves it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Q

from accounts.models import CoveragePolicy, MemberAccount
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import audit_record

Scope = CoveragePolicy.Scope
SPECIFICITY = {Scope.ACCOUNTS: 4, Scope.TAG: 3, Scope.OU: 2, Scope.ORGANISATION: 1}
EDITABLE = ("name", "scope", "scope_value", "scope_accounts", "regions", "plans", "runtime_agents",
            "s3_malware_bucket_tags", "finding_publishing_frequency")  # fmt: skip


def policy_matches(policy: CoveragePolicy, *, account_id: str, tags: Iterable[str], ou: str) -> bool:
    """Whether the policy's scope covers an account (its id, tags and Organizations parent)."""
    if policy.scope == Scope.ORGANISATION:
        return True
    if policy.scope == Scope.OU:
        return bool(ou) and ou == policy.scope_value
    if policy.scope == Scope.TAG:
        return policy.scope_value in tags
    return account_id in policy.scope_accounts


def desired_state(policy: CoveragePolicy) -> tuple:
    """What a policy asks for, comparable between policies (order of the lists does not matter)."""
    return (tuple(sorted(policy.regions)), tuple(sorted(policy.plans)), tuple(sorted(policy.runtime_agents)),
            tuple(sorted(policy.s3_malware_bucket_tags)), policy.finding_publishing_frequency)  # fmt: skip


@dataclass
class Resolution:
    """The policy that applies to one account, and same-scope policies that match it and disagree."""

    policy: CoveragePolicy | None
    conflicts: list[CoveragePolicy] = field(default_factory=list)


def policy_resolve(
    policies: Sequence[CoveragePolicy], *, account_id: str, tags: Iterable[str], ou: str
) -> Resolution:
    """The most specific matching policy (the oldest among equals) and the equals that disagree with it.

    `policies` must be in `policies_ordered` order.
    """
    tags = tuple(tags)
    winner: CoveragePolicy | None = None
    conflicts = []
    for policy in policies:
        if winner is not None and SPECIFICITY[policy.scope] < SPECIFICITY[winner.scope]:
            break
        if not policy_matches(policy, account_id=account_id, tags=tags, ou=ou):
            continue
        if winner is None:
            winner = policy
        elif desired_state(policy) != desired_state(winner):
            conflicts.append(policy)
    return Resolution(winner, conflicts)


def policies_ordered() -> list[CoveragePolicy]:
    """Every policy, most specific scope first, then oldest first (the order `policy_resolve` reads)."""
    return sorted(CoveragePolicy.objects.all(), key=lambda p: (-SPECIFICITY[p.scope], p.created_at, p.pk))


@dataclass(frozen=True)
class Conflict:
    """An account two same-scope policies claim with different desired states."""

    account_id: str
    applied: CoveragePolicy
    ignored: tuple[CoveragePolicy, ...]


def resolution_key(policies: Sequence[CoveragePolicy]):
    """A function of (account id, tags, OU) equal for accounts every policy treats alike, so one resolution serves
    them all: only the accounts a list policy names are told apart by their id."""
    listed = frozenset(a for p in policies if p.scope == Scope.ACCOUNTS for a in p.scope_accounts)
    return lambda account_id, tags, ou: (account_id if account_id in listed else "", tags, ou)


def policy_conflicts(*, limit: int = 200) -> tuple[list[Conflict], int]:
    """Accounts with conflicting policies (up to `limit` of them, by account id) and how many there are in all.

    Only two policies of one scope can conflict: with at most one per scope no account is read. Otherwise the
    accounts are counted per (tags, OU) in SQL, one resolution per group (a few hundred at 50,000 accounts), and
    the accounts a list policy names are resolved one by one.
    """
    policies = policies_ordered()
    scopes = [p.scope for p in policies]
    if len(scopes) == len(set(scopes)):
        return [], 0
    listed = sorted({a for p in policies if p.scope == Scope.ACCOUNTS for a in p.scope_accounts})
    groups: dict[tuple, int] = defaultdict(int)
    for tags, ou, count in (MemberAccount.objects.order_by().values_list("tags", "organizational_unit")
                            .annotate(n=Count("id"))):  # fmt: skip
        groups[(tuple(tags or ()), ou)] += count
    conflicting: list[tuple[str, Resolution]] = []  # (account id, resolution) of the listed accounts in conflict
    for chunk in itertools.batched(listed, 5000, strict=False):
        for account_id, tags, ou in MemberAccount.objects.filter(account_id__in=chunk).values_list(
            "account_id", "tags", "organizational_unit"
        ):
            tags = tuple(tags or ())
            groups[(tags, ou)] -= 1  # counted below on its own
            resolution = policy_resolve(policies, account_id=account_id, tags=tags, ou=ou)
            if resolution.conflicts:
                conflicting.append((account_id, resolution))
    total = len(conflicting)
    examples = [Conflict(a, r.policy, tuple(r.conflicts)) for a, r in conflicting]
    for (tags, ou), count in groups.items():
        if count <= 0:
            continue
        resolution = policy_resolve(policies, account_id="", tags=tags, ou=ou)
        if not resolution.conflicts:
            continue
        total += count
        accounts = MemberAccount.objects.filter(organizational_unit=ou).exclude(account_id__in=listed)
        accounts = accounts.filter(tags=list(tags)) if tags else accounts.filter(Q(tags=[]) | Q(tags__isnull=True))
        examples += [Conflict(a, resolution.policy, tuple(resolution.conflicts))
                     for a in accounts.order_by("account_id").values_list("account_id", flat=True)[:limit]]  # fmt: skip
    return sorted(examples, key=lambda c: c.account_id)[:limit], total


def policy_save(*, policy: CoveragePolicy | None = None, data: dict, actor) -> CoveragePolicy:
    """Create or change a policy from a valid form's cleaned data; audited with what changed."""
    with transaction.atomic():
        creating = policy is None
        policy = policy or CoveragePolicy()
        before = {name: getattr(policy, name) for name in EDITABLE}
        for name in EDITABLE:
            setattr(policy, name, data[name])
        policy.updated_by = actor if getattr(actor, "pk", None) else None
        policy.save()
        after = {name: getattr(policy, name) for name in EDITABLE}
        changes = (
            after
            if creating
            else {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
        )
        audit_record(actor=actor, verb="policy.create" if creating else "policy.update", target=policy,
                     details=changes)  # fmt: skip
        if policy.s3_malware_bucket_tags and (creating or "s3_malware_bucket_tags" in changes):
            # The members' buckets are read only for policies that name bucket tags: read them now, not at the
            # next hourly inventory.
            task_send_on_commit("accounts.tasks.s3_inventory_sync")
    return policy


def policy_delete(*, policy: CoveragePolicy, actor) -> None:
    """Delete a policy (its deviations go with it); audited."""
    with transaction.atomic():
        audit_record(actor=actor, verb="policy.delete", target=policy, details={"name": policy.name})
        policy.delete()
