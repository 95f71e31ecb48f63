"""WriteBack, SavedView, SuppressionRule and BulkAction now belong to the `triage` app.

State only: their tables keep their names (`findings_*`, set as `db_table` in triage.models) and every
row stays where it is; `triage.0001_initial` takes them into its state.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0010_account_region_assignee_sev_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="BulkAction"),
                migrations.DeleteModel(name="SuppressionRule"),
                migrations.DeleteModel(name="SavedView"),
                migrations.DeleteModel(name="WriteBack"),
            ],
            database_operations=[],
        ),
    ]
