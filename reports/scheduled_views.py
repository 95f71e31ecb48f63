"""Scheduled reports pages: subscribe (Managers and Admins), stop a subscription, and its archive of PDFs."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guardwatch.core.access import requires
from reports import scheduled_selectors as selectors
from reports import scheduled_services as services
from reports.scheduled_forms import SubscriptionForm


def _subscriber(request: HttpRequest) -> None:
    if not services.may_subscribe(request.user):
        raise PermissionDenied("Scheduled reports are for Managers and Admins.")


@require_http_methods(["GET", "POST"])
@requires("view_reports")
def scheduled_reports(request: HttpRequest) -> HttpResponse:
    """The person's subscriptions (every one for an Admin) and the form to add one."""
    _subscriber(request)
    form = SubscriptionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        subscription = services.subscription_save(
            owner=request.user, data=form.cleaned_data, actor=request.user
        )
        messages.success(
            request, f"Subscribed: {subscription.schedule_label}, covering {subscription.scope_label}."
        )
        return redirect("reports:scheduled")
    context = {
        "form": form,
        "subscriptions": selectors.subscription_list(user=request.user),
        "may_add_recipients": services.may_add_recipients(request.user),
    }
    return render(request, "reports/scheduled.html", context, status=400 if form.errors else 200)


@require_POST
@requires("view_reports")
def scheduled_report_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a subscription (its owner, or an Admin)."""
    _subscriber(request)
    subscription = selectors.subscription_get(user=request.user, pk=pk)
    services.subscription_delete(subscription=subscription, actor=request.user)
    messages.success(request, f"Stopped the {subscription.get_cadence_display().lower()} report covering "
                              f"{subscription.scope_label}.")  # fmt: skip
    return redirect("reports:scheduled")


@require_GET
@requires("view_reports")
def scheduled_report_archive(request: HttpRequest, pk: int) -> HttpResponse:
    """Every period's run of one subscription: sent, waiting, retrying or failed (with why), and its PDF."""
    _subscriber(request)
    subscription = selectors.subscription_get(user=request.user, pk=pk)
    context = {"subscription": subscription, "runs": selectors.run_list(subscription=subscription),
               "keep_days": settings.GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS}  # fmt: skip
    return render(request, "reports/scheduled_archive.html", context)


@require_GET
@requires("view_reports")
def scheduled_report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """One archived PDF, to its subscription's owner or an Admin."""
    _subscriber(request)
    run = selectors.run_pdf_get(user=request.user, pk=pk)
    response = HttpResponse(bytes(run.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{run.filename}"'
    return response
