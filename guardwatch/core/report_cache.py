"""A short cache for report figures, keyed by the report's parameters and a version that syncs bump.

Every cached figure's key carries the current version number, so `reports_cache_bump()` (called when a
findings or member sync finishes) makes every older entry unreachable at once; the entries expire on
their own after `GUARDWATCH_REPORTS_CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "guardwatch:reports:version"


def reports_cache_version() -> int:
    """The current version (1 until the first bump)."""
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY, 1)
    return int(version)


def reports_cache_bump(**_signal_kwargs: Any) -> None:
    """Invalidate every cached report figure (a sync changed the data behind them)."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # not set yet (or evicted): any value other than the old one will do
        cache.set(VERSION_KEY, reports_cache_version() + 1, timeout=None)


def reports_cached(name: str, params: dict, compute: Callable[[], Any]) -> Any:
    """`compute()`'s result, cached briefly under `name` + `params`; no cache when the TTL is 0."""
    seconds = settings.GUARDWATCH_REPORTS_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    key = f"guardwatch:reports:{reports_cache_version()}:{name}:{digest}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=seconds)
    return value
