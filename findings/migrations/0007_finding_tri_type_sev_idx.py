"""Triage: a covering index for type filters (ids and severity counts without touching the table)."""

from django.db import migrations, models

from guardwatch.core.db.operations import PostgresOnlyAddIndex


class Migration(migrations.Migration):
    dependencies = [("findings", "0006_findingevent_ticket_kind")]

    operations = [
        # Opclasses are Postgres syntax; the SQLite demo's few hundred findings need neither.
        PostgresOnlyAddIndex(
            model_name="finding",
            index=models.Index(
                fields=["type", "-severity", "-id", "status"],
                name="finding_tri_type_sev_idx",
                opclasses=["text_pattern_ops", "float8_ops", "int8_ops", "text_ops"],
            ),
        ),
    ]
