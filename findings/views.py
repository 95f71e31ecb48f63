"""Finding pages: sync status, ingest API keys and the SLA page (the triage pages are in triage_views.py)."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from findings import sla
from findings.forms import IngestKeyForm, SlaPolicyForm, SyncNowForm
from findings.models import IngestApiKey
from findings.selectors import ingest_key_list, ledger_gaps, sync_runs_recent, sync_status_list
from findings.services import ingest_key_create, ingest_key_revoke
from findings.sync import findings_sync_request
from guardwatch.core.access import requires
from guardwatch.core.scope import organisation_wide


def _sync_context() -> dict:
    statuses = sync_status_list()
    return {
        "sync_minutes": settings.GUARDWATCH_FINDINGS_SYNC_MINUTES,
        "statuses": statuses,
        "runs": sync_runs_recent(limit=20),
        "any_running": any(s.running for s in statuses),
        "ledger_gaps": ledger_gaps(limit=50),
        "ledger_minutes": settings.GUARDWATCH_FINDINGS_LEDGER_MINUTES,
    }


@require_GET
@requires("view_sync")
@organisation_wide
@vary_on_headers("HX-Request")
def sync_status(request: HttpRequest) -> HttpResponse:
    """Per region: last run, freshness, counts, errors; polls itself while a run is in progress."""
    context = {**_sync_context(), "form": SyncNowForm()}
    template = "findings/sync.html#status" if request.htmx else "findings/sync.html"
    return render(request, template, context)


@require_POST
@requires("view_sync")
@organisation_wide
def sync_now(request: HttpRequest) -> HttpResponse:
    """Queue a pull sync of one region or of all of them."""
    form = SyncNowForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a configured region.")
        return redirect("findings:sync")
    region = form.cleaned_data["region"]
    queued = findings_sync_request(regions=[region] if region else None, actor=request.user)
    messages.success(request, f"Sync queued for {', '.join(queued)}.")
    return redirect("findings:sync")


NEW_KEY_SESSION = "guardwatch:new-ingest-key"


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def ingest_keys(request: HttpRequest) -> HttpResponse:
    """EventBridge ingest keys: list, and create one. Post, redirect, get: the new key's secret rides in the
    session to the page that follows and is shown there once (a reload creates nothing and shows nothing)."""
    form = IngestKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, secret = ingest_key_create(
            name=form.cleaned_data["name"], actor=request.user,
            regions=form.cleaned_data["regions"], accounts=form.cleaned_data["accounts"],
        )  # fmt: skip
        request.session[NEW_KEY_SESSION] = secret
        messages.success(request, f"Key “{key.name}” created. Copy it now: it is not shown again.")
        return redirect("findings:ingest_keys")
    secret = request.session.pop(NEW_KEY_SESSION, None)
    context = {
        "form": form,
        "keys": ingest_key_list(),
        "secret": secret,
        "rate_per_minute": settings.GUARDWATCH_INGEST_RATE_PER_MINUTE,
    }
    response = render(request, "findings/ingest_keys.html", context)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@requires("manage_settings")
def ingest_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a key: EventBridge calls with it are refused from now on."""
    key = get_object_or_404(IngestApiKey, pk=pk)
    ingest_key_revoke(key=key, actor=request.user)
    messages.success(request, f"Key “{key.name}” revoked.")
    return redirect("findings:ingest_keys")


@requires("manage_settings")
@require_http_methods(["GET", "POST"])
def sla_settings(request: HttpRequest) -> HttpResponse:
    """Admins: the SLA per severity band and the escalation steps' timing (one policy for every reader)."""
    policy = sla.sla_policy()
    initial = {**{f"{band}_hours": hours for band, hours in policy.hours.items()}, "warn_percent": policy.warn_percent,
               "manager_after_hours": policy.manager_after_hours, "escalation_enabled": policy.escalation_enabled}  # fmt: skip
    form = SlaPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sla.sla_policy_save(
                hours={band: data[f"{band}_hours"] for band in sla.BANDS}, warn_percent=data["warn_percent"],
                manager_after_hours=data["manager_after_hours"], escalation_enabled=data["escalation_enabled"],
                actor=request.user,
            )  # fmt: skip
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, "SLA saved. Overdue marks, reports and escalations use it from now on.")
            return redirect("findings:sla")
    return render(request, "findings/sla.html", {"form": form, "policy": policy})
