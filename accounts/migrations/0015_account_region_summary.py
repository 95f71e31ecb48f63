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
# accounts.services.REGIONS_SET as of this migration: one read of each account's memberships, by its index.
_SET = {
    "postgresql": "(member_regions, monitored_regions) = (SELECT "
                  "COALESCE(jsonb_agg(m.region ORDER BY m.region) FILTER (WHERE m.relationship_status <> ''), '[]'), "
                  "COALESCE(jsonb_agg(m.region ORDER BY m.region) FILTER (WHERE m.relationship_status = 'Enabled'), "
                  "'[]') FROM accounts_membership m WHERE m.account_id = accounts_memberaccount.id)",
    "sqlite": "(member_regions, monitored_regions) = (SELECT "
              "json_group_array(region) FILTER (WHERE relationship_status <> ''), "
              "json_group_array(region) FILTER (WHERE relationship_status = 'Enabled') "
              "FROM (SELECT m.region, m.relationship_status FROM accounts_membership m "
              "WHERE m.account_id = accounts_memberaccount.id ORDER BY m.region))",
}  # fmt: skip


def backfill(apps, schema_editor):
    MemberAccount = apps.get_model("accounts", "MemberAccount")
    sets = _SET["postgresql" if schema_editor.connection.vendor == "postgresql" else "sqlite"]
    last = MemberAccount.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for start in range(0, last + 1, BATCH):
        schema_editor.execute(
            f"UPDATE accounts_memberaccount SET {sets} WHERE id >= %s AND id < %s",  # noqa: S608 - constants
            [start, start + BATCH],
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0014_evidence"),
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
