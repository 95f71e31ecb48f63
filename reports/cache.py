"""Report figures in the cache: short-lived entries keyed by a version syncs bump, and kept snapshots.

Every cached figure's key carries the current data version (`guardwatch.core.data_version`), so a bump
(when a member sync finishes) makes every older entry unreachable at once; the entries expire on their
own after `GUARDWATCH_REPORTS_CACHE_SECONDS`.

Snapshots (the findings report's standard periods, the dashboard's findings figures) are kept instead:
each records when it was computed and the data `mark` it was computed from, and the page serves it at
once while a background refresh, claimed with `refresh_claim` so only one runs across workers,
replaces it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from guardwatch.core.data_version import data_version

logger = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 7 * 24 * 3600  # how long Redis keeps a snapshot nobody refreshes (beat refreshes sooner)
CLAIM_SECONDS = 15 * 60  # a refresh that died without releasing its claim blocks others this long at most


def _digest(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _read(key: str) -> Any:
    """The cached value at `key`, or None when it cannot be unpickled.

    Figures are kept pickled, with the module path of their classes. A value written by another
    version of GuardWatch, whose classes have since moved or changed (an upgrade, or web and workers
    of two versions side by side), cannot be read back: it is dropped and computed again, never a 500.
    """
    try:
        return cache.get(key)
    except (ImportError, AttributeError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
        logger.warning("Dropping cached report figures %s written by another version of GuardWatch", key,
                       exc_info=True)  # fmt: skip
        cache.delete(key)
        return None


def reports_cached(name: str, params: dict, compute: Callable[[], Any]) -> Any:
    """`compute()`'s result, cached briefly under `name` + `params`; no cache when the TTL is 0."""
    seconds = settings.GUARDWATCH_REPORTS_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = f"guardwatch:reports:{data_version()}:{name}:{_digest(params)}"
    value = _read(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=seconds)
    return value


@dataclass(frozen=True)
class Snapshot:
    """Figures as computed at `computed_at` from the data at `mark` (whatever the caller compares)."""

    value: Any
    computed_at: datetime
    mark: tuple


def _snapshot_key(name: str, params: dict) -> str:
    return f"guardwatch:reports:snapshot:{name}:{_digest(params)}"


def snapshot_get(name: str, params: dict) -> Snapshot | None:
    """The kept snapshot of `name` + `params`, however old, or None."""
    snapshot = _read(_snapshot_key(name, params))
    return snapshot if isinstance(snapshot, Snapshot) else None


def snapshot_put(name: str, params: dict, snapshot: Snapshot, *, seconds: int = SNAPSHOT_SECONDS) -> None:
    """Keep `snapshot` (replacing the previous one) for `seconds` (SNAPSHOT_SECONDS unless said)."""
    cache.set(_snapshot_key(name, params), snapshot, timeout=seconds)


@contextmanager
def refresh_claim(name: str, *, cooldown: float) -> Iterator[bool]:
    """True when the caller may refresh `name`: no refresh of it running, none started in `cooldown` s.

    `cache.add` is atomic in Redis, so of several workers exactly one gets True. The claim is held
    while the caller refreshes and then kept until `cooldown` seconds after it started, which spaces
    refreshes out however often syncs change the data.
    """
    key = f"guardwatch:reports:refresh:{name}"
    started = time.monotonic()
    claimed = cache.add(key, 1, timeout=CLAIM_SECONDS)
    try:
        yield claimed
    finally:
        if claimed:
            remaining = int(cooldown - (time.monotonic() - started))
            if remaining >= 1:
                cache.touch(key, timeout=remaining)
            else:
                cache.delete(key)


def _queued_key(name: str) -> str:
    return f"guardwatch:reports:queued:{name}"


def refresh_request(name: str, *, within: float, at: datetime | None = None) -> bool:
    """True at most once per `within` seconds per `name`: whether the caller should enqueue a refresh.

    The request remembers when it was made (`at`, now unless said): `refresh_requested_at`.
    """
    moment = at.timestamp() if at else time.time()
    return cache.add(_queued_key(name), moment, timeout=max(1, int(within)))


def refresh_requested_at(name: str) -> datetime | None:
    """When the pending request for `name` was made, or None when none is pending."""
    moment = cache.get(_queued_key(name))
    return datetime.fromtimestamp(moment, tz=UTC) if isinstance(moment, int | float) else None


def refresh_request_renew(name: str, *, within: float, at: datetime) -> None:
    """Restart the pending request for `name` at `at` (whoever asks next sees it made then)."""
    cache.set(_queued_key(name), at.timestamp(), timeout=max(1, int(within)))


def refresh_request_done(name: str) -> None:
    """Forget the pending request for `name`: the next caller enqueues again."""
    cache.delete(_queued_key(name))


def _slot_key(owner: str) -> str:
    return f"guardwatch:reports:slot:{owner}"


def slot_take(owner: str, name: str, *, seconds: int) -> str:
    """`owner`'s one slot, for `name`: returns `name` when it holds it (now or already), else the holder's name."""
    key = _slot_key(owner)
    if cache.add(key, name, timeout=seconds):
        return name
    return cache.get(key) or name  # expired in between: free, take it as held (two may then run, no harm)


def slot_release(owner: str, name: str) -> None:
    """Free `owner`'s slot if `name` holds it."""
    key = _slot_key(owner)
    if owner and cache.get(key) == name:
        cache.delete(key)


def _failed_key(name: str) -> str:
    return f"guardwatch:reports:failed:{name}"


def failure_put(name: str, message: str, *, seconds: int) -> None:
    """Remember for `seconds` that computing `name` failed, and why (what the page then shows)."""
    cache.set(_failed_key(name), message, timeout=seconds)


def failure_get(name: str) -> str:
    """Why computing `name` failed lately, or ""."""
    return cache.get(_failed_key(name)) or ""


def failure_forget(name: str) -> None:
    cache.delete(_failed_key(name))
