"""Notifications reads: destinations with their counts, rules, delivery logs, dead letters, tickets."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from notifications.models import Delivery, Destination, RoutingRule, TicketLink


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
