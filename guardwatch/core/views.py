"""Core pages: audit log, alerts, health check."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from guardwatch.core.access import requires
from guardwatch.core.forms import AuditFilterForm
from guardwatch.core.models import Alert
from guardwatch.core.redirects import next_url
from guardwatch.core.selectors import alert_list, audit_list, audit_verbs
from guardwatch.core.services import alert_acknowledge


@require_GET
@requires("view_audit")
@vary_on_headers("HX-Request")
def audit(request: HttpRequest) -> HttpResponse:
    """Every mutating action, newest first, filterable by actor, verb and date."""
    form = AuditFilterForm(request.GET or None)
    page = Paginator(audit_list(filters=form.to_filters()).select_related("actor"), 50).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "verbs": audit_verbs()}
    template = "core/audit.html#results" if request.htmx else "core/audit.html"
    return render(request, template, context)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: the process answers and the database responds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


ALERT_STATES = ("open", "acknowledged", "all")


@require_GET
@requires("view_members")
@vary_on_headers("HX-Request")
def alerts(request: HttpRequest) -> HttpResponse:
    """Coverage alerts (members resigned, removed, …): open ones first, each can be acknowledged."""
    state = request.GET.get("state", "open")
    if state not in ALERT_STATES:
        state = "open"
    page = Paginator(alert_list(state=state), 50).get_page(request.GET.get("page"))
    context = {"page": page, "state": state, "states": ALERT_STATES}
    template = "core/alerts.html#results" if request.htmx else "core/alerts.html"
    return render(request, template, context)


@require_POST
@requires("manage_members")
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark an alert as seen and handled."""
    alert = get_object_or_404(Alert, pk=pk)
    if alert_acknowledge(alert=alert, actor=request.user):
        messages.success(request, f"Acknowledged: {alert.title}")
    else:
        messages.info(request, "That alert was already acknowledged.")
    return redirect(next_url(request, request.POST.get("next", ""), fallback=reverse("core:alerts")))
