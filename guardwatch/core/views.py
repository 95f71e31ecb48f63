"""Core pages: dashboard home, audit log, health check."""

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .access import requires
from .forms import AuditFilterForm
from .selectors import audit_list, audit_verbs


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The landing page for every role."""
    return render(request, "core/home.html", {})


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
