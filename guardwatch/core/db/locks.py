"""Work held by a live worker: a Postgres session advisory lock on a connection of its own.

Postgres releases a session lock when its connection ends, so a worker killed with `kill -9` never
leaves the lock behind: a watchdog that can take the lock knows that nobody runs the work any more
(`lock_is_free`), however long ago the worker died.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

logger = logging.getLogger(__name__)


@contextmanager
def advisory_lock(kind: int, key: int) -> Iterator[bool]:
    """Try to hold the lock (`kind`, `key`) for the block; yields whether it is held (never waits).

    Other databases (the SQLite demo, one worker) have no such lock: it is always held there.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (kind, key))
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                try:
                    with lock_connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", (kind, key))
                except DatabaseError:  # the connection died (a restart, a terminated backend): the lock with it
                    logger.warning("Lock (%s, %s): its connection was gone at the end, and the lock with it.", kind, key)
    finally:
        lock_connection.close()


def lock_is_free(kind: int, key: int) -> bool:
    """Whether no live session holds (`kind`, `key`) right now (always False off Postgres: unknowable)."""
    if connection.vendor != "postgresql":
        return False
    with advisory_lock(kind, key) as held:
        return held
