"""Evidence on a finding or an entity: add a note, link or file, download a file, remove one.

Reading needs `view_findings` (Managers too); adding and removing need `triage_findings`. A file is only
ever sent back as a download of opaque bytes, whatever it claims to be (docs/evidence-attachments.md).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from guardwatch.core.access import can, requires
from guardwatch.core.middleware import request_bytes_limit
from guardwatch.core.redirects import next_url
from triage import evidence as attachments
from triage.evidence import EvidenceError, Target

FORM_BYTES = 64 * 1024  # the form's other fields and the multipart framing around a file


def _file_request_limit() -> int:
    return settings.GUARDWATCH_EVIDENCE_MAX_FILE_BYTES + FORM_BYTES


def panel_context(*, target: Target, user, here: str = "") -> dict:
    """What `triage/_evidence.html` needs; the finding page and the entity page call it for their include.
    `here` is where a form without JavaScript returns (the entity page passes its own URL)."""
    items = attachments.evidence_list(target=target)
    if target.finding is not None:
        add_url = reverse("triage:evidence_add", args=[target.finding.pk])
        default_here = reverse("triage:detail", args=[target.finding.pk])
    else:
        add_url = reverse("triage:entity_evidence_add", args=[target.entity_kind])
        default_here = reverse("triage:entity_evidence", args=[target.entity_kind]) + "?" + urlencode(
            {"v": target.entity_value}
        )
    return {
        "evidence_target": target,
        "evidence_items": [
            {"item": item, "may_remove": attachments.evidence_may_remove(evidence=item, user=user)} for item in items
        ],
        "evidence_add_url": add_url,
        "evidence_here": here or default_here,
        "evidence_can_add": can(user, "triage_findings"),
        "evidence_max_file_bytes": settings.GUARDWATCH_EVIDENCE_MAX_FILE_BYTES,
    }


def entity_panel_context(*, kind: str, value: str, user, here: str = "") -> dict:
    """For the entity page's `{% include "triage/_evidence.html" %}`: the panel's context, or nothing (no
    panel) where the entity has none for this person (a team-scoped one, an unknown kind)."""
    try:
        target = attachments.entity_target(kind=kind, value=value, user=user)
    except Http404:
        return {}
    return panel_context(target=target, user=user, here=here)


def _add(request: HttpRequest, target: Target) -> HttpResponse:
    """Add whichever kind the form names; HTMX gets the panel (and the finding's new timeline entry)."""
    kind = request.POST.get("kind", "")
    error = ""
    try:
        if kind == "note":
            attachments.evidence_note_add(target=target, text=request.POST.get("text", ""), actor=request.user)
        elif kind == "link":
            attachments.evidence_link_add(
                target=target, url=request.POST.get("url", ""), text=request.POST.get("text", ""), actor=request.user
            )
        elif kind == "file":
            attachments.evidence_file_add(
                target=target, upload=request.FILES.get("file"), text=request.POST.get("text", ""), actor=request.user
            )
        else:
            raise EvidenceError("Choose a note, a link or a file to attach.")
    except EvidenceError as refused:
        error = str(refused)
    return _answer(request, target, error=error, done="Attached.")


def _answer(request: HttpRequest, target: Target, *, error: str, done: str) -> HttpResponse:
    """HTMX: the panel again with the error or, on a finding, the new timeline entry appended out of band
    (200 either way, so htmx swaps it); otherwise a message and back to the page."""
    context = panel_context(target=target, user=request.user)
    if request.htmx:
        context.update(evidence_error=error, evidence_done="" if error else done)
        if target.finding is not None and not error:
            context["evidence_new_event"] = attachments.finding_event_last(finding=target.finding, user=request.user)
        return render(request, "triage/_evidence.html#panel", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(next_url(request, request.POST.get("next", ""), fallback=context["evidence_here"]))


@request_bytes_limit(_file_request_limit)
@require_POST
@requires("triage_findings")
def finding_evidence_add(request: HttpRequest, pk: int) -> HttpResponse:
    return _add(request, attachments.finding_target(pk=pk, user=request.user))


@request_bytes_limit(_file_request_limit)
@require_POST
@requires("triage_findings")
def entity_evidence_add(request: HttpRequest, kind: str) -> HttpResponse:
    return _add(request, attachments.entity_target(kind=kind, value=request.POST.get("v", ""), user=request.user))


@require_GET
@requires("view_findings")
@vary_on_headers("HX-Request")
def entity_evidence(request: HttpRequest, kind: str) -> HttpResponse:
    """An entity's attachments: the panel alone for HTMX (the entity page includes it), else a small page."""
    target = attachments.entity_target(kind=kind, value=request.GET.get("v", ""), user=request.user)
    context = panel_context(target=target, user=request.user)
    return render(request, "triage/_evidence.html#panel" if request.htmx else "triage/entity_evidence.html", context)


@require_GET
@requires("view_findings")
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The file's bytes as an attachment of opaque type, sandboxed, never sniffed or rendered."""
    evidence = attachments.evidence_get(pk=pk, user=request.user)
    if evidence.kind != evidence.Kind.FILE or evidence.removed_at is not None:
        return HttpResponse("This attachment has no file to download (it was removed, or is not a file).",
                            status=404, content_type="text/plain; charset=utf-8")  # fmt: skip
    response = StreamingHttpResponse(
        attachments.evidence_chunks(evidence=evidence), content_type="application/octet-stream"
    )
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=evidence.filename)
    response["Content-Length"] = str(evidence.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["X-Evidence-SHA256"] = evidence.sha256
    return response


@require_POST
@requires("triage_findings")
def evidence_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    evidence = attachments.evidence_get(pk=pk, user=request.user)
    target = Target(finding=evidence.finding, entity_kind=evidence.entity_kind, entity_value=evidence.entity_value)
    error = ""
    try:
        attachments.evidence_remove(evidence=evidence, actor=request.user)
    except EvidenceError as refused:
        error = str(refused)
    return _answer(request, target, error=error, done="Attachment removed.")
