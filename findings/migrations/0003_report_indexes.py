"""Reports (findings/reports.py): narrow covering indexes so a period's aggregates are index-only scans.

Postgres only, like the trigram index of 0002: the findings report groups a period's findings by day,
band, account and type, and its findings' timeline events by finding and by day. Without these it reads
the whole (wide, `raw`-carrying) findings table per figure. Not in the models' Meta (INCLUDE columns are
Postgres-specific); the sync's upsert maintains them like any index.
"""

from django.db import migrations

INDEXES = {
    "finding_report_created_idx": "CREATE INDEX IF NOT EXISTS finding_report_created_idx ON findings_finding "
    "(created_at) INCLUDE (severity_band, severity, status, account_id, type)",
    "findingevent_report_finding_idx": "CREATE INDEX IF NOT EXISTS findingevent_report_finding_idx ON "
    "findings_findingevent (finding_id) INCLUDE (kind, from_status, to_status, created_at)",
    "findingevent_report_created_idx": "CREATE INDEX IF NOT EXISTS findingevent_report_created_idx ON "
    "findings_findingevent (created_at) INCLUDE (kind, from_status, to_status)",
}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in INDEXES.values():
        schema_editor.execute(sql)


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("findings", "0002_triage")]

    operations = [migrations.RunPython(indexes_create, indexes_drop)]
