"""`MemberAccount.member_regions` / `monitored_regions`: each account's regions with a membership status, and
where it is monitored (sorted lists), so the heatmap's "not a member" and "gaps only" filters read one row per
account instead of grouping every membership (issue 19: 50,000 accounts × 17 regions).

Expand-only (tests/core/test_migration_rules.py): NOT NULL columns with `db_default` [] (release N's INSERTs,
which do not name them, get []). The backfill runs outside a transaction (atomic = False) so syncs and
operations keep writing: one range of account ids at a time, each its own short UPDATE. What release N writes
during the upgrade without keeping the summary is put right by the next member sync of that region
(`account_regions_stale`). SQLite (the demo) fills them the same way.
"""

from django.db import migrations, models

BATCH = 5_000  # accounts per UPDATE: 85,000 memberships read at 17 regions, well under a second
_REGIONS_OF = {
    "postgresql": "COALESCE((SELECT jsonb_agg(m.region ORDER BY m.region) FROM accounts_membership m "
                  "WHERE m.account_id = accounts_memberaccount.id AND {where}), '[]'::jsonb)",
    "sqlite": "(SELECT json_group_array(region) FROM (SELECT m.region FROM accounts_membership m "
              "WHERE m.account_id = accounts_memberaccount.id AND {where} ORDER BY m.region))",
}  # fmt: skip


def backfill(apps, schema_editor):
    MemberAccount = apps.get_model("accounts", "MemberAccount")
    sql = _REGIONS_OF["postgresql" if schema_editor.connection.vendor == "postgresql" else "sqlite"]
    member = sql.format(where="m.relationship_status <> ''")
    monitored = sql.format(where="m.relationship_status = 'Enabled'")
    last = MemberAccount.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for start in range(0, last + 1, BATCH):
        schema_editor.execute(
            f"UPDATE accounts_memberaccount SET member_regions = {member}, "  # noqa: S608 - constants
            f"monitored_regions = {monitored} WHERE id >= %s AND id < %s",
            [start, start + BATCH],
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0013_deviation_page_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="memberaccount",
            name="member_regions",
            field=models.JSONField(blank=True, db_default=[], default=list, editable=False),
        ),
        migrations.AddField(
            model_name="memberaccount",
            name="monitored_regions",
            field=models.JSONField(blank=True, db_default=[], default=list, editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
