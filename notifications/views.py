"""Notification settings pages (Admins: `manage_settings`) and the finding page's "Create ticket" action."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from guardwatch.core.access import requires
from guardwatch.core.redirects import next_url
from notifications import owners, selectors, services
from notifications.forms import DestinationForm, RoutingRuleForm, TeamRoutingForm
from notifications.models import Delivery, Destination


@requires("manage_settings")
def destination_list(request: HttpRequest) -> HttpResponse:
    """Destinations, their rules and dead-letter counts; links to add one of each kind."""
    return render(request, "notifications/destinations.html", {
        "destinations": selectors.destination_list(),
        "kinds": Destination.Kind.choices,
        "dead_count": Delivery.objects.filter(status=Delivery.Status.DEAD).count(),
    })  # fmt: skip


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def destination_create(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in Destination.Kind.values:
        raise Http404("Unknown destination kind.")
    form = DestinationForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.config_and_secrets()
        destination = services.destination_create(
            name=form.cleaned_data["name"], kind=kind, enabled=form.cleaned_data["enabled"],
            config=config, secrets=secrets, actor=request.user,
        )  # fmt: skip
        messages.success(request, f"Destination “{destination.name}” added. Send it a test message.")
        return redirect("notifications:destination_edit", pk=destination.pk)
    return render(request, "notifications/destination_form.html",
                  {"form": form, "kind_label": Destination.Kind(kind).label, "destination": None})  # fmt: skip


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def destination_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a destination (secrets write-only), test it, and read its delivery log."""
    destination = selectors.destination_get(pk=pk)
    form = DestinationForm(request.POST or None, kind=destination.kind, instance=destination)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.config_and_secrets()
        services.destination_update(
            destination=destination, name=form.cleaned_data["name"], enabled=form.cleaned_data["enabled"],
            config=config, secrets=secrets, actor=request.user,
        )  # fmt: skip
        messages.success(request, "Destination saved.")
        return redirect("notifications:destination_edit", pk=destination.pk)
    return render(request, "notifications/destination_form.html", {
        "form": form, "kind_label": destination.get_kind_display(), "destination": destination,
        "deliveries": selectors.delivery_log(destination=destination, limit=10),
    })  # fmt: skip


@requires("manage_settings")
@require_POST
def destination_delete(request: HttpRequest, pk: int) -> HttpResponse:
    destination = selectors.destination_get(pk=pk)
    services.destination_delete(destination=destination, actor=request.user)
    messages.success(request, f"Destination “{destination.name}” deleted.")
    return redirect("notifications:destinations")


@requires("manage_settings")
@require_POST
@vary_on_headers("HX-Request")
def destination_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message now; HTMX gets the result fragment, a plain POST the page with a message."""
    destination = selectors.destination_get(pk=pk)
    delivery = services.destination_test(destination=destination, actor=request.user)
    if request.htmx:
        return render(request, "notifications/destination_form.html#test-result", {"test": delivery})
    if delivery.status == Delivery.Status.SENT:
        messages.success(request, "Test message sent.")
    else:
        messages.error(request, f"Test message failed: {delivery.error}")
    return redirect("notifications:destination_edit", pk=pk)


@requires("manage_settings")
def delivery_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Every recent delivery to one destination: status, code, error, time."""
    destination = selectors.destination_get(pk=pk)
    status = request.GET.get("status", "")
    if status not in Delivery.Status.values:
        status = ""
    return render(request, "notifications/delivery_log.html", {
        "destination": destination, "status": status, "statuses": Delivery.Status.choices,
        "deliveries": selectors.delivery_log(destination=destination, status=status),
    })  # fmt: skip


@requires("manage_settings")
def dead_letters(request: HttpRequest) -> HttpResponse:
    """Deliveries that ran out of attempts, each with "Resend"."""
    return render(request, "notifications/dead_letters.html", {"deliveries": selectors.dead_letters()})


@requires("manage_settings")
@require_POST
def delivery_resend(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.delivery_get(pk=pk)
    if delivery.status not in (Delivery.Status.DEAD, Delivery.Status.FAILED):
        messages.warning(request, "Only failed or dead deliveries can be resent.")
    else:
        services.delivery_resend(delivery=delivery, actor=request.user)
        messages.success(request, f"Delivery {delivery.pk} to “{delivery.destination.name}” queued again.")
    fallback = reverse("notifications:dead_letters")
    return redirect(next_url(request, request.POST.get("next", ""), fallback=fallback))


@requires("manage_settings")
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/rules.html", {"rules": selectors.rule_list()})


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def rule_create(request: HttpRequest) -> HttpResponse:
    initial = {"destination": request.GET.get("destination")} if request.GET.get("destination") else None
    form = (
        RoutingRuleForm(request.POST or None, initial=initial)
        if initial
        else RoutingRuleForm(request.POST or None)
    )
    if request.method == "POST" and form.is_valid():
        rule = services.rule_create(values=form.values(), actor=request.user)
        messages.success(request, f"Rule “{rule.name}” added.")
        return redirect("notifications:rules")
    return render(request, "notifications/rule_form.html", {"form": form, "rule": None})


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_get(pk=pk)
    form = RoutingRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.rule_update(rule=rule, values=form.values(), actor=request.user)
        messages.success(request, "Rule saved.")
        return redirect("notifications:rules")
    return render(request, "notifications/rule_form.html", {"form": form, "rule": rule})


@requires("manage_settings")
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_get(pk=pk)
    services.rule_delete(rule=rule, actor=request.user)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("notifications:rules")


def _finding(pk: int, user):
    from findings.selectors import finding_get

    return finding_get(pk=pk, user=user)


def _count(raw: str) -> int | None:
    """A small non-negative count in ASCII digits; None if missing or malformed."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else None


@requires("triage_findings")
@require_GET
def ticket_panel(request: HttpRequest, finding_pk: int) -> HttpResponse:
    """The finding page's "Tickets" panel (loaded by HTMX): its issues, requests under way, "Create ticket".

    `known` is how many issues the finding page counted when it was rendered. Once more exist, that
    page's timeline lacks one, so the panel reloads the page (`HX-Refresh`); while a request is under
    way the panel polls itself to notice that moment. A count, not a time: an issue stamped before the
    page was rendered may commit after it, and a clock comparison would miss it.
    """
    finding = _finding(finding_pk, request.user)
    known = _count(request.GET.get("known", ""))
    links = list(selectors.ticket_links_for_finding(finding=finding))
    if known is not None and len(links) > known:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    ticketed = {link.destination_id for link in links}
    # A request that failed where an issue now exists (a later request made it) is moot.
    requests = [
        d for d in selectors.ticket_requests_for_finding(finding=finding) if d.destination_id not in ticketed
    ]
    under_way = any(d.status in (Delivery.Status.PENDING, Delivery.Status.SENDING) for d in requests)
    return render(request, "notifications/_ticket_panel.html", {
        "finding": finding, "links": links, "requests": requests,
        "destinations": [d for d in selectors.jira_destinations() if d.pk not in ticketed],
        "poll": under_way and known is not None, "known": known,
    })  # fmt: skip


@requires("triage_findings")
@require_POST
def ticket_create(request: HttpRequest, finding_pk: int) -> HttpResponse:
    """ "Create ticket" on a finding page: queue a Jira issue in the chosen (or only) Jira destination."""
    finding = _finding(finding_pk, request.user)
    jira = list(selectors.jira_destinations())
    chosen = request.POST.get("destination", "")
    if chosen:
        destination = next((d for d in jira if str(d.pk) == chosen), None)
    else:
        destination = jira[0] if len(jira) == 1 else None
    if destination is None:
        messages.error(request, "Choose a Jira destination (an Admin adds one under Notifications).")
        return redirect("triage:detail", pk=finding.pk)
    try:
        services.ticket_request(finding=finding, destination=destination, actor=request.user)
    except services.TicketError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Ticket requested in “{destination.name}”; its key appears in the timeline once Jira answers.",
        )
    return redirect("triage:detail", pk=finding.pk)


@requires("manage_settings")
def team_list(request: HttpRequest) -> HttpResponse:
    """Each team's destinations and daily digest; how owners are found."""
    return render(request, "notifications/teams.html", {
        "teams": selectors.team_routing_list(), "owner_tag_keys": settings.GUARDWATCH_OWNER_TAG_KEYS,
    })  # fmt: skip


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def team_routing_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Set one team's destinations and daily digest."""
    team, routing = selectors.team_routing_get(pk=pk)
    initial = None
    if routing is not None:
        initial = {"destinations": list(routing.destinations.all()), "digest_enabled": routing.digest_enabled,
                   "digest_hour": routing.digest_hour, "digest_min_band": routing.digest_min_band}  # fmt: skip
    form = TeamRoutingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            owners.team_routing_save(team=team, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, f"Routing of team “{team.name}” saved.")
            return redirect("notifications:teams")
    return render(request, "notifications/team_form.html", {"form": form, "team": team, "routing": routing})
