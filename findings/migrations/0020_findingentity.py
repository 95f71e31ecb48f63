"""`FindingEntity`: the entities each finding is about (IPs, access keys, instances, buckets, domains...).

Expand-only (tests/core/test_migration_rules.py): a new table, which release N neither reads nor writes.
It is created with its index while empty (instant), then filled from the findings already stored by a
data migration that runs outside a transaction (atomic = False) so syncs and pushes keep writing: one
id range at a time, each its own short transaction, with the same pure extractor the upsert uses
(`findings.entities.finding_entities`). A finding whose version the upsert replaced while its range
was being read is left to the upsert (the insert checks the version read is still the stored one),
and rows already written are kept (ON CONFLICT DO NOTHING), so running it again is harmless.

Findings that release N stores after the backfill passed their id (N keeps serving until its
replacements are healthy) get their entities with their next update, or at once with
`manage.py findings_entities_backfill`.
"""

import django.db.models.deletion
from django.db import migrations, models

from findings.entity_backfill import entities_backfill


def backfill(apps, schema_editor):
    entities_backfill(connection=schema_editor.connection)


class PortableAddIndex(migrations.AddIndex):
    """The index as declared on PostgreSQL; SQLite (the demo) cannot say NULLS LAST in an index, so there it
    gets the same columns without it (the state, and so the model, are the same either way)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        schema_editor.add_index(model, models.Index(
            models.F("kind"), models.F("value"), models.OrderBy(models.F("last_seen"), descending=True),
            models.OrderBy(models.F("finding"), descending=True), name=self.index.name))
        return None


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("findings", "0019_findingevent_evidence_kind")]

    operations = [
        migrations.CreateModel(
            name="FindingEntity",
            fields=[
                ("pk", models.CompositePrimaryKey("finding_id", "kind", "value", blank=True, editable=False,
                                                  primary_key=True, serialize=False)),
                ("finding", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                              related_name="entities", to="findings.finding")),
                ("kind", models.CharField(max_length=16)),
                ("value", models.CharField(max_length=255)),
                ("account_id", models.CharField(max_length=12)),
                ("region", models.CharField(max_length=32)),
                ("first_seen", models.DateTimeField(blank=True, null=True)),
                ("last_seen", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        PortableAddIndex(
            model_name="findingentity",
            index=models.Index(
                models.F("kind"), models.F("value"), models.OrderBy(models.F("last_seen"), descending=True,
                                                                    nulls_last=True),
                models.OrderBy(models.F("finding"), descending=True),
                include=("account_id", "region", "first_seen"),
                name="findingentity_lookup_idx",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
