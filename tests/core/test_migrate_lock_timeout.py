"""`manage.py migrate` gives up waiting for a table lock after GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS.

The story: an admin upgrades while a long report query (or a forgotten psql session) holds a table open.
Without a lock timeout the migration's ALTER TABLE queues behind it and every page reading that table
queues behind the migration, for as long as the long query runs. With it, the migration fails after a
few seconds, leaves nothing half-done, and the admin runs it again once the table is free.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor

from tests.support.sessions import session_open

BEFORE = ("findings", "0013_sync_checkpoint_in_guardduty_time")
AFTER = ("findings", "0014_sync_run_waited_seconds")  # AddField: ALTER TABLE findings_syncrun (ACCESS EXCLUSIVE)
HOLDER_GIVES_UP_SECONDS = 8  # bounds the test if the migration waited (as it did before the lock timeout)


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


@pytest.mark.django_db(transaction=True)
def test_admin_migrating_while_a_long_query_holds_a_table_gets_a_quick_failure_and_retries(settings):
    settings.GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS = 1
    try:
        call_command("migrate", *BEFORE, verbosity=0)
        assert "waited_seconds" not in columns("findings_syncrun")
        holder = session_open()
        holder.execute("SELECT count(*) FROM findings_syncrun")  # its transaction stays open: ACCESS SHARE
        released = threading.Timer(HOLDER_GIVES_UP_SECONDS, holder.rollback)
        released.start()
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="lock timeout"):
                call_command("migrate", *AFTER, verbosity=0)
            waited = time.monotonic() - started
        finally:
            released.cancel()
            holder.rollback()
            holder.close()
        assert waited < 4, f"the migration waited {waited:.1f} s for its lock"
        assert "waited_seconds" not in columns("findings_syncrun")  # rolled back whole

        call_command("migrate", *AFTER, verbosity=0)  # the table is free: the retry goes through

        assert "waited_seconds" in columns("findings_syncrun")
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "0"  # the test's own connection is handed back as it was
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
