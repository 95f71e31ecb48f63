"""Indexes for the accounts page's filters at 50,000 accounts × 17 regions.

Trigram indexes for the text filter (PostgreSQL): each column it matches gets an index on exactly
the expression Django's `icontains` writes (`UPPER(col::text) LIKE UPPER(%s)`; the account id's `startswith` has
the `varchar_pattern_ops` index Django gave its unique column), so the filter's OR becomes a bitmap OR of four
index scans instead of a scan of every account's four text columns in each of the page's counting queries (~75 ms
a scan at 50,000 accounts; 0.7 ms through the indexes for a name matching 11 accounts).

`membership_account_status_idx` (account, status, region), on every database and in the models' state: the status
counts of text-filtered accounts and the status filter's `EXISTS` probe read it alone (index-only), not 17
memberships from the table per account (the counts of 11,111 accounts: 196 → 83 ms). Measured in docs/benchmarks.md ("Member accounts page and coverage").

Expand-only (tests/core/test_migration_rules.py): indexes only, built CONCURRENTLY on PostgreSQL outside a
transaction (atomic = False) so syncs and operations keep writing; a build that failed half-way leaves an invalid
index, dropped before each build, so running the migration again finishes the job. The trigram indexes are not in
the models' state: SQLite (the demo) has no pg_trgm and scans its few accounts.
"""

from django.db import migrations, models

TABLE = "accounts_memberaccount"
INDEXES = {
    "member_email_trgm": "USING gin (upper(email::text) gin_trgm_ops)",
    "member_display_name_trgm": "USING gin (upper(display_name::text) gin_trgm_ops)",
    "member_tags_trgm": "USING gin (upper(tags::text) gin_trgm_ops)",
}
STATUS_INDEX = models.Index(fields=["account", "relationship_status", "region"], name="membership_account_status_idx")


def indexes_build(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(apps.get_model("accounts", "Membership"), STATUS_INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {STATUS_INDEX.name}")
    schema_editor.add_index(apps.get_model("accounts", "Membership"), STATUS_INDEX, concurrently=True)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, how in INDEXES.items():
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY {name} ON {TABLE} {how}")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {STATUS_INDEX.name}")
        return
    for name in [*INDEXES, STATUS_INDEX.name]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0016_membershipstatuscount")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="membership", index=STATUS_INDEX)],
            database_operations=[migrations.RunPython(indexes_build, indexes_drop, elidable=False)],
        ),
    ]
