"""Evidence export pages (Admins and Managers, organisation-wide): ask for a pack, watch it render, download it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from guardwatch.core import signing
from guardwatch.core.access import requires
from guardwatch.core.scope import organisation_wide
from reports import evidence

# A pack no worker started in this long, or one still rendering after the second (its worker died), is reported
# and the page stops polling.
STALLED_SECONDS = {"queued": 120, "rendering": 15 * 60}


@require_http_methods(["GET", "POST"])
@requires("export_evidence")
@organisation_wide  # every account's deviations: not for a team-scoped person
def evidence_list(request: HttpRequest) -> HttpResponse:
    """The kept packs (who, when, period, SHA-256), the form for a new one and the public key; POST asks for one."""
    unavailable = signing.signing_available()
    form = {"start": "", "end": "", "scope": ""}
    status = 200
    if request.method == "POST":
        form = {name: request.POST.get(name, "")[:140] for name in form}
        try:
            start, end = evidence.evidence_period_parse(form["start"], form["end"])
            scope = evidence.evidence_scope_parse(form["scope"])
            pack = evidence.evidence_pack_request(actor=request.user, start=start, end=end, scope=scope)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            status = 400
        else:
            return redirect("reports:evidence_pack", pk=pack.pk)
    today = timezone.now().date()
    key = None if unavailable else signing.signing_key()
    context = {
        "packs": evidence.evidence_pack_list(), "form": form, "scopes": evidence.evidence_scope_choices(),
        "default_start": today - timedelta(days=evidence.DEFAULT_DAYS - 1), "today": today,
        "unavailable": unavailable, "public_key": signing.public_key_pem(key) if key else "",
        "fingerprint": signing.fingerprint(key) if key else "", "keep_days": settings.GUARDWATCH_EVIDENCE_KEEP_DAYS,
    }  # fmt: skip
    return render(request, "reports/evidence.html", context, status=status)


@require_GET
@requires("export_evidence")
@organisation_wide
@vary_on_headers("HX-Request")
def evidence_pack(request: HttpRequest, pk: int) -> HttpResponse:
    """One pack: waiting (polls while a worker renders it), its downloads once ready, or why it failed."""
    pack = evidence.evidence_pack_get(pk=pk)
    waited = (timezone.now() - pack.requested_at).total_seconds()
    stalled = pack.state in STALLED_SECONDS and waited > STALLED_SECONDS[pack.state]
    template = "reports/evidence_pack.html#pack" if request.htmx else "reports/evidence_pack.html"
    return render(request, template, {"pack": pack, "stalled": stalled})


@require_GET
@requires("export_evidence")
@organisation_wide
def evidence_download(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """A ready pack's signed JSON or its PDF (audited)."""
    pack = evidence.evidence_pack_get(pk=pk)
    try:
        data, content_type, filename = evidence.evidence_pack_file(pack=pack, kind=kind, actor=request.user)
    except ValidationError:
        raise Http404("This pack has no such file (yet).") from None
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@requires("export_evidence")
def evidence_public_key(request: HttpRequest) -> HttpResponse:
    """The public key that verifies the packs, as a PEM file for auditors."""
    try:
        key = signing.signing_key()
    except signing.SigningKeyError as error:
        raise Http404(str(error)) from None
    response = HttpResponse(signing.public_key_pem(key), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="guardwatch-evidence-public-key.pem"'
    return response
