"""`FindingSearchTerm`: which words the search texts hold at which severities, kept by a trigger (Postgres).

Expand-only (tests/core/test_migration_rules.py): a new table and triggers; release N neither reads the
table nor knows the triggers, and keeps writing `FindingSearch` as before: the triggers record the
words of what it writes too. On PostgreSQL the triggers are created first (committed at once: the
migration is not atomic), then the words of the search rows already stored are recorded in one
statement, except the pairs stored already (so running it again adds nothing). The triggers take no
lock a writer could wait on: there is no unique constraint, and a pair two statements add at the same
moment is kept twice (harmless: searches read distinct severities). SQLite (the demo) gets the table alone: the list's walk there does
not use it. Measured on the 2-core benchmark machine at 5,000,000 findings: see docs/benchmarks.md
("Free-text search at 5,000,000 findings").
"""

from django.db import migrations, models

TERMS = "findings_findingsearchterm"
# A statement's new or changed search rows (its transition table) → their distinct (word, severity) pairs.
FUNCTION = """
CREATE OR REPLACE FUNCTION findings_search_terms_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO findings_findingsearchterm (term, severity)
    SELECT p.term, p.severity FROM (
        SELECT DISTINCT CASE WHEN length(m[1]) > 64 THEN '*' ELSE m[1] END AS term, s.severity
        FROM written s, regexp_matches(s.text, '[a-z]{3,}', 'g') AS m
    ) p
    WHERE NOT EXISTS (SELECT 1 FROM findings_findingsearchterm t WHERE t.term = p.term AND t.severity = p.severity);
    RETURN NULL;
END $$
"""
# One trigger per event: Postgres allows a transition table only on a single-event trigger.
TRIGGERS = [
    "CREATE TRIGGER findingsearch_terms_insert AFTER INSERT ON findings_findingsearch"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION findings_search_terms_record()",
    "CREATE TRIGGER findingsearch_terms_update AFTER UPDATE ON findings_findingsearch"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION findings_search_terms_record()",
]
BACKFILL = (
    f"INSERT INTO {TERMS} (term, severity) SELECT p.term, p.severity FROM ("  # noqa: S608 - constant identifiers
    " SELECT DISTINCT CASE WHEN length(m[1]) > 64 THEN '*' ELSE m[1] END AS term, s.severity"
    " FROM findings_findingsearch s, regexp_matches(s.text, '[a-z]{3,}', 'g') AS m) p"
    f" WHERE NOT EXISTS (SELECT 1 FROM {TERMS} t WHERE t.term = p.term AND t.severity = p.severity)"
)
# Which words contain a search's run of letters: LIKE '%run%' over the vocabulary, by trigrams.
TERM_INDEX = f"CREATE INDEX IF NOT EXISTS findingsearchterm_trgm ON {TERMS} USING gin (term gin_trgm_ops)"


def terms_record(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(FUNCTION)
    for trigger in TRIGGERS:
        schema_editor.execute(trigger)
    schema_editor.execute(BACKFILL)
    schema_editor.execute(TERM_INDEX)
    schema_editor.execute(f"ANALYZE {TERMS}")


def terms_unrecord(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS findingsearch_terms_insert ON findings_findingsearch")
    schema_editor.execute("DROP TRIGGER IF EXISTS findingsearch_terms_update ON findings_findingsearch")
    schema_editor.execute("DROP FUNCTION IF EXISTS findings_search_terms_record()")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("findings", "0022_findings_autovacuum")]

    operations = [
        migrations.CreateModel(
            name="FindingSearchTerm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("term", models.CharField(max_length=64)),
                ("severity", models.FloatField()),
            ],
            options={
                "indexes": [models.Index(fields=["term", "severity"], name="findingsearchterm_pair_idx")],
            },
        ),
        migrations.RunPython(terms_record, terms_unrecord, elidable=False),
    ]
