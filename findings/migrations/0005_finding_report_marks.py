"""Reports: `Finding.acknowledged_at` / `resolved_at`, backfilled from the triage timeline.

The findings report's response times used to take, per request, the first acknowledging and the first
closing event of every finding of the period from `FindingEvent` (a join and a GROUP BY over the
timeline); the triage service now stamps both on the finding as it moves it (reports.report_marks).
This backfills the stamps with the same definitions, and (Postgres) widens the report's covering index
with them and the resource columns, so each of the report's aggregates is one index-only range scan.
"""

from django.db import migrations, models

CLOSED = "('resolved', 'false_positive', 'accepted_risk', 'suppressed')"
# Same definitions as the report used (reports.py): first status event out of New; first move from an
# open status to a closed one.
MARKS = f"""
    SELECT finding_id,
           MIN(CASE WHEN from_status = 'new' THEN created_at END) AS ack_at,
           MIN(CASE WHEN to_status IN {CLOSED} AND from_status NOT IN {CLOSED} THEN created_at END) AS closed_at
    FROM findings_findingevent WHERE kind = 'status' GROUP BY finding_id
"""  # noqa: S608 - constants only
OLD_INDEX = (
    "CREATE INDEX IF NOT EXISTS finding_report_created_idx ON findings_finding "
    "(created_at) INCLUDE (severity_band, severity, status, account_id, type)"
)
NEW_INDEX = (
    "CREATE INDEX IF NOT EXISTS finding_report_created_idx ON findings_finding (created_at) INCLUDE "
    "(severity_band, severity, status, account_id, type, acknowledged_at, resolved_at, resource_type, resource_id)"
)


def marks_backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"UPDATE findings_finding f SET acknowledged_at = m.ack_at, resolved_at = m.closed_at "  # noqa: S608
            f"FROM ({MARKS}) m WHERE m.finding_id = f.id AND (m.ack_at IS NOT NULL OR m.closed_at IS NOT NULL)"
        )
        schema_editor.execute("DROP INDEX IF EXISTS finding_report_created_idx")
        schema_editor.execute(NEW_INDEX)
        return
    # SQLite (the demo's few hundred findings): correlated subqueries, portable to any version.
    schema_editor.execute(
        f"""UPDATE findings_finding SET
              acknowledged_at = (SELECT m.ack_at FROM ({MARKS}) m WHERE m.finding_id = findings_finding.id),
              resolved_at = (SELECT m.closed_at FROM ({MARKS}) m WHERE m.finding_id = findings_finding.id)
            WHERE id IN (SELECT finding_id FROM findings_findingevent WHERE kind = 'status')"""  # noqa: S608
    )


def marks_index_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS finding_report_created_idx")
        schema_editor.execute(OLD_INDEX)


class Migration(migrations.Migration):
    dependencies = [("findings", "0004_raw_json_text")]

    operations = [
        migrations.AddField(
            model_name="finding", name="acknowledged_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="finding", name="resolved_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.RunPython(marks_backfill, marks_index_restore),
    ]
