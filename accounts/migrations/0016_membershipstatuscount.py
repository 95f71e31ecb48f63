"""`MembershipStatusCount`: memberships per region and status, kept by triggers on `Membership` (PostgreSQL).

Expand-only (tests/core/test_migration_rules.py): a new table and triggers; release N neither reads the table nor
knows the triggers, and what it writes during the upgrade is counted by them all the same. The triggers, and the
first counts from the memberships already stored, go in one transaction that holds a SHARE lock on the
memberships (writers wait for the count: 845,750 memberships at 50,000 accounts × 17 regions read by their
(region, status) index), so no write is counted twice or missed. The triggers only add rows, so no writer
waits on another. SQLite (the demo) gets the table alone: its accounts page groups its few memberships.
"""

from django.db import migrations, models

COUNTS = "accounts_membershipstatuscount"
# A statement's inserted, deleted or updated memberships (its transition tables) → one signed row per (region,
# status) it moved. One function per event: Postgres allows transition tables only on single-event triggers.
FUNCTIONS = {
    "accounts_membership_counts_insert": """
        INSERT INTO accounts_membershipstatuscount (region, status, n)
        SELECT region, relationship_status, count(*) FROM written GROUP BY region, relationship_status""",
    "accounts_membership_counts_delete": """
        INSERT INTO accounts_membershipstatuscount (region, status, n)
        SELECT region, relationship_status, -count(*) FROM gone GROUP BY region, relationship_status""",
    # An UPDATE trigger with transition tables cannot name columns: a statement that only stamps
    # `last_synced_at` fires it too, and its before and after cancel out (nothing written).
    "accounts_membership_counts_update": """
        INSERT INTO accounts_membershipstatuscount (region, status, n)
        SELECT region, status, sum(n) FROM (
            SELECT region, relationship_status AS status, count(*) AS n FROM written GROUP BY 1, 2
            UNION ALL
            SELECT region, relationship_status, -count(*) FROM gone GROUP BY 1, 2
        ) moved GROUP BY region, status HAVING sum(n) <> 0""",
}
TRIGGERS = {
    "accounts_membership_counts_insert": "AFTER INSERT ON accounts_membership REFERENCING NEW TABLE AS written",
    "accounts_membership_counts_delete": "AFTER DELETE ON accounts_membership REFERENCING OLD TABLE AS gone",
    "accounts_membership_counts_update": (
        "AFTER UPDATE ON accounts_membership REFERENCING OLD TABLE AS gone NEW TABLE AS written"
    ),
}


def counts_keep(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("LOCK TABLE accounts_membership IN SHARE MODE")
    for name, body in FUNCTIONS.items():
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
        )
        schema_editor.execute(f"CREATE TRIGGER {name} {TRIGGERS[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    schema_editor.execute(
        f"INSERT INTO {COUNTS} (region, status, n) SELECT region, relationship_status, count(*)"  # noqa: S608
        " FROM accounts_membership GROUP BY region, relationship_status"
    )


def counts_unkeep(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON accounts_membership")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    schema_editor.execute(f"DELETE FROM {COUNTS}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("accounts", "0015_account_region_summary")]

    operations = [
        migrations.CreateModel(
            name="MembershipStatusCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("region", models.CharField(max_length=32)),
                ("status", models.CharField(blank=True, max_length=64)),
                ("n", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["region", "status"], name="membershipcount_pair_idx")],
            },
        ),
        migrations.RunPython(counts_keep, counts_unkeep, elidable=False),
    ]
