"""Core reads: the audit log, alerts and the team's users."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from guardwatch.core.models import AuditEntry, SsoGroupMapping
from guardwatch.core.roles import Role
from guardwatch.core.scope import scope_for, scope_q


@dataclass(frozen=True)
class AuditFilters:
    """What the audit page can filter on; every field optional."""

    actor: str = ""
    verb: str = ""
    target_type: str = ""
    target_id: str = ""
    since: date | None = None
    until: date | None = None


def audit_list(*, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """Audit entries newest first, narrowed by `filters`."""
    qs = AuditEntry.objects.all()
    if filters.actor:
        qs = qs.filter(actor_name__iexact=filters.actor)
    if filters.verb:
        qs = qs.filter(verb__startswith=filters.verb)
    if filters.target_type:
        qs = qs.filter(target_type=filters.target_type)
    if filters.target_id:
        qs = qs.filter(target_id=filters.target_id)
    tz = timezone.get_current_timezone()
    if filters.since:
        qs = qs.filter(created_at__gte=datetime.combine(filters.since, time.min, tzinfo=tz))
    if filters.until:
        qs = qs.filter(created_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=tz))
    return qs


def audit_verbs() -> list[str]:
    """Distinct verbs, for the filter's choices."""
    return list(AuditEntry.objects.order_by("verb").values_list("verb", flat=True).distinct())


def audit_for_target(*, target_type: str, target_id: str, limit: int = 50) -> list[AuditEntry]:
    """The latest entries about one object (account detail pages show these)."""
    return list(AuditEntry.objects.filter(target_type=target_type, target_id=target_id)[:limit])


def alert_list(*, state: str = "open", user) -> QuerySet:
    """Alerts newest first: `open` (unacknowledged), `acknowledged`, or `all`.

    A team-scoped user sees only the alerts about their teams' accounts (every alert names its account)."""
    from guardwatch.core.models import Alert

    qs = Alert.objects.select_related("acknowledged_by").filter(alert_scope_q(user))
    if state == "open":
        qs = qs.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        qs = qs.filter(acknowledged_at__isnull=False)
    return qs


def alert_scope_q(user) -> Q:
    """The alerts a user may see: all, or for a team-scoped user those about their accounts."""
    if scope_for(user) is None:
        return Q()
    return Q(target_type="accounts.memberaccount") & scope_q(user, "target_id")


@dataclass(frozen=True)
class UserRow:
    """One person on the Users page."""

    user: object
    role: str  # "" when they hold no role (created outside GuardWatch)
    last_login: datetime | None
    active: bool


def people() -> QuerySet:
    """Every user but those made for service API tokens (who act only through the API, never sign in)."""
    from django.contrib.auth import get_user_model

    from guardwatch.core.models import ApiToken

    return get_user_model().objects.exclude(api_tokens__kind=ApiToken.Kind.SERVICE)


def user_rows() -> list[UserRow]:
    """Every person with their role and last sign-in, active ones first, then by name (two queries).

    Service tokens' users are not people: the API tokens page lists them with their tokens."""
    from guardwatch.core.roles import Role

    users = people().prefetch_related("groups").order_by("-is_active", "username")
    order = [r.value for r in (Role.ADMIN, Role.ANALYST, Role.MANAGER)]
    rows = []
    for user in users:
        held = {g.name for g in user.groups.all()}
        role = next((name for name in order if name in held), "")
        rows.append(UserRow(user=user, role=role, last_login=user.last_login, active=user.is_active))
    return rows


def sso_mapping_list() -> list:
    """The IdP group → role mappings, by group."""
    return list(SsoGroupMapping.objects.order_by("group"))


def sso_role_for(*, groups: list[str]) -> Role | None:
    """The highest role any of `groups` maps to (Admin over Analyst over Manager), or None."""
    mapped = set(SsoGroupMapping.objects.filter(group__in=groups).values_list("role", flat=True)) if groups else set()
    return next((role for role in (Role.ADMIN, Role.ANALYST, Role.MANAGER) if role.value in mapped), None)


def sso_teams_for(*, groups: list[str]) -> tuple[list[str], bool]:
    """The teams `groups` map to (by name, sorted) and whether any of their mappings says team-scoped."""
    rows = SsoGroupMapping.objects.filter(group__in=groups).values_list("team", "scoped") if groups else []
    rows = list(rows)
    return sorted({team for team, _scoped in rows if team}), any(scoped for _team, scoped in rows)
