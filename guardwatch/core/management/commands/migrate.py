"""`migrate` as Django's, with PostgreSQL's `lock_timeout` set on the migrating connection.

A migration that needs an exclusive lock (ALTER TABLE, a plain CREATE INDEX's SHARE lock) queues behind
any running transaction on that table, and every later query on the table queues behind the migration:
a long report query would stall the whole site for as long as it runs. With `lock_timeout` the migration
gives up after `GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS` instead (the atomic migration rolls back; run the
command again), so readers wait at most that long for a lock request. It bounds waiting for a lock only,
not how long a migration holds one once granted (see docs/operations.md, "Upgrades").
"""

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections
from django.db.backends.signals import connection_created


class Command(DjangoMigrate):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--lock-timeout",
            type=int,
            default=None,
            help="Seconds to wait for each lock before failing (default GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS; 0 waits).",
        )

    def handle(self, *args, **options):
        seconds = options["lock_timeout"]
        if seconds is None:
            seconds = settings.GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS
        connection = connections[options["database"]]
        if connection.vendor != "postgresql" or not seconds:
            return super().handle(*args, **options)

        def lock_timeout_set(sender, connection, **kwargs):
            if connection.alias == options["database"]:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{seconds}s"])

        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            previous = cursor.fetchone()[0]
        # Session-level, so it outlives each migration's transaction; set again if Django reconnects.
        connection_created.connect(lock_timeout_set, weak=False)
        try:
            lock_timeout_set(None, connection)
            try:
                return super().handle(*args, **options)
            finally:
                # call_command (the tests, pytest-django) keeps the connection: hand it back as it was.
                if connection.connection is not None and not connection.in_atomic_block:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])
        finally:
            connection_created.disconnect(lock_timeout_set)
