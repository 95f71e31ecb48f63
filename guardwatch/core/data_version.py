"""A version number per kind of data, bumped when that data changes, for caches to key their entries by.

The apps that write data (a member sync, a findings sync or push, a triage move) bump a version; the
caches that read it (the reports app's figures and snapshots) put the version in their keys or
compare it, so a bump makes every older entry unreachable at once. It lives here, below every app,
so a writer never imports the reader it invalidates.

Scopes: "" for what `reports.cache.reports_cached` keeps (coverage: members, detectors, protection
plans, sync freshness), "findings" for the findings report's and dashboard's snapshots.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

VERSION_KEY = "guardwatch:reports:version"  # the key's name predates this module; kept so versions carry over


def _version_key(scope: str) -> str:
    return f"{VERSION_KEY}:{scope}" if scope else VERSION_KEY


def data_version(*, scope: str = "") -> int:
    """The current version of `scope` (1 until its first bump)."""
    key = _version_key(scope)
    version = cache.get(key)
    if version is None:
        cache.add(key, 1, timeout=None)
        version = cache.get(key, 1)
    return int(version)


def data_version_bump(*, scope: str = "", **_signal_kwargs: Any) -> None:
    """`scope`'s data changed: every cache entry keyed by its current version is stale from now on.

    Best effort: the writers (a sync, a push, a triage move) must not fail because the cache is
    unreachable. A lost bump leaves figures stale until their maximum age (the findings snapshots
    also compare the store's own high-water marks, so they see the change anyway).
    """
    key = _version_key(scope)
    try:
        try:
            cache.incr(key)
        except ValueError:  # not set yet (or evicted): any value other than the old one will do
            cache.set(key, data_version(scope=scope) + 1, timeout=None)
    except Exception:  # noqa: BLE001 - a cache outage (redis ConnectionError, TimeoutError, ...)
        logger.warning("Could not bump the %r data version: the cache is unreachable.", scope, exc_info=True)


def data_version_bump_on_commit(*, scope: str = "") -> None:
    """`data_version_bump` once the current transaction commits (at once outside one): readers that
    recompute on the bump then see the change."""
    transaction.on_commit(partial(data_version_bump, scope=scope))
