"""Entity pages: every finding about one IP address, access key, principal, instance, bucket, cluster,
container or domain, across accounts, regions and the whole stored history (docs/entities.md)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from findings.entities import KINDS, normalize
from guardwatch.core.access import requires
from triage import entities
from triage.evidence_views import entity_panel_context


@require_GET
@requires("view_findings")
@vary_on_headers("HX-Request")
def entity_detail(request: HttpRequest, kind: str) -> HttpResponse:
    """One entity: its findings' counts, first and last seen, accounts, regions, timeline, then the findings
    themselves with their triage state, 50 a page (an HTMX request for the next page gets the rows alone)."""
    if kind not in KINDS:
        raise Http404("No such kind of entity.")
    value = normalize(kind, request.GET.get("v", ""))
    if value is None:
        raise Http404(f"That is not a valid {KINDS[kind].lower()}.")
    page = entities.entity_findings(kind=kind, value=value, user=request.user, after=request.GET.get("after", ""))
    context = {"kind": kind, "value": value, "label": KINDS[kind], "page": page, "now": timezone.now()}
    if request.htmx and request.GET.get("after"):
        return render(request, "triage/entity.html#rows", context)
    context["summary"] = entities.entity_summary(kind=kind, value=value, user=request.user)
    # Notes, links and files on the entity (organisation-wide people only: an entity spans teams).
    context.update(entity_panel_context(kind=kind, value=value, user=request.user, here=request.get_full_path()))
    return render(request, "triage/entity.html", context)
