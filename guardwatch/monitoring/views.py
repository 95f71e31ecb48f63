"""`GET /metrics`: Prometheus's text format, for a scraper holding the token and/or on the allowlist.

Not a session page (no login): Prometheus authenticates with `Authorization: Bearer <token>` and/or by
its address (settings GUARDWATCH_METRICS_TOKEN, GUARDWATCH_METRICS_ALLOW). Off (404) unless
GUARDWATCH_METRICS is on.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from guardwatch.core.login import client_address
from guardwatch.monitoring.state import STATE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Scrape:
    """What one scrape exposes: the event counters (every process's, in multiprocess mode) and the state."""

    def collect(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            yield from MultiProcessCollector(None).collect()
        else:
            yield from REGISTRY.collect()
        yield from STATE.collect()


def _token_ok(request: HttpRequest) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = settings.GUARDWATCH_METRICS_TOKEN.encode()
    # compare_digest takes the same time whatever the presented token shares with the real one.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected)


def _address_ok(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in network for network in settings.GUARDWATCH_METRICS_ALLOW)


def _refused(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="guardwatch-metrics"'
    return response


@login_not_required
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics, once the caller passed every check configured (allowlist, then token)."""
    if not settings.GUARDWATCH_METRICS:
        raise Http404("Metrics are off.")
    if settings.GUARDWATCH_METRICS_ALLOW and not _address_ok(request):
        return _refused(403, "This address may not read the metrics (GUARDWATCH_METRICS_ALLOW).")
    if settings.GUARDWATCH_METRICS_TOKEN and not _token_ok(request):
        return _refused(401, "Send the metrics token: Authorization: Bearer <GUARDWATCH_METRICS_TOKEN>.")
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE)
