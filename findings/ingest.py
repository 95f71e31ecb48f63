"""`POST /ingest/eventbridge/`: GuardDuty findings pushed by an EventBridge API destination.

Not a session page: no login, no CSRF token. EventBridge authenticates with an API key in a header
(the connection's API_KEY authorization): `X-GuardWatch-Key: gw_…`, or `Authorization: Bearer gw_…`.
The body is one GuardDuty Finding event or a JSON array of them; all are validated before any is
stored, and they are stored through the same upsert as the pull sync.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from findings.services import IngestRejected, findings_ingest_events, ingest_key_authenticate

KEY_HEADER = "X-GuardWatch-Key"
MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 100


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _error(status: int, reason: str, **extra) -> JsonResponse:
    return JsonResponse({"error": reason, **extra}, status=status)


def _presented_key(request: HttpRequest) -> str:
    key = request.headers.get(KEY_HEADER, "")
    if key:
        return key
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials if scheme.lower() == "bearer" else ""


@csrf_exempt
@login_not_required
@require_POST
def eventbridge(request: HttpRequest) -> JsonResponse:
    """Authenticate, bound, parse and validate the push; answer 202 with what was stored."""
    presented = _presented_key(request)
    if not presented:
        response = _error(401, f"Missing API key: send it in the {KEY_HEADER} header.")
        response["WWW-Authenticate"] = 'Bearer realm="guardwatch-ingest"'
        return response
    if ingest_key_authenticate(presented=presented) is None:
        response = _error(401, "Invalid or revoked API key.")
        response["WWW-Authenticate"] = 'Bearer realm="guardwatch-ingest"'
        return response

    max_bytes = _limit("GUARDWATCH_INGEST_MAX_BYTES", MAX_BODY_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "Content-Length is not a number.")
    if declared > max_bytes:
        return _error(413, f"Body is larger than {max_bytes} bytes.")
    if request.content_type != "application/json":
        return _error(415, "Send the events as application/json.")
    body = request.read(max_bytes + 1)
    if len(body) > max_bytes:
        return _error(413, f"Body is larger than {max_bytes} bytes.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "Body is not valid JSON.")

    events = payload if isinstance(payload, list) else [payload]
    max_events = _limit("GUARDWATCH_INGEST_MAX_EVENTS", MAX_EVENTS)
    if not events:
        return _error(400, "The array holds no events.")
    if len(events) > max_events:
        return _error(413, f"At most {max_events} events per request.")
    try:
        result = findings_ingest_events(events=events)
    except IngestRejected as rejected:
        return _error(400, "Invalid event(s); nothing was stored.", errors=rejected.errors)
    return JsonResponse(
        {"received": result.received, "new": result.new, "updated": result.updated, "unchanged": result.unchanged},
        status=202,
    )
