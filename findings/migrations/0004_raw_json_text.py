"""`Finding.raw` as text (lz4-compressed on Postgres) instead of jsonb: see findings/fields.py.

The findings upsert spent more time having Postgres parse each finding's JSON into jsonb and pglz-
compress it than on anything else; nothing queries inside `raw`. SQLite already stores JSONField as
text (its JSON_VALID check stays, our values are valid JSON), and rebuilding its table would trip on
the triage indexes SQLite cannot express, so only Postgres changes.
"""

from django.db import migrations

import findings.fields

TO_TEXT = "ALTER TABLE findings_finding ALTER COLUMN raw TYPE text USING raw::text"
TO_JSONB = "ALTER TABLE findings_finding ALTER COLUMN raw TYPE jsonb USING raw::jsonb"
LZ4 = """
DO $$
BEGIN
    ALTER TABLE findings_finding ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;  -- a server built without lz4 keeps its default (pglz)
END $$;
"""


def raw_to_text(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TO_TEXT)
    if schema_editor.connection.pg_version >= 140000:
        schema_editor.execute(LZ4)


def raw_to_jsonb(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TO_JSONB)


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0003_report_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="finding", name="raw", field=findings.fields.JSONTextField()
                ),
            ],
            database_operations=[migrations.RunPython(raw_to_text, raw_to_jsonb)],
        ),
    ]
