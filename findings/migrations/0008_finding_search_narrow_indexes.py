"""Free-text search moves to a narrow side table; four indexes another index already serves are dropped.

Why (docs/benchmarks.md, "Triage"): the trigram GIN index on the finding row cost about 65 % of a
status UPDATE (every new row version re-inserts all trigrams of an unchanged text) and its recheck
read whole ~2.4 kB rows. `FindingSearch` holds the lowercased text (~300 bytes) with the trigram
index; the upsert writes it only when the text changes, triage never.

Dropped, each served by an index that stays:
- `finding_severity_idx` (severity DESC, updated_at DESC): nothing sorts by that pair; severity
  ranges and sorts use `finding_tri_sev_idx` (severity DESC, id DESC);
- `finding_last_seen_idx` (last_seen): `finding_tri_seen_idx` (last_seen DESC NULLS LAST, id DESC)
  serves ranges and either direction;
- `finding_type_prefix_idx` (type text_pattern_ops): the leading column of `finding_tri_type_sev_idx`;
- `findings_finding_arn_…_like` (arn varchar_pattern_ops), built by Django for `unique=True`: no query
  matches ARNs by prefix. The unique constraint keeps its name, so Postgres only loses the LIKE index;
  SQLite (the demo) keeps its inline UNIQUE (rebuilding its table would trip on the triage indexes it
  cannot express), which serves the upsert's ON CONFLICT (arn) the same way.

Cost on a large table (Postgres): one sequential read of `findings_finding` to fill the side table
(the severity index is built as it fills), one trigram index build over it, an ANALYZE; index drops
are instant. Measured on the 2-core benchmark machine at 1,000,000 findings: 82 s forward (0008 and
0009 together, before the ANALYZE was added; it samples 30,000 rows), 97 s back to 0007 (rebuilding
the old trigram index). The findings table is locked against writes (SHARE) for the whole of it, so
a sync running meanwhile waits rather than writing findings without search rows; reads go on
until the old indexes are dropped at the very end.
"""

import django.db.models.deletion
from django.db import migrations, models

OLD_SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS finding_tri_search_trgm ON findings_finding USING gin "
    "((lower(title || ' ' || description || ' ' || resource_id)) gin_trgm_ops)"
)
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS findingsearch_text_trgm ON findings_findingsearch USING gin (text gin_trgm_ops)"
)
# The same expression the finding row's index was built on (and `upsert` writes).
BACKFILL = (
    "INSERT INTO findings_findingsearch (finding_id, severity, text)"
    " SELECT id, severity, lower(title || ' ' || description || ' ' || resource_id) FROM findings_finding"
)


def search_fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # A finding written by a sync while this runs would get no search row: writes wait instead.
        schema_editor.execute("LOCK TABLE findings_finding IN SHARE MODE")
    schema_editor.execute(BACKFILL)
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(SEARCH_INDEX)
    schema_editor.execute("DROP INDEX IF EXISTS finding_tri_search_trgm")
    schema_editor.execute("ANALYZE findings_findingsearch")  # the search plans choose by its statistics


def search_unfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_SEARCH_INDEX)


def arn_like_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'findings_finding' AND indexname LIKE %s",
            ["findings_finding_arn_%_like"],
        )
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def arn_like_index_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS findings_finding_arn_af8bd8dd_like ON findings_finding"
            " (arn varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("findings", "0007_finding_tri_type_sev_idx")]

    operations = [
        migrations.CreateModel(
            name="FindingSearch",
            fields=[
                (
                    "finding",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search",
                        serialize=False,
                        to="findings.finding",
                    ),
                ),
                ("severity", models.FloatField()),
                ("text", models.TextField()),
            ],
            options={"indexes": [models.Index(fields=["-severity", "-finding"], name="findingsearch_sev_idx")]},
        ),
        migrations.RunPython(search_fill, search_unfill),
        migrations.RemoveIndex(model_name="finding", name="finding_severity_idx"),
        migrations.RemoveIndex(model_name="finding", name="finding_last_seen_idx"),
        migrations.RemoveIndex(model_name="finding", name="finding_type_prefix_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="finding", name="arn", field=models.CharField(max_length=512)),
                migrations.AddConstraint(
                    model_name="finding",
                    constraint=models.UniqueConstraint(fields=("arn",), name="findings_finding_arn_key"),
                ),
            ],
            database_operations=[migrations.RunPython(arn_like_index_drop, arn_like_index_restore)],
        ),
    ]
