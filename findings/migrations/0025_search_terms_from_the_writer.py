"""The findings upsert records the words of the search rows it writes itself; the trigger then stands aside.

`findings_search_terms_record` (0023) ran PostgreSQL's regex over every written search text: ~50 µs of the
~500 µs of CPU one finding's ingest cost at 5,000,000 findings (docs/benchmarks.md, "Ingest into the 5M table,
again"). The upsert now brings each finding's words from Python (`findings.upsert.search_terms`, the same
`[a-z]{3,}` runs of the same lowercased text) and inserts the new pairs in the same statement, marking that
statement with `set_config('guardwatch.search_terms_recorded', statement_timestamp()::text, true)`. The
trigger returns at once for the statement that carries the mark and does its work for every other one: a
release N worker still writing during an upgrade, the benchmark seed, any later statement of the same
transaction (its own `statement_timestamp()` differs).

Expand-only (tests/core/test_migration_rules.py): a function body replaced, same name and triggers; release N
never sets the mark, so for it nothing changes. Reversed, 0023's body comes back.
"""

from importlib import import_module

from django.db import migrations

# 0023's function, as it made it: the body kept below the new guard, and what a reversal restores.
BEFORE = import_module("findings.migrations.0023_findingsearchterm").FUNCTION
# The setting the upsert marks its statement with; `findings.upsert.SEARCH_TERMS_MARK` names the same one.
MARK = "guardwatch.search_terms_recorded"
GUARD = f"""BEGIN
    -- The findings upsert recorded this statement's words itself (findings.upsert, migration 0025).
    IF current_setting('{MARK}', true) = statement_timestamp()::text THEN
        RETURN NULL;
    END IF;
"""
assert BEFORE.count("BEGIN\n") == 1
FUNCTION = BEFORE.replace("BEGIN\n", GUARD)


def function_replace(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def function_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BEFORE)


class Migration(migrations.Migration):
    dependencies = [("findings", "0024_entity_rollup")]

    operations = [migrations.RunPython(function_replace, function_restore, elidable=False)]
