"""Coverage policies: the desired GuardDuty state per scope, and which policy applies to an account.

The most specific scope wins: a list of accounts, then an account tag, then an Organizations OU, then the whole
organisation. Two policies of the same scope that both match an account and ask for different things are a
conflict: the older one applies, and the policies page lists the conflict until an Admin resolves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction

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


def policy_conflicts(*, limit: int = 200) -> tuple[list[Conflict], int]:
    """Accounts with conflicting policies (up to `limit` of them) and how many there are in all."""
    policies = policies_ordered()
    found, total = [], 0
    if len(policies) < 2:
        return found, total
    resolved: dict[tuple, Resolution] = {}
    rows = MemberAccount.objects.values_list("account_id", "tags", "organizational_unit").iterator(
        chunk_size=5000
    )
    for account_id, tags, ou in rows:
        tags = tuple(tags or ())
        key = (tags, ou) if not any(p.scope == Scope.ACCOUNTS for p in policies) else (account_id, tags, ou)
        if key not in resolved:
            resolved[key] = policy_resolve(policies, account_id=account_id, tags=tags, ou=ou)
        resolution = resolved[key]
        if resolution.conflicts:
            total += 1
            if len(found) < limit:
                found.append(Conflict(account_id, resolution.policy, tuple(resolution.conflicts)))
    return found, total


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
