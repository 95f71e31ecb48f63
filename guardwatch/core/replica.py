"""Reads that may go to a read replica: the reports' heavy, read-only computations.

`GUARDWATCH_REPLICA_DATABASE_URL` (optional) adds the `replica` database. Code that only reads, can take
figures a replica's lag behind, and would otherwise load the primary for seconds (the findings report's
passes, the coverage summary) runs inside `replica_reads()`: the router sends its ORM reads to the
replica, and `reads_connection()` is the connection its raw SQL uses. Everything else, and every write,
stays on the primary (`default`); without a replica `replica_reads()` changes nothing.

A context variable rather than `.using()` on each query: the report's passes are spread over several
modules and one of them runs on a second thread (copy the context to it: `contextvars.copy_context()`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    """Whether a read replica is configured (GUARDWATCH_REPLICA_DATABASE_URL)."""
    return REPLICA in connections.settings


def reads_alias() -> str:
    """The database this context's reads go to: the replica inside `replica_reads()` when there is one."""
    return REPLICA if _replica_reads.get() and replica_configured() else DEFAULT_DB_ALIAS


def reads_connection():
    """The connection raw SQL of a read-only computation uses (see `reads_alias`)."""
    return connections[reads_alias()]


@contextmanager
def replica_reads() -> Iterator[None]:
    """Send this block's reads to the replica (when one is configured); writes still go to the primary."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """Django's router: reads inside `replica_reads()` go to the replica; nothing else changes."""

    def db_for_read(self, model, **hints) -> str | None:
        alias = reads_alias()
        return alias if alias == REPLICA else None

    def db_for_write(self, model, **hints) -> str | None:
        return DEFAULT_DB_ALIAS  # a replica is read-only

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return True  # the same rows, whichever copy they were read from

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        return False if db == REPLICA else None  # the replica follows the primary's schema
