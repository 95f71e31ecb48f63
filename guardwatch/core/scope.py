"""Team scoping in one place: which member accounts a user may see.

`scope_for(user)` is None for an organisation-wide user (Admins, anyone not marked team-scoped, system work)
and otherwise the frozenset of 12-digit account ids of the user's teams. Every selector that reads findings,
alerts, accounts, coverage or report figures narrows by it; pages that are organisation-wide by nature
(suppression rules, the Organization page, sync, member operations) refuse a scoped user with
`@organisation_wide`.

The teams live in `accounts` (they select member accounts), which sits above this module: `accounts`
registers the resolver when the app loads, so `guardwatch.core` can scope alerts without importing it.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db.models import Q

Scope = frozenset[str] | None

_resolver: Callable[[object], Scope] | None = None
_CACHE = "_guardwatch_scope"


def scope_resolver_set(resolver: Callable[[object], Scope]) -> None:
    """Install the function that computes a user's scope (accounts.teams does, on app load)."""
    global _resolver
    _resolver = resolver


def scope_for(user) -> Scope:
    """None (organisation-wide) or the account ids the user may see; computed once per user object (request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if _CACHE in user.__dict__:
        return user.__dict__[_CACHE]
    if _resolver is None:
        raise RuntimeError("No team scope resolver installed (is the accounts app loaded?)")
    scope = _resolver(user)
    user.__dict__[_CACHE] = scope
    return scope


def scope_forget(user) -> None:
    """Drop the cached scope (after the user's teams changed within the same request)."""
    user.__dict__.pop(_CACHE, None)


def scope_q(user, field: str = "account_id") -> Q:
    """A filter keeping rows whose `field` is one of the user's accounts (no filter for organisation-wide users)."""
    scope = scope_for(user)
    return Q() if scope is None else Q(**{f"{field}__in": sorted(scope)})


def scope_allows(user, account_ids: Iterable[str]) -> bool:
    """Whether every one of `account_ids` is within the user's scope."""
    scope = scope_for(user)
    return scope is None or all(account in scope for account in account_ids)


def organisation_wide(view: Callable) -> Callable:
    """For pages about the whole organisation: a team-scoped user gets a 403 (put below `@requires`)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if scope_for(request.user) is not None:
            raise PermissionDenied("This page covers the whole organisation; your role is limited to your teams.")
        return view(request, *args, **kwargs)

    return wrapper


# --- Teams from single sign-on ------------------------------------------------------------------------------
# A group mapping (`SsoGroupMapping`) names a team and may say "team-scoped"; the teams and marks live in
# `accounts`, which registers how to list team names and how to apply a sign-in's teams when the app loads.

_team_names: Callable[[], list[str]] | None = None
_sso_teams_apply: Callable[..., None] | None = None


def sso_teams_hooks_set(*, names: Callable[[], list[str]], apply: Callable[..., None]) -> None:
    """Install the team names (for the mapping form) and the sign-in's team writer (accounts.teams does)."""
    global _team_names, _sso_teams_apply
    _team_names, _sso_teams_apply = names, apply


def team_names() -> list[str]:
    """Every team's name (for choosing a mapping's team)."""
    if _team_names is None:
        raise RuntimeError("No team hooks installed (is the accounts app loaded?)")
    return _team_names()


def sso_teams_apply(*, user, teams: list[str], scoped: bool, actor) -> None:
    """Put a person signing in with single sign-on in exactly `teams` (of the memberships SSO made) and mark
    them team-scoped or not (if SSO made the mark); see accounts.teams.user_sso_teams_set."""
    if _sso_teams_apply is None:
        raise RuntimeError("No team hooks installed (is the accounts app loaded?)")
    _sso_teams_apply(user=user, teams=teams, scoped=scoped, actor=actor)
