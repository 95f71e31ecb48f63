"""Finding pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from guardwatch.core.access import requires


@require_GET
@requires("view_findings")
def finding_list(request: HttpRequest) -> HttpResponse:
    """The triage workspace."""
    return render(request, "findings/list.html", {})
