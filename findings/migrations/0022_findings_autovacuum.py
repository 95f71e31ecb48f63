"""Autovacuum for the findings tables at their size: after 2 % of the rows changed, not PostgreSQL's 20 %.

Every sync update of a finding (count, last seen) and every triage move writes a new version of the row
with new entries in the indexes that carry those columns; the old version is dead until a vacuum. With
the server's defaults a vacuum of a 5,000,000-finding table waits for a million dead rows: meanwhile the
open-findings indexes grow, and the dashboard's and the list's index-only counts visit the heap for every
page not marked all-visible (docs/benchmarks.md, "Storage plan at 5,000,000 findings"). Per-table storage
parameters, PostgreSQL only (the SQLite demo has no vacuum to tune). ALTER TABLE … SET (autovacuum_…)
takes a SHARE UPDATE EXCLUSIVE lock: reads and writes go on; the running release is not affected.
FindingSearch is left at the server's settings (its GIN index's pending list is its own story).
"""

from django.db import migrations

TABLES = ("findings_finding", "findings_findingentity", "findings_findingevent", "findings_findingoccurrence")
PARAMETERS = {
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_threshold": "10000",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_analyze_threshold": "10000",
    # Insert-only growth (new findings, occurrences, events) also gets vacuumed, which marks the pages
    # all-visible so index-only scans stay index-only.
    "autovacuum_vacuum_insert_scale_factor": "0.05",
}


def parameters_set(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    values = ", ".join(f"{name} = {value}" for name, value in PARAMETERS.items())
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET ({values})")


def parameters_reset(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET ({', '.join(PARAMETERS)})")


class Migration(migrations.Migration):
    dependencies = [("findings", "0020_findingentity")]

    operations = [migrations.RunPython(parameters_set, parameters_reset)]
