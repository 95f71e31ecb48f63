"""Drop `finding_updated_idx` (updated_at DESC): no query needs it, and every status move paid for it.

Its only users bound `updated_at` by GuardDuty's 90-day retention (the reconciliation, per region;
the retention purge, for findings without `last_seen`), which matches nearly every finding, so
Postgres reads the region index or the table instead. Nothing lists findings in the model's default
order. Instant on any size of table.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("findings", "0008_finding_search_narrow_indexes")]

    operations = [migrations.RemoveIndex(model_name="finding", name="finding_updated_idx")]
