"""The planner's statistics of the search text sample 300,000 rows instead of 30,000 (Postgres only).

Why (docs/benchmarks.md, "(j)"): how many findings a free-text search matches decides its plan. A page sorted
by severity walks `FindingSearch` in severity order when matches are common and asks the trigram index when
they are rare, and `triage.filters.narrow_search` probes the index only below an estimate. For a pattern
inside words ('%i-0%') Postgres estimates from the column's histogram: the share of its bounds the pattern
matches. With the default 100 bounds, a fragment in 1.3 % of 5,000,000 texts (64,999 findings) matched one
bound after one ANALYZE and none after the next (autovacuum's, minutes later): the estimate fell from tens
of thousands to 499, the page took the trigram index, whose candidates for such a short fragment were
1.1 million rows (a lossy bitmap rechecking 3.8 million), and it went from 23 ms to 3.1 s. With 1,000
bounds the same fragment is estimated at 45,698–59,564 over repeated ANALYZEs, rare ones stay rare
(494–4,964), and the walk stays: 2.6 ms.

Cost: ANALYZE of the table reads 300,000 rows instead of 30,000 (2 s at 5,000,000 findings on the 2-core
benchmark machine, by autovacuum as the table grows); the statistics kept grow by ~300 kB. Applied at once
by the ANALYZE below (the same 2 s; no lock that blocks reads or writes).

Expand-only (tests/core/test_migration_rules.py): a data migration that changes no column, table or index
release N uses; reversed, the default target comes back.
"""

from django.db import migrations

TARGET = 1000  # histogram bounds and most common values kept; ANALYZE samples 300 x this many rows


def statistics_raise(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE findings_findingsearch ALTER COLUMN text SET STATISTICS {TARGET}")
        schema_editor.execute("ANALYZE findings_findingsearch (text)")


def statistics_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE findings_findingsearch ALTER COLUMN text SET STATISTICS -1")
        schema_editor.execute("ANALYZE findings_findingsearch (text)")


class Migration(migrations.Migration):
    dependencies = [("findings", "0025_search_terms_from_the_writer")]

    operations = [migrations.RunPython(statistics_raise, statistics_restore, elidable=False)]
