"""A database made by the previous main migrates forward to this layout with every row kept.

The story: a GuardWatch install runs the previous main (apps core, accounts, findings, notifications;
the triage models still in findings). It upgrades, and `migrate` takes it to today's layout. No row
may be lost or changed on the way: moving a model between apps (SeparateDatabaseAndState) must keep
its table, and moving a package must keep its app label.

How the test proves it:
1. migrate the test database back to the previous main's leaves (`PREVIOUS_MAIN`; the contrib apps
   at their leaves; apps the previous main did not have, such as triage, unapplied);
2. with the *historical* models of that state, put a row in every table of our apps. The rows are
   made generically (field by field, by type; foreign keys point at the row made for their target),
   so a table nobody thought of is covered too, and a field type the filler does not know fails
   the test instead of leaving a table out;
3. record, per table of that state, the primary keys and a checksum of each row's columns (raw SQL);
4. migrate forward to the latest leaves and compare: every table still there with the same primary
   keys and row count (the contrib ones too: users, groups, permissions, content types), and in our
   apps' tables the same content. The contrib tables' content may change on purpose: triage.0001
   relabels the moved models' content types from `findings.x` to `triage.x` (same rows, same ids).
The database ends at the latest migrations whatever happens: later tests need the whole schema.

When a new layout lands, set `PREVIOUS_MAIN` to the leaves of the main it replaces (the last
migration of each of our apps there); apps that main did not have need no entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps as current_apps
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from findings.fields import JSONTextField

# The main before the apps-per-domain layout (5b22f6b; triage's models still in findings): its leaves.
PREVIOUS_MAIN = {
    "accounts": "0003_regionstate_protection_checked_at",
    "findings": "0010_account_region_assignee_sev_indexes",
    "core": "0002_alert",
    "notifications": "0001_initial",
}
OUR_APPS = set(PREVIOUS_MAIN)  # their tables get a row each and a content check
ROOT = Path(__file__).resolve().parents[2]
MOMENT = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)

Node = tuple[str, str | None]


def previous_main_targets(executor: MigrationExecutor) -> list[Node]:
    """`PREVIOUS_MAIN`; our apps it did not have unapplied (None); the contrib apps at their leaves."""
    targets: dict[str, str | None] = {}
    for app, name in executor.loader.graph.leaf_nodes():
        if app in PREVIOUS_MAIN:
            targets[app] = PREVIOUS_MAIN[app]
        elif (ROOT / current_apps.get_app_config(app).name.split(".")[0]).is_dir():
            targets[app] = None  # a package of this repository the previous main did not have
        else:
            targets[app] = name
    return sorted(targets.items())


def migrate(targets: Iterable[Node]) -> None:
    MigrationExecutor(connection).migrate(list(targets))


def latest_leaves() -> list[Node]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


class RowMaker:
    """One row per table, made with the historical models of a migration state.

    A model's row is made after the rows its foreign keys point at (its dependencies first), with a
    value for every concrete field by the field's type; choices take their first choice. A table that
    already holds a row (filled by a trigger as another row was made, or by the install, e.g. the
    content types) keeps it and that row is used instead. There is one row per table, so unique
    fields and constraints are satisfied by construction.
    """

    def __init__(self) -> None:
        self.rows: dict[str, models.Model] = {}
        self.making: set[str] = set()

    def row(self, model: type[models.Model]) -> models.Model:
        label = model._meta.label_lower
        if label not in self.rows:
            self.making.add(label)
            values = {
                field.name: self.value(model, field)
                for field in model._meta.concrete_fields
                if not isinstance(field, models.AutoField)
                and not getattr(field, "generated", False)
                and not (field.is_relation and field.remote_field.parent_link)
            }
            existing = model._base_manager.order_by("pk").first()
            self.rows[label] = existing or model._base_manager.create(**values)
            self.making.discard(label)
        return self.rows[label]

    def value(self, model: type[models.Model], field: models.Field):
        if field.is_relation:  # ForeignKey, OneToOneField (many-to-many tables are models of their own)
            target = field.related_model
            if target._meta.label_lower in self.making:  # a cycle (e.g. a self-reference): break it
                assert field.null, f"{model._meta.label}.{field.name}: a required foreign key in a cycle"
                return None
            return self.row(target)
        if field.choices:
            return field.flatchoices[0][0]
        text = f"{model._meta.model_name}.{field.name} \u00e9"  # non-ASCII, so encodings count
        match field:
            case JSONTextField() | models.JSONField():
                return {"table": model._meta.db_table, "field": field.name, "list": [1, 2.5, None, True]}
            case models.GenericIPAddressField():
                return "192.0.2.10"
            case models.CharField() | models.TextField() | models.FileField():
                return text[: field.max_length] if field.max_length else text
            case models.BooleanField():
                return True
            case models.DateTimeField():
                return MOMENT
            case models.DateField():
                return MOMENT.date()
            case models.TimeField():
                return MOMENT.time()
            case models.DurationField():
                return timedelta(minutes=90)
            case models.DecimalField():
                return Decimal(1).scaleb(-field.decimal_places)
            case models.FloatField():
                return 2.5
            case models.IntegerField():  # small, big and positive ones too (1 satisfies their checks)
                return 1
            case models.UUIDField():
                return uuid.UUID(int=1)
            case models.BinaryField():
                return b"\x00\x01"
        raise TypeError(
            f"{model._meta.label}.{field.name}: RowMaker has no value for a {type(field).__name__}"
        )


def concrete_models(state_apps) -> list[type[models.Model]]:
    """Every model of the state with a table of its own (many-to-many tables too)."""
    return [
        model
        for model in state_apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def table_columns(tables: Iterable[str]) -> dict[str, list[str]]:
    """Per table, its columns as they are now (a later migration may add columns; the rows' content is
    compared on these)."""
    with connection.cursor() as cursor:
        return {
            table: [column.name for column in connection.introspection.get_table_description(cursor, table)]
            for table in tables
        }


def snapshot(tables: Iterable[str], columns_of: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Per table: each row's primary key (as text) -> md5 of the given columns."""
    quote = connection.ops.quote_name
    found = {}
    with connection.cursor() as cursor:
        for table in tables:
            key = connection.introspection.get_primary_key_columns(cursor, table)
            assert key, f"{table} has no primary key"
            columns = columns_of[table]
            cursor.execute(
                f"SELECT ({', '.join(map(quote, key))})::text,"  # noqa: S608 - identifiers from the catalog
                f" md5(ROW({', '.join(map(quote, columns))})::text) FROM {quote(table)}"
            )
            rows = cursor.fetchall()
            found[table] = dict(rows)
            assert len(found[table]) == len(rows), f"{table}: primary keys repeat"
    return found


def row_counts(tables: Iterable[str]) -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.mark.django_db(transaction=True)
def test_a_database_made_by_the_previous_main_migrates_forward_with_every_row_kept():
    try:
        executor = MigrationExecutor(connection)
        previous = previous_main_targets(executor)
        migrate(previous)
        applied = MigrationRecorder(connection).applied_migrations()
        for app, name in previous:  # really at the previous main (the targets do not contradict)
            assert max((m for a, m in applied if a == app), default=None) == name, app

        state_apps = executor.loader.project_state([node for node in previous if node[1]]).apps
        tables = {model._meta.db_table: model._meta.app_label for model in concrete_models(state_apps)}
        ours = {table for table, app in tables.items() if app in OUR_APPS}
        maker = RowMaker()
        for model in concrete_models(state_apps):
            if model._meta.app_label in OUR_APPS:
                maker.row(model)
        counts = row_counts(tables)
        assert {table for table in ours if counts[table] == 0} == set(), "tables of ours left empty"
        columns = table_columns(tables)  # as the previous main made them
        before = snapshot(tables, columns)

        migrate(latest_leaves())

        existing = set(connection.introspection.table_names())
        assert sorted(set(tables) - existing) == [], "tables gone"
        after = snapshot(tables, columns)
        assert row_counts(tables) == counts
        for table in sorted(tables):
            lost = sorted(before[table].keys() - after[table].keys())
            added = sorted(after[table].keys() - before[table].keys())
            assert (lost, added) == ([], []), f"{table}: rows lost {lost}, rows added {added}"
        for table in sorted(ours):
            changed = sorted(pk for pk, digest in before[table].items() if after[table][pk] != digest)
            assert changed == [], f"{table}: rows changed {changed}"
    finally:
        migrate(latest_leaves())  # later tests need the whole schema


@pytest.mark.django_db(transaction=True)
def test_the_moved_models_content_types_and_audit_labels_follow_them_to_triage():
    """Permissions and admin log entries keep pointing at the moved models (content types relabelled, same
    ids), and an audit filter on `triage.savedview` finds entries written before the move."""
    try:
        executor = MigrationExecutor(connection)
        previous = previous_main_targets(executor)
        migrate(previous)
        state_apps = executor.loader.project_state([node for node in previous if node[1]]).apps
        ContentType = state_apps.get_model("contenttypes", "ContentType")
        ids = {ct.model: ct.pk for ct in ContentType.objects.filter(app_label="findings",
                                                                    model__in=["savedview", "bulkaction"])}  # fmt: skip
        assert set(ids) == {"savedview", "bulkaction"}  # as the previous main had them
        state_apps.get_model("core", "AuditEntry").objects.create(
            actor_name="analyst",
            verb="view.save",
            target_type="findings.savedview",
            target_id="1",
            target_label="x",
        )
        state_apps.get_model("core", "Alert").objects.create(
            kind="k",
            severity="low",
            title="t",
            target_type="findings.bulkaction",
            target_id="1",
            target_label="x",
            dedupe_key="k:1",
        )

        migrate(latest_leaves())

        after = executor.loader.project_state(latest_leaves()).apps.get_model("contenttypes", "ContentType")
        moved = {
            ct.model: ct.pk
            for ct in after.objects.filter(app_label="triage", model__in=["savedview", "bulkaction"])
        }
        assert moved == ids
        with connection.cursor() as cursor:
            cursor.execute("SELECT target_type FROM core_auditentry WHERE verb = 'view.save'")
            assert cursor.fetchall() == [("triage.savedview",)]
            cursor.execute("SELECT target_type FROM core_alert WHERE title = 't'")
            assert cursor.fetchall() == [("triage.bulkaction",)]
    finally:
        migrate(latest_leaves())
