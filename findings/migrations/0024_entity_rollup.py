"""`HotEntity` and `EntityRollup`: kept counts of the entities named by the most findings (PostgreSQL).

Expand-only (tests/core/test_migration_rules.py): two new tables and statement triggers on `FindingEntity`.
No entity is hot yet, so the triggers write nothing until the first one is promoted
(`findings.entity_rollup.entity_rollup_promote`, which waits for the writers in flight and then counts the
entity's rows once); release N, still writing during an upgrade, fires them like any writer. SQLite (the demo)
gets the tables alone: its entity pages count their few rows.

A statement's inserted, deleted or updated entity rows (its transition tables), joined with the hot entities,
become one signed row per (entity, account, region) and per (entity, day of last sighting) it moved. One
function per event: PostgreSQL allows transition tables only on single-event triggers.
"""

from django.db import migrations, models

ROLLUP = "findings_entityrollup (kind, value, axis, account_id, region, day, n, first_seen, stale)"
HOT = "JOIN findings_hotentity h ON h.kind = r.kind AND h.value = r.value"
FUNCTIONS = {
    "findings_entity_rollup_insert": f"""
        INSERT INTO {ROLLUP}
        SELECT r.kind, r.value, 0, r.account_id, r.region, NULL::date, count(*), min(r.first_seen), false
          FROM written r {HOT} GROUP BY r.kind, r.value, r.account_id, r.region
        UNION ALL
        SELECT r.kind, r.value, 1, '', '', (r.last_seen AT TIME ZONE 'UTC')::date, count(*), NULL::timestamptz, false
          FROM written r {HOT} GROUP BY r.kind, r.value, 6""",  # noqa: S608 - constants
    # A place that loses the row holding its earliest first sighting may have a later one now: `stale` until
    # counted again. Rows first seen after the kept earliest leave it as it is (a scanner's finding that names
    # another IP in its next version, most rows of a purge).
    "findings_entity_rollup_delete": f"""
        INSERT INTO {ROLLUP}
        SELECT r.kind, r.value, 0, r.account_id, r.region, NULL::date, -count(*), NULL::timestamptz,
               coalesce(min(r.first_seen) <= (SELECT min(k.first_seen) FROM findings_entityrollup k
                   WHERE k.kind = r.kind AND k.value = r.value AND k.axis = 0 AND k.account_id = r.account_id
                   AND k.region = r.region), min(r.first_seen) IS NOT NULL)
          FROM gone r {HOT} GROUP BY r.kind, r.value, r.account_id, r.region
        UNION ALL
        SELECT r.kind, r.value, 1, '', '', (r.last_seen AT TIME ZONE 'UTC')::date, -count(*), NULL::timestamptz, false
          FROM gone r {HOT} GROUP BY r.kind, r.value, 6""",  # noqa: S608 - constants
    # The upsert moves a finding's last sighting (its day) and, rarely, its first; account and region are the
    # finding's and do not change, but a writer that changed them is counted right all the same. Each side is
    # summed on its own (no join of the two transition tables): a place's count moves by what entered minus what
    # left, and its earliest first sighting can only have gone up if the updated rows' earliest did (`stale`).
    "findings_entity_rollup_update": f"""
        INSERT INTO {ROLLUP}
        SELECT kind, value, 0, account_id, region, NULL::date, sum(n), min(f_new),
               sum(n) < 0 OR coalesce(min(f_old) < min(f_new), min(f_old) IS NOT NULL AND min(f_new) IS NULL)
          FROM (SELECT r.kind, r.value, r.account_id, r.region, 1 AS n, r.first_seen AS f_new,
                       NULL::timestamptz AS f_old FROM written r {HOT}
                UNION ALL
                SELECT r.kind, r.value, r.account_id, r.region, -1, NULL, r.first_seen FROM gone r {HOT}) places
          GROUP BY kind, value, account_id, region
          HAVING sum(n) <> 0 OR min(f_old) IS DISTINCT FROM min(f_new)
        UNION ALL
        SELECT kind, value, 1, '', '', day, sum(n), NULL::timestamptz, false
          FROM (SELECT r.kind, r.value, (r.last_seen AT TIME ZONE 'UTC')::date AS day, 1 AS n FROM written r {HOT}
                UNION ALL
                SELECT r.kind, r.value, (r.last_seen AT TIME ZONE 'UTC')::date, -1 FROM gone r {HOT}) days
          GROUP BY kind, value, day HAVING sum(n) <> 0""",  # noqa: S608 - constants
}
TRIGGERS = {
    "findings_entity_rollup_insert": "AFTER INSERT ON findings_findingentity REFERENCING NEW TABLE AS written",
    "findings_entity_rollup_delete": "AFTER DELETE ON findings_findingentity REFERENCING OLD TABLE AS gone",
    "findings_entity_rollup_update": (
        "AFTER UPDATE ON findings_findingentity REFERENCING OLD TABLE AS gone NEW TABLE AS written"
    ),
}


def rollups_keep(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, body in FUNCTIONS.items():
        # No hot entity (the usual case): one probe of an empty table, no join.
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"  # noqa: S608
            f" IF EXISTS (SELECT 1 FROM findings_hotentity) THEN {body}; END IF; RETURN NULL; END $$"
        )
        schema_editor.execute(f"CREATE TRIGGER {name} {TRIGGERS[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")


def rollups_unkeep(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON findings_findingentity")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")


class Migration(migrations.Migration):

    dependencies = [
        ('findings', '0023_findingsearchterm'),
    ]

    operations = [
        migrations.CreateModel(
            name='EntityRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('value', models.CharField(max_length=255)),
                ('axis', models.SmallIntegerField()),
                ('account_id', models.CharField(blank=True, max_length=12)),
                ('region', models.CharField(blank=True, max_length=32)),
                ('day', models.DateField(blank=True, null=True)),
                ('n', models.BigIntegerField()),
                ('first_seen', models.DateTimeField(blank=True, null=True)),
                ('stale', models.BooleanField(default=False)),
            ],
            options={
                'indexes': [models.Index(fields=['kind', 'value'], name='entityrollup_entity_idx')],
            },
        ),
        migrations.CreateModel(
            name='HotEntity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('value', models.CharField(max_length=255)),
                ('promoted_at', models.DateTimeField(auto_now_add=True)),
                ('based_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'value'), name='hotentity_kind_value')],
            },
        ),
        migrations.RunPython(rollups_keep, rollups_unkeep, elidable=False),
    ]
