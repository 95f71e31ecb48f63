"""Ticket status pushed to GuardWatch: `POST /hooks/jira/<id>/` (Jira admin webhooks) and
`POST /hooks/tickets/<id>/` (generic ticket webhook callbacks).

Not session pages: no login, no CSRF token. Each request is authenticated by its signature under the
destination's secret (`tickets.py` says how); anything unsigned, wrongly signed, stale or replayed is
refused before anything is written. Answers are small JSON documents.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from notifications import tickets

MAX_BODY_BYTES = 1024 * 1024  # Jira's issue events carry the whole issue: generous, still bounded


def _body(request: HttpRequest) -> bytes | None:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > MAX_BODY_BYTES:
        return None
    return request.read(MAX_BODY_BYTES + 1)[:MAX_BODY_BYTES]


def _answer(run) -> JsonResponse:
    try:
        applied = run()
    except tickets.CallbackRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    return JsonResponse({"ticket": applied.key, "known": applied.known, "resolved": applied.resolved,
                         "reopened": applied.reopened}, status=200 if applied.known else 202)  # fmt: skip


@csrf_exempt
@login_not_required
@require_POST
def jira_webhook(request: HttpRequest, pk: int) -> JsonResponse:
    """A Jira `jira:issue_updated` event for destination `pk`, signed in X-Hub-Signature."""
    body = _body(request)
    if body is None:
        return JsonResponse({"error": f"The body must be at most {MAX_BODY_BYTES} bytes."}, status=413)
    signature = request.headers.get("X-Hub-Signature", "")
    return _answer(lambda: tickets.jira_webhook_receive(destination_pk=pk, body=body, signature=signature))


@csrf_exempt
@login_not_required
@require_POST
def ticket_callback(request: HttpRequest, pk: int) -> JsonResponse:
    """A generic ticket system's status for destination `pk`, signed like GuardWatch's webhooks."""
    body = _body(request)
    if body is None:
        return JsonResponse({"error": f"The body must be at most {MAX_BODY_BYTES} bytes."}, status=413)
    return _answer(lambda: tickets.ticket_callback_receive(
        destination_pk=pk, body=body, timestamp=request.headers.get("X-GuardWatch-Timestamp", ""),
        signature=request.headers.get("X-GuardWatch-Signature", "")))  # fmt: skip
