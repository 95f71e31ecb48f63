"""Kept counts of hot entities: the entity page of an IP or a user named by 300,000 findings without counting them.

An entity page counts its entity's findings per account, region and day from `FindingEntity`'s index (one
index-only scan, ~0.75 µs a row): fine for thousands, 120–330 ms for the few entities named by hundreds of
thousands of findings at 5,000,000 (docs/benchmarks.md). Those entities are promoted to `HotEntity`; from then on
triggers on `FindingEntity` (findings 0024) add signed `EntityRollup` rows for every statement that moves one of
their rows, and the page sums a few hundred rows instead. PostgreSQL only; SQLite (the demo) always counts.

    promote (task, queued by the page)   HotEntity row committed → wait for writers in flight → count once
    fold (beat, every minute)            each key's signed rows → one row
    rebase (task, queued by the page)    a place lost a row (retention, a finding's new version): count again

Promotion and rebase count the rows in one statement whose snapshot also decides which signed rows it replaces:
a writer that commits after that snapshot keeps its rows, one that committed before is in the count. The fold
and the counts are serialized by one advisory lock, so neither replaces rows the other just wrote.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from findings.models import EntityRollup, FindingEntity, HotEntity
from guardwatch.core.queue import task_send

logger = logging.getLogger(__name__)

# An entity named by at least this many findings gets kept counts (its page counted that many rows once).
HOT_ENTITY_FINDINGS = 10_000
# The fold and the counts run one at a time (pg_advisory_xact_lock's key: "entity rollup").
_LOCK = 0x656E_7472_6F6C_6C
# How long a promotion waits for the writers in flight before it gives up (the next view asks again).
_LOCK_TIMEOUT = "10s"
# A page asks for a promotion or a new count of one entity at most this often.
_REQUEST_SECONDS = 300

_ROLLUP = EntityRollup._meta.db_table
_ENTITY = FindingEntity._meta.db_table
_COLUMNS = "kind, value, axis, account_id, region, day, n, first_seen, stale"


def entity_rollup_request(*, kind: str, value: str) -> bool:
    """Queue the promotion (or a new count) of one entity, once per `_REQUEST_SECONDS` across processes.

    Called by the entity page after it counted an entity's rows itself: it is hot and has no usable kept
    counts. False when not queued (asked recently, SQLite, or the broker refused: the next view asks again)."""
    if connection.vendor != "postgresql":
        return False
    if not cache.add(request_key(kind, value), 1, timeout=_REQUEST_SECONDS):
        return False
    try:
        task_send("findings.tasks.entity_rollup_promote", kind, value)
    except Exception:  # noqa: BLE001 - the broker being down must not turn an entity page into a 500
        cache.delete(request_key(kind, value))  # so the next view asks again
        logger.warning("Could not queue the kept counts of %s %s; the next view asks again.", kind, value,
                       exc_info=True)  # fmt: skip
        return False
    return True


def request_key(kind: str, value: str) -> str:
    """The shared cache's mark of a recent request for one entity: the same in every process, for any value."""
    return "entity-rollup:" + hashlib.sha256(f"{kind}\0{value}".encode()).hexdigest()[:32]


def entity_rollup_promote(*, kind: str, value: str) -> bool:
    """Make one entity hot and count its rows (or count them again when it is hot already). True once counted.

    The `HotEntity` row is committed first, so every writer statement whose trigger runs afterwards records its
    changes; the first time, a SHARE lock on `FindingEntity`, taken and let go at once, waits for the writers
    that were already running (their triggers may have run before the row existed). A new count of an entity
    hot for a while needs no lock: every writer records its changes. Only then are the rows counted."""
    if connection.vendor != "postgresql":
        return False
    _hot, created = HotEntity.objects.get_or_create(kind=kind, value=value)
    if created:  # the SHARE lock also cancels an autovacuum of the table: once per entity, not per count
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {_ENTITY} IN SHARE MODE")  # noqa: S608 - model metadata
    with transaction.atomic():
        # One statement, one snapshot: the signed rows it deletes are the ones whose changes it counts.
        _rewrite(
            f"WITH gone AS (DELETE FROM {_ROLLUP} WHERE kind = %s AND value = %s)"  # noqa: S608 - model metadata
            f" INSERT INTO {_ROLLUP} ({_COLUMNS})"
            " SELECT kind, value, CASE WHEN GROUPING(account_id, region) = 0 THEN 0 ELSE 1 END,"
            " coalesce(account_id, ''), coalesce(region, ''), (last_seen AT TIME ZONE 'UTC')::date, count(*),"
            " CASE WHEN GROUPING(account_id, region) = 0 THEN min(first_seen) END, false"
            f" FROM {_ENTITY} WHERE kind = %s AND value = %s"
            " GROUP BY kind, value, GROUPING SETS ((account_id, region), ((last_seen AT TIME ZONE 'UTC')::date))",
            [kind, value, kind, value],
        )
        HotEntity.objects.filter(kind=kind, value=value).update(based_at=timezone.now())
    return True


def entity_rollups_fold() -> int:
    """Fold every hot entity's signed rows into one row per key (beat). Returns how many rows remain."""
    if connection.vendor != "postgresql":
        return 0
    return _rewrite(
        f"WITH gone AS (DELETE FROM {_ROLLUP} RETURNING {_COLUMNS})"  # noqa: S608 - model metadata
        f" INSERT INTO {_ROLLUP} ({_COLUMNS})"
        " SELECT kind, value, axis, account_id, region, day, sum(n), min(first_seen), bool_or(stale) FROM gone"
        " GROUP BY kind, value, axis, account_id, region, day HAVING sum(n) <> 0"
    )


def _rewrite(sql: str, params: list | None = None) -> int:
    """Run one statement that replaces kept rows, in its own transaction (or the caller's), after taking the
    lock the fold and the counts share: the statement's snapshot is taken after the lock, so it sees what the
    other just wrote. Returns how many rows it wrote."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        cursor.execute(sql, params)
        return cursor.rowcount
