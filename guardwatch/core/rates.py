"""Per-minute request limits kept in Redis, shared by every web process (ingest keys, API tokens)."""

import logging
import math
from datetime import datetime

from django.core.cache import cache as shared_cache
from django.utils import timezone

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60


def minute_rate_take(*, label: str, name: str, limit: int, now: datetime | None = None) -> int:
    """Count one request against `name`'s current minute; `limit` <= 0 means no limit (`label` names it in logs).

    Returns 0 when the request may go on, else the seconds until the next minute, for `Retry-After`.
    A cache outage lets requests go on unlimited (the caller has already authenticated them).
    """
    if limit <= 0:
        return 0
    moment = (now or timezone.now()).timestamp()
    window = int(moment // RATE_WINDOW_SECONDS)
    counter = f"gw:{name}:{window}"
    try:
        shared_cache.add(counter, 0, timeout=2 * RATE_WINDOW_SECONDS)
        try:
            count = shared_cache.incr(counter)
        except ValueError:  # expired between add and incr
            shared_cache.set(counter, 1, timeout=2 * RATE_WINDOW_SECONDS)
            count = 1
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning("%s rate limit not applied: the cache is unreachable.", label, exc_info=True)
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil((window + 1) * RATE_WINDOW_SECONDS - moment))
