"""`POST /ingest/eventbridge/`: GuardDuty findings (and CloudTrail's records of GuardDuty calls) pushed by an
EventBridge API destination.

Not a session page: no login, no CSRF token. EventBridge authenticates with an API key in a header
(the connection's API_KEY authorization): `X-GuardWatch-Key: gw_…`, or `Authorization: Bearer gw_…`.
Each key is rate-limited per minute. The body (sized by Content-Length, or chunked) is read with the
size limit enforced while reading; it is one GuardDuty Finding event or a JSON array of them. All are
checked before any is stored (`findings.push`): pushed findings are hints that GuardDuty confirms.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.tamper import TamperRejected, cloudtrail_events_ingest, is_cloudtrail_event
from findings.push import IngestRejected, findings_ingest_events, ingest_rate_take
from findings.services import ingest_key_authenticate
from guardwatch.core.login import client_address

logger = logging.getLogger(__name__)

KEY_HEADER = "X-GuardWatch-Key"
MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 100
READ_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The body passed the size limit while it was being read."""


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


def _body(request: HttpRequest, max_bytes: int) -> bytes:
    """The request body, read at most `max_bytes + 1` bytes deep (BodyTooLarge beyond, before the rest is read).

    With a Content-Length the declared size is checked first. Without one (`Transfer-Encoding: chunked`,
    which EventBridge or a proxy may use) Django's request stream is empty, since it is bounded by
    Content-Length; the WSGI server's own input stream (gunicorn de-chunks it) is read instead, in
    pieces, so an endless body is cut off at the limit rather than spooled.
    """
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        if int(declared) > max_bytes:  # ValueError for a non-number: the caller answers 400
            raise BodyTooLarge
        stream = request
    elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        stream = request.META["wsgi.input"]
    else:
        return b""
    pieces, size = [], 0
    while size <= max_bytes:
        piece = stream.read(min(READ_CHUNK, max_bytes + 1 - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > max_bytes:
        raise BodyTooLarge
    return b"".join(pieces)


@csrf_exempt
@login_not_required
@require_POST
def eventbridge(request: HttpRequest) -> JsonResponse:
    """Authenticate, rate-limit, bound, parse and check the push; answer 202 with what was stored."""
    presented = _presented_key(request)
    if not presented:
        response = _error(401, f"Missing API key: send it in the {KEY_HEADER} header.")
        response["WWW-Authenticate"] = 'Bearer realm="guardwatch-ingest"'
        return response
    key = ingest_key_authenticate(presented=presented)
    if key is None:
        client = client_address(request)
        logger.warning("Ingest refused an invalid or revoked API key from %s", client, extra={"client": client})
        response = _error(401, "Invalid or revoked API key.")
        response["WWW-Authenticate"] = 'Bearer realm="guardwatch-ingest"'
        return response
    retry_after = ingest_rate_take(key=key)
    if retry_after:
        response = _error(
            429,
            f"This key sent more than {settings.GUARDWATCH_INGEST_RATE_PER_MINUTE} requests this minute; "
            f"retry in {retry_after} s.",
        )
        response["Retry-After"] = str(retry_after)
        return response

    max_bytes = _limit("GUARDWATCH_INGEST_MAX_BYTES", MAX_BODY_BYTES)
    if request.content_type != "application/json":
        return _error(415, "Send the events as application/json.")
    try:
        body = _body(request, max_bytes)
    except ValueError:
        return _error(400, "Content-Length is not a number.")
    except BodyTooLarge:
        return _error(413, f"Body is larger than {max_bytes} bytes.")
    if not body:
        return _error(400, "The body is empty: send one EventBridge event or a JSON array of them.")
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
    if any(is_cloudtrail_event(event) for event in events):
        return _cloudtrail(events, key)
    try:
        result = findings_ingest_events(events=events, key=key)
    except IngestRejected as rejected:
        logger.warning("Ingest refused %d event(s) pushed with key %s: %s", len(events), key.prefix, rejected.status,
                       extra={"key_prefix": key.prefix})  # fmt: skip
        reason = "Invalid event(s)" if rejected.status == 400 else "Event(s) not accepted"
        return _error(rejected.status, f"{reason}; nothing was stored.", errors=rejected.errors)
    logger.info("Ingest stored %d event(s) pushed with key %s (%d new, %d updated)", result.received, key.prefix,
                result.new, result.updated, extra={"key_prefix": key.prefix})  # fmt: skip
    return JsonResponse(
        {"received": result.received, "new": result.new, "updated": result.updated, "unchanged": result.unchanged},
        status=202,
    )


def _cloudtrail(events: list, key) -> JsonResponse:
    """CloudTrail's records of GuardDuty calls (tamper alarms, accounts.tamper): alarmed or recorded, 202."""
    if not all(is_cloudtrail_event(event) for event in events):
        return _error(400, "Send GuardDuty findings and CloudTrail events in separate requests; nothing was stored.")
    try:
        result = cloudtrail_events_ingest(events=events, key=key)
    except TamperRejected as rejected:
        reason = "Invalid event(s)" if rejected.status == 400 else "Event(s) not accepted"
        return _error(rejected.status, f"{reason}; nothing was recorded.", errors=rejected.errors)
    return JsonResponse({"received": result.received, "alerts": result.alerts, "recorded": result.recorded,
                         "ignored": result.ignored}, status=202)  # fmt: skip
