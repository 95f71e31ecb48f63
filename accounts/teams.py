"""Teams and who is scoped to them: the accounts a team owns, a user's scope, and the writes (audited).

`user_scope` is the resolver behind `guardwatch.core.scope.scope_for` (registered in `AccountsConfig.ready`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.utils.text import slugify

from accounts.csvimport import account_id_normalize
from accounts.models import MemberAccount, ScopedUser, Team, TeamMembership
from guardwatch.core.data_version import data_version
from guardwatch.core.models import SsoGroupMapping
from guardwatch.core.roles import Role
from guardwatch.core.scope import Scope, scope_forget
from guardwatch.core.services import audit_record

# --- Reads ---------------------------------------------------------------------------------------


def _rules_q(teams: Iterable[Team]) -> Q | None:
    """Member accounts matched by the teams' OU and tag rules (None when there are no such rules)."""
    q = Q()
    matched = False
    for team in teams:
        if team.organizational_units:
            q |= Q(organizational_unit__in=team.organizational_units)
            matched = True
        for tag in team.tags:
            q |= Q(tags__contains=[tag])
            matched = True
    return q if matched else None


def team_account_ids(*, teams: Sequence[Team]) -> frozenset[str]:
    """Every account id the teams own: their listed ids and the member accounts their OU and tag rules match."""
    ids = {account for team in teams for account in team.account_ids}
    rules = _rules_q(teams)
    if rules is not None:
        ids.update(MemberAccount.objects.filter(rules).values_list("account_id", flat=True))
    return frozenset(ids)


# --- Owners: which teams own an account (and so a finding of it) ----------------------------------


def team_slug(name: str) -> str:
    """How an owner tag's value names a team: `Payments Core`, `payments-core` and `PAYMENTS_CORE` are one."""
    return slugify(name.replace("_", " "))


def _owner_tag_values(tags: Iterable[str]) -> set[str]:
    """The slugs named by an account's owner tags (`owner=payments`, keys in GUARDWATCH_OWNER_TAG_KEYS)."""
    keys = {key.lower() for key in settings.GUARDWATCH_OWNER_TAG_KEYS}
    found = set()
    for tag in tags or ():
        key, sep, value = str(tag).partition("=")
        if sep and key.strip().lower() in keys and value.strip():
            found.add(team_slug(value.strip()))
    return found


def account_owners(*, account_ids: Iterable[str]) -> dict[str, list[Team]]:
    """The teams owning each account id (by name), for any number of ids in two queries.

    A team owns an account when its scope covers it (a listed id, the account's Organizations OU, one of its
    tags as written) or when one of the account's owner tags (keys GUARDWATCH_OWNER_TAG_KEYS, default `owner`
    and `team`) names the team: the tag's value and the team's name compare as slugs (case, spaces and
    punctuation aside). An account GuardWatch does not list as a member can still be owned by listed id.
    """
    ids = sorted({a for a in account_ids if a})
    if not ids:
        return {}
    teams = list(Team.objects.order_by("name"))
    if not teams:
        return {a: [] for a in ids}
    # Each rule kind as a lookup table (value -> team positions), so a long list costs no teams × accounts walk.
    by_slug: dict[str, set[int]] = {}
    by_account: dict[str, set[int]] = {}
    by_ou: dict[str, set[int]] = {}
    by_tag: dict[str, set[int]] = {}
    for position, team in enumerate(teams):
        by_slug.setdefault(team_slug(team.name), set()).add(position)
        for account in team.account_ids:
            by_account.setdefault(account, set()).add(position)
        for ou in team.organizational_units:
            by_ou.setdefault(ou, set()).add(position)
        for tag in team.tags:
            by_tag.setdefault(tag, set()).add(position)
    accounts = {
        account_id: (ou, tags or [])
        for account_id, ou, tags in MemberAccount.objects.filter(account_id__in=ids).values_list(
            "account_id", "organizational_unit", "tags"
        )
    }
    owners: dict[str, list[Team]] = {}
    for account_id in ids:
        ou, tags = accounts.get(account_id, ("", []))
        found = set(by_account.get(account_id, ()))
        if ou:
            found |= by_ou.get(ou, set())
        for tag in tags:
            found |= by_tag.get(tag, set())
        for slug in _owner_tag_values(tags):
            found |= by_slug.get(slug, set())
        owners[account_id] = [teams[position] for position in sorted(found)]  # in name order
    return owners


def finding_owners(*, findings: Iterable) -> dict[int, list[Team]]:
    """The owning teams of each finding (anything with `pk` and `account_id`), keyed by the finding's pk.

    The one selector for "whose finding is this": routing to the owning team, team digests and SLA escalation
    call it with a whole batch (two queries whatever the number of findings).
    """
    findings = list(findings)
    owners = account_owners(account_ids=[f.account_id for f in findings])
    return {f.pk: owners.get(f.account_id, []) for f in findings}


def _scoped_mark(user) -> bool:
    """Whether the person is marked team-scoped: kept in the shared cache under the access version, which a
    mark given or taken bumps (accounts' app config connects ScopedUser's saves and deletes to it)."""
    from guardwatch.core.access import ACCESS_CACHE_SECONDS, ACCESS_SCOPE

    try:
        key = f"guardwatch:scoped:{data_version(scope=ACCESS_SCOPE)}:{user.pk}"
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage: read the database
        key, found = None, None
    if found is None:
        found = ScopedUser.objects.filter(user_id=user.pk).exists()
        if key is not None:
            with contextlib.suppress(Exception):
                cache.set(key, found, ACCESS_CACHE_SECONDS)
    return bool(found)


def user_scope(user) -> Scope:
    """None for an organisation-wide user; the union of their teams' accounts when they are team-scoped.

    Admins are organisation-wide whatever their mark. When the request's access was loaded from the cache
    (`guardwatch.core.access`: its group names), the mark comes from the cache too, so an organisation-wide
    person's request asks the database nothing; a scoped person costs one query for their teams and, when
    the teams have OU or tag rules, one for the accounts those match.
    """
    names = getattr(user, "group_names", None)
    if names is not None:
        if Role.ADMIN.value in names or not _scoped_mark(user):
            return None
        return team_account_ids(teams=list(Team.objects.filter(memberships__user=user)))
    admin = Group.objects.filter(name=Role.ADMIN.value, user=OuterRef("pk"))
    flags = get_user_model().objects.filter(pk=user.pk).annotate(
        admin=Exists(admin), scoped=Exists(ScopedUser.objects.filter(user=OuterRef("pk")))
    )
    is_admin, scoped = flags.values_list("admin", "scoped").first() or (False, False)
    if is_admin or not scoped:
        return None
    return team_account_ids(teams=list(Team.objects.filter(memberships__user=user)))


def team_list() -> list[Team]:
    """Every team with its members (two queries)."""
    return list(Team.objects.prefetch_related("memberships__user"))


def team_get(*, pk: int) -> Team:
    """One team, or 404."""
    return get_object_or_404(Team, pk=pk)


def scoped_user_ids() -> set[int]:
    return set(ScopedUser.objects.values_list("user_id", flat=True))


# --- Writes --------------------------------------------------------------------------------------


def team_rules_parse(*, account_ids: str, organizational_units: str, tags: str) -> dict[str, list[str]]:
    """The three rule lists from comma- or line-separated text; a malformed account id or OU is refused."""

    def parts(text: str) -> list[str]:
        return sorted({p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()})

    ids = [account_id_normalize(a) for a in parts(account_ids)]
    bad = [a for a in ids if not (a.isascii() and a.isdigit() and len(a) == 12)]
    if bad:
        raise ValidationError(f"Not a 12-digit account id: {', '.join(bad[:5])}.")
    ous = parts(organizational_units)
    bad = [ou for ou in ous if not (ou.startswith("ou-") or ou.startswith("r-"))]
    if bad:
        raise ValidationError(f"Not an organizational unit id (ou-… or r-…): {', '.join(bad[:5])}.")
    return {"account_ids": sorted(set(ids)), "organizational_units": ous, "tags": parts(tags)}


@transaction.atomic
def team_save(*, team: Team | None, name: str, rules: dict[str, list[str]], actor) -> Team:
    """Create a team or change its name and rules (audited with the rules before and after)."""
    name = name.strip()[:100]
    if not name:
        raise ValidationError("A team needs a name.")
    if Team.objects.filter(name__iexact=name).exclude(pk=team.pk if team else None).exists():
        raise ValidationError(f"A team named “{name}” exists already.")
    before = None
    if team is None:
        team = Team(name=name, **rules)
    else:
        before = {"name": team.name, "account_ids": team.account_ids,
                  "organizational_units": team.organizational_units, "tags": team.tags}  # fmt: skip
        team.name = name
        for key, value in rules.items():
            setattr(team, key, value)
    team.save()
    if before is not None and before["name"] != team.name:  # single sign-on's mappings follow the rename
        SsoGroupMapping.objects.filter(team=before["name"]).update(team=team.name)
    after = {"name": team.name, **rules}
    audit_record(actor=actor, verb="team.create" if before is None else "team.change", target=team,
                 details={"after": after} if before is None else {"before": before, "after": after})  # fmt: skip
    return team


@transaction.atomic
def team_delete(*, team: Team, actor) -> None:
    members = list(team.memberships.values_list("user__username", flat=True))
    audit_record(actor=actor, verb="team.delete", target=team, details={"members": members})
    SsoGroupMapping.objects.filter(team=team.name).update(team="")  # those groups now name no team
    team.delete()


@transaction.atomic
def user_teams_set(*, user, teams: Sequence[Team], scoped: bool, actor) -> None:
    """Put a person in exactly `teams` and mark them team-scoped or organisation-wide (audited when it changes)."""
    before_teams = set(TeamMembership.objects.filter(user=user).values_list("team__name", flat=True))
    before_scoped = ScopedUser.objects.filter(user=user).exists()
    TeamMembership.objects.filter(user=user).exclude(team__in=teams).delete()
    TeamMembership.objects.bulk_create(
        [TeamMembership(user=user, team=team) for team in teams], ignore_conflicts=True
    )
    if scoped and not before_scoped:
        ScopedUser.objects.create(user=user)
    elif not scoped and before_scoped:
        ScopedUser.objects.filter(user=user).delete()
    after_teams = {team.name for team in teams}
    scope_forget(user)
    if before_teams != after_teams or before_scoped != scoped:
        audit_record(actor=actor, verb="user.teams", target=user, details={
            "before": {"teams": sorted(before_teams), "scoped": before_scoped},
            "after": {"teams": sorted(after_teams), "scoped": scoped},
        })  # fmt: skip


def team_names() -> list[str]:
    return list(Team.objects.values_list("name", flat=True))


@transaction.atomic
def user_sso_teams_set(*, user, teams: Sequence[str], scoped: bool, actor) -> None:
    """At a single sign-on: the memberships single sign-on made become exactly `teams` (by name; names of no
    team are skipped), and its team-scoped mark follows `scoped`. Memberships and a mark an Admin gave by
    hand are kept. Audited (`user.teams`, source sso) when anything changes."""
    wanted = list(Team.objects.filter(name__in=teams))
    mine = TeamMembership.objects.filter(user=user)
    before_teams = set(mine.values_list("team__name", flat=True))
    by_hand = set(mine.filter(from_sso=False).values_list("team_id", flat=True))
    mine.filter(from_sso=True).exclude(team__in=wanted).delete()
    TeamMembership.objects.bulk_create(
        [TeamMembership(user=user, team=team, from_sso=True) for team in wanted if team.pk not in by_hand],
        ignore_conflicts=True,
    )
    mark = ScopedUser.objects.filter(user=user).first()
    if scoped and mark is None:
        ScopedUser.objects.create(user=user, from_sso=True)
    elif not scoped and mark is not None and mark.from_sso:
        mark.delete()
    after_teams = set(TeamMembership.objects.filter(user=user).values_list("team__name", flat=True))
    after_scoped = ScopedUser.objects.filter(user=user).exists()
    scope_forget(user)
    if before_teams != after_teams or (mark is not None) != after_scoped:
        audit_record(actor=actor, verb="user.teams", target=user, details={
            "source": "sso",
            "before": {"teams": sorted(before_teams), "scoped": mark is not None},
            "after": {"teams": sorted(after_teams), "scoped": after_scoped},
        })  # fmt: skip
