"""Concurrency slots for work that holds a web thread: one per person, and a global cap.

A download streamed by gunicorn holds one of its threads for as long as it runs; a few people
exporting at once could take every thread. `slot_acquire` takes the person's own slot and one of
`total` shared slots (Redis keys set with `cache.add`, so two web workers cannot both take one),
each with a lease that `Slot.renew` extends while the work runs and that expires on its own if a
web worker dies holding it. `Slot.release` frees only what this holder still holds.

When the cache itself is unreachable the work goes ahead unguarded (logged): the guard protects
capacity, and refusing every export while Redis restarts would be the worse outage.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from django.core.cache import cache

logger = logging.getLogger(__name__)


class SlotsBusy(Exception):
    """No slot: `message` says what to do (shown to the person as is)."""

    def __init__(self, message: str, *, retry_after: int = 30):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _key(kind: str, name: str) -> str:
    return f"guardwatch:slots:{kind}:{name}"


@dataclass
class Slot:
    """The keys one holder took; `token` tells its own keys from a later holder's after a lease expired."""

    kind: str
    token: str
    keys: list[str] = field(default_factory=list)
    lease_seconds: int = 120

    def renew(self) -> None:
        """Extend the lease (call it as the work goes on: a lease ends `lease_seconds` after the last renewal)."""
        try:
            for key in self.keys:
                cache.touch(key, timeout=self.lease_seconds)
        except Exception:  # noqa: BLE001 - a cache outage must not break a running download
            logger.warning("Could not renew the %s slot lease.", self.kind, exc_info=True)

    def release(self) -> None:
        try:
            for key in self.keys:
                if cache.get(key) == self.token:
                    cache.delete(key)
        except Exception:  # noqa: BLE001 - the lease expires on its own
            logger.warning(
                "Could not release the %s slot; its lease expires on its own.", self.kind, exc_info=True
            )
        self.keys = []


def slot_acquire(
    kind: str, owner: str, *, total: int, lease_seconds: int = 120, what: str = "export"
) -> Slot:
    """The `owner`'s slot for `kind` and one of `total` shared ones, or SlotsBusy saying why not."""
    token = secrets.token_hex(8)
    slot = Slot(kind=kind, token=token, lease_seconds=lease_seconds)
    try:
        own = _key(kind, f"owner:{owner}")
        if not cache.add(own, token, timeout=lease_seconds):
            raise SlotsBusy(f"You already have an {what} running. Wait for it to finish, then try again.")
        slot.keys.append(own)
        for index in range(total):
            shared = _key(kind, f"shared:{index}")
            if cache.add(shared, token, timeout=lease_seconds):
                slot.keys.append(shared)
                return slot
    except SlotsBusy:
        raise
    except Exception:  # noqa: BLE001 - see the module's docstring
        logger.warning(
            "The cache is unreachable: this %s runs without its concurrency guard.", what, exc_info=True
        )
        return Slot(kind=kind, token=token, lease_seconds=lease_seconds)
    slot.release()
    raise SlotsBusy(
        f"{total} {what}s are running already, the most GuardWatch runs at once. Try again in a minute.",
        retry_after=60,
    )
