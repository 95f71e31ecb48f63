"""Notifications reads: destinations with their counts, rules, delivery logs, dead letters, tickets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import MemberAccount, Team
from accounts.teams import account_owners
from notifications.models import Delivery, Destination, RoutingRule, TeamRouting, TicketLink


def destination_list() -> QuerySet[Destination]:
    """Every destination with its number of rules and of dead deliveries (one query)."""
    return Destination.objects.annotate(
        rule_count=Count("rules", distinct=True),
        dead_count=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DEAD), distinct=True),
    ).order_by("name")


def destination_get(*, pk: int) -> Destination:
    return get_object_or_404(Destination, pk=pk)


def jira_destinations() -> QuerySet[Destination]:
    """Enabled ticket destinations (Jira, generic ticket webhooks), for the finding page's "Create ticket" button."""
    kinds = (Destination.Kind.JIRA, Destination.Kind.TICKET_WEBHOOK)
    return Destination.objects.filter(kind__in=kinds, enabled=True).order_by("name")


def rule_list() -> QuerySet[RoutingRule]:
    return RoutingRule.objects.select_related("destination").order_by("name", "id")


def rule_get(*, pk: int) -> RoutingRule:
    return get_object_or_404(RoutingRule.objects.select_related("destination"), pk=pk)


def delivery_log(*, destination: Destination, status: str = "", limit: int = 100) -> QuerySet[Delivery]:
    """The destination's newest deliveries, optionally of one status."""
    rows = Delivery.objects.filter(destination=destination).select_related("rule")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-id")[:limit]


def dead_letters(*, limit: int = 200) -> QuerySet[Delivery]:
    """Deliveries that ran out of attempts, newest first."""
    return (
        Delivery.objects.filter(status=Delivery.Status.DEAD)
        .select_related("destination", "rule")
        .order_by("-last_attempt_at", "-id")[:limit]
    )


def delivery_get(*, pk: int) -> Delivery:
    return get_object_or_404(Delivery.objects.select_related("destination"), pk=pk)


def ticket_links_for_finding(*, finding) -> QuerySet[TicketLink]:
    """Jira issues created for a finding, oldest first."""
    return (
        TicketLink.objects.filter(finding=finding).select_related("destination").order_by("created_at", "id")
    )


def ticket_requests_for_finding(*, finding, limit: int = 5) -> QuerySet[Delivery]:
    """The finding's newest "Create ticket" deliveries not yet sent: under way, failing or dead."""
    return (
        Delivery.objects.filter(finding=finding, kind="ticket")
        .exclude(status=Delivery.Status.SENT)
        .select_related("destination")
        .order_by("-created_at", "-id")[:limit]
    )


# --- Owner routing: teams' destinations and the accounts they own ------------------------------


def team_routing_list() -> list[tuple[Team, TeamRouting | None]]:
    """Every team with its routing (destinations prefetched): three queries whatever the number of teams."""
    teams = list(Team.objects.order_by("name"))
    routings = {
        r.team_id: r for r in TeamRouting.objects.filter(team__in=teams).prefetch_related("destinations")
    }
    return [(team, routings.get(team.pk)) for team in teams]


def team_routing_get(*, pk: int) -> tuple[Team, TeamRouting | None]:
    """One team (404 if none) and its routing, if it has one yet."""
    team = get_object_or_404(Team, pk=pk)
    return team, TeamRouting.objects.filter(team=team).prefetch_related("destinations").first()


def account_team_destinations(*, account_ids: Iterable[str]) -> dict[str, list[tuple[Team, Destination]]]:
    """For each account id, the (owning team, enabled destination) pairs its findings go to (four queries)."""
    owners = account_owners(account_ids=account_ids)
    team_ids = {team.pk for teams in owners.values() for team in teams}
    by_team: dict[int, list[Destination]] = {}
    if team_ids:
        for routing in TeamRouting.objects.filter(team_id__in=team_ids).prefetch_related("destinations"):
            by_team[routing.team_id] = [d for d in routing.destinations.all() if d.enabled]
    return {
        account: [(team, destination) for team in teams for destination in by_team.get(team.pk, [])]
        for account, teams in owners.items()
    }


def owned_account_ids(*, teams: Sequence[Team]) -> dict[int, set[str]]:
    """Each team's accounts by `account_owners` (scope, OU, owner tags), over the members and listed ids."""
    ids = set(MemberAccount.objects.values_list("account_id", flat=True))
    ids.update(account for team in teams for account in team.account_ids)
    owned: dict[int, set[str]] = {team.pk: set() for team in teams}
    for account, owners in account_owners(account_ids=ids).items():
        for team in owners:
            if team.pk in owned:
                owned[team.pk].add(account)
    return owned
