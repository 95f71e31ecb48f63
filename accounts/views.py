"""Member account pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from guardwatch.core.access import requires


@require_GET
@requires("view_members")
def account_list(request: HttpRequest) -> HttpResponse:
    """All member accounts with their status in every region."""
    return render(request, "accounts/list.html", {})


@require_GET
@requires("view_reports")
def coverage(request: HttpRequest) -> HttpResponse:
    """Which accounts and regions are monitored, and where the gaps are."""
    return render(request, "accounts/coverage.html", {})
