"""A finding's write-backs, newest first, from one index: (finding, id DESC) replaces the foreign key's index.

The detail page reads a finding's 20 newest write-backs. With only the foreign key's index Postgres
could choose to walk the whole table backwards by id, filtering on the finding (20 ms at 80,000
write-backs, after bulk resolves, on a table not yet analysed). The new index is built first, then the
old one dropped, so lookups by finding always have one. The write-back table is small (rows are kept
per finding action), so the build is short.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("triage", "0008_finding_exports")]

    operations = [
        migrations.AddIndex(
            model_name="writeback",
            index=models.Index(fields=["finding", "-id"], name="writeback_finding_idx"),
        ),
        migrations.AlterField(
            model_name="writeback",
            name="finding",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="writebacks", to="findings.finding"),
        ),
    ]
