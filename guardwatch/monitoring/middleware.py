"""Request latency per URL name, for /metrics (a no-op unless GUARDWATCH_METRICS is on)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from guardwatch.core.metrics import REQUEST_LATENCY

# A client may send any method name; label values stay a known handful.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED = "unresolved"  # no URL pattern matched (404), or a check answered before resolving (400, 413)


class RequestLatencyMiddleware:
    """Observe each answer's time under its URL name (`triage:finding_detail`), never the raw path:
    a path carries ids and whatever a client typed, so it would make one series per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        if not settings.GUARDWATCH_METRICS:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or UNRESOLVED) if match is not None else UNRESOLVED
        method = request.method if request.method in METHODS else "other"
        REQUEST_LATENCY.labels(view=view, method=method, status=f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response
