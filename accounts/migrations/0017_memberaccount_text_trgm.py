"""Trigram indexes for the accounts page's text filter (PostgreSQL): each column it matches gets an index on exactly
the expression Django's `icontains` writes (`UPPER(col::text) LIKE UPPER(%s)`; the account id's `startswith` has
the `varchar_pattern_ops` index Django gave its unique column), so the filter's OR becomes a bitmap OR of four
index scans instead of a scan of every account's four text columns in each of the page's counting queries (~75 ms
a scan at 50,000 accounts; 0.7 ms through the indexes for a name matching 11 accounts). Measured in docs/benchmarks.md ("Member accounts page and coverage").

Expand-only (tests/core/test_migration_rules.py): indexes only, built CONCURRENTLY outside a transaction
(atomic = False) so syncs and operations keep writing; a build that failed half-way leaves an invalid index,
dropped before each build, so running the migration again finishes the job. Not in the models' state: SQLite (the
demo) has no pg_trgm and scans its few accounts.
"""

from django.db import migrations

TABLE = "accounts_memberaccount"
INDEXES = {
    "member_email_trgm": "USING gin (upper(email::text) gin_trgm_ops)",
    "member_display_name_trgm": "USING gin (upper(display_name::text) gin_trgm_ops)",
    "member_tags_trgm": "USING gin (upper(tags::text) gin_trgm_ops)",
}


def indexes_build(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, how in INDEXES.items():
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY {name} ON {TABLE} {how}")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0016_membershipstatuscount")]

    operations = [migrations.RunPython(indexes_build, indexes_drop, elidable=False)]
