"""`Finding.attack_sequence_arn`: the attack sequence a finding is a signal of, as a column.

GuardDuty names it in the finding (botocore's guardduty model, Finding.AssociatedAttackSequenceArn);
until now it stayed in `raw`, so finding a sequence's signals (the suppression preview's flag) read the
raw text of every finding in range: 5.4 s for a rule matching most of 1,000,000 findings.

Expand-only (tests/core/test_migration_rules.py): a NOT NULL column with `db_default` "" (release N's
INSERTs, which do not name it, get ""); the backfill and the partial index run outside a transaction
(atomic = False) so syncs and pushes keep writing: the backfill updates one id range at a time, each its
own short transaction, and only the rows whose raw text names a sequence; the index is built
CONCURRENTLY (and dropped first if a failed build left it invalid). SQLite (the demo) does both plainly.

The column is added by hand, with the same SQL on both backends: Django's SQLite AddField of a NOT NULL column
with a default remakes the whole table with every index, and SQLite refuses the NULLS LAST of
finding_tri_seen_idx, so `make demo` could not migrate. A constant DEFAULT is also what keeps PostgreSQL's
ADD COLUMN instant (no table rewrite).
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["attack_sequence_arn"], name="finding_sequence_idx", condition=~models.Q(attack_sequence_arn="")
)
BATCH = 50_000  # ids per UPDATE: ~1 s each at 1,000,000 findings, so a sync waits at most that long on a row
# Either key spelling (boto3's PascalCase, EventBridge's camelCase); the LIKE spares the JSON parse of the rest.
_PG_VALUE = (
    "COALESCE(raw::jsonb ->> 'AssociatedAttackSequenceArn', raw::jsonb ->> 'associatedAttackSequenceArn', '')"
)
_SQLITE_VALUE = (
    "COALESCE(json_extract(raw, '$.AssociatedAttackSequenceArn'), "
    "json_extract(raw, '$.associatedAttackSequenceArn'), '')"
)


COLUMN_ADD = "ALTER TABLE findings_finding ADD COLUMN attack_sequence_arn varchar(512) DEFAULT '' NOT NULL"
COLUMN_DROP = "ALTER TABLE findings_finding DROP COLUMN attack_sequence_arn"


def column_add(apps, schema_editor):
    schema_editor.execute(COLUMN_ADD)


def column_drop(apps, schema_editor):
    schema_editor.execute(COLUMN_DROP)


def backfill(apps, schema_editor):
    Finding = apps.get_model("findings", "Finding")
    postgres = schema_editor.connection.vendor == "postgresql"
    value = _PG_VALUE if postgres else _SQLITE_VALUE
    last = Finding.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for start in range(0, last + 1, BATCH):
        schema_editor.execute(
            f"UPDATE findings_finding SET attack_sequence_arn = SUBSTR({value}, 1, 512) "  # noqa: S608 - constants
            "WHERE id >= %s AND id < %s AND raw LIKE %s AND attack_sequence_arn = ''",
            [start, start + BATCH, "%ssociatedAttackSequenceArn%"],
        )


def index_build(apps, schema_editor):
    Finding = apps.get_model("findings", "Finding")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
        schema_editor.add_index(Finding, INDEX, concurrently=True)
    else:
        schema_editor.add_index(Finding, INDEX)


def index_drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX.name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("findings", "0015_sync_run_resumed_and_ingestion_ledger")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="finding",
                    name="attack_sequence_arn",
                    field=models.CharField(blank=True, db_default="", default="", max_length=512),
                ),
            ],
            database_operations=[migrations.RunPython(column_add, column_drop)],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="finding", index=INDEX)],
            database_operations=[migrations.RunPython(index_build, index_drop)],
        ),
    ]
