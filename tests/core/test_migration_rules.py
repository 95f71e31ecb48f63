"""Every migration leaves a schema the previous release's code still works against (docs/operations.md, "Upgrades").

During a rolling upgrade the one-shot migrate task takes the database to release N+1's schema while
release N's web and workers are still serving, and they keep serving until their replacements are
healthy. So a migration may only *expand* the schema; whatever N still reads or writes is *contracted*
a release later, once no N process is left. This test reads every migration's database operations
(not the state-only ones of SeparateDatabaseAndState, which touch no table) and refuses:

- RemoveField, DeleteModel, RenameField, RenameModel, AlterModelTable: N still selects that column or
  table by its old name;
- AddField of a NOT NULL column without `db_default` to a table that already exists: N's INSERTs name
  every column they know, not this one, and Django drops a plain `default` from the table once the
  column is filled, so they fail with a NOT NULL violation (`null=True` or `db_default=` instead);
- AlterField that makes a column NOT NULL (N may write NULL into it: N's model says it may), changes its
  type (N sends values of the old type; a longer varchar passes), or drops its `db_default` while it
  is NOT NULL;
- AddConstraint on an existing table: N does not know the rule and its writes may break it;
- RunSQL anywhere, and RunPython as a SeparateDatabaseAndState's database operation (a schema change by
  hand): this test cannot read them, so each needs an entry below saying why N survives it.
A top-level RunPython is a data migration and passes (it must also keep N's rows readable; review it).

The migrations written before this rule are listed in `BEFORE_THE_RULE`, each with what it breaks and
why that was acceptable then. Nothing may be added to that list: a new migration that needs one of the
refused operations is split instead (expand now, contract in the next release), and the contracting
migration goes in `CONTRACTS`, naming the earlier release that already stopped using what it removes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.models.fields import NOT_PROVIDED

OUR_APPS = ("accounts", "findings", "triage", "core", "notifications", "reports")

# Until this rule, an upgrade ran `migrate` and then replaced the web and worker containers; release N's
# processes ran against the new schema only for the minutes in between. Each entry says what N could not
# do in those minutes and why that was acceptable: every write involved is either a periodic, idempotent
# sync that the next run (minutes later, from its checkpoint) redoes, or a person's form that answered
# with an error page and worked when sent again. No stored row was lost or changed by any of them.
BEFORE_THE_RULE: dict[tuple[str, str], str] = {
    ("accounts", "0004_memberprotection_ai_protection"): (
        "NOT NULL ai_protection without db_default: N's protection sync failed to insert MemberProtection "
        "rows; the periodic sync redid them after the upgrade."
    ),
    ("accounts", "0005_memberoperation_detector_features"): (
        "NOT NULL detector_features: N could not start a member operation (add/invite); the admin's form "
        "answered an error and worked once N+1 served it."
    ),
    ("accounts", "0006_memberprotection_additional_configuration"): (
        "NOT NULL additional_configuration: as 0004, N's protection sync inserts failed until the next run."
    ),
    ("accounts", "0007_organization_mode_state"): (
        "NOT NULL in_organization / org_auto_enable_members: N's member sync and add-members could not "
        "insert MemberAccount or RegionState rows; the member sync (every 15 minutes) redid them."
    ),
    ("findings", "0004_raw_json_text"): (
        "raw changes from jsonb to text by hand: N's upsert sent jsonb parameters into a text column and "
        "failed; the findings sync resumed from its checkpoint once N+1 ran it (nothing stored was lost)."
    ),
    ("findings", "0008_finding_search_narrow_indexes"): (
        "its database operation drops Postgres's arn LIKE index only (no column or constraint changes), "
        "but N's upsert wrote no FindingSearch row: findings stored by N in those minutes were missing "
        "from free-text search until their next update."
    ),
    ("findings", "0010_account_region_assignee_sev_indexes"): (
        "its database operation builds and drops indexes CONCURRENTLY; columns unchanged, N unaffected."
    ),
    ("findings", "0012_ingest_key_scope"): (
        "NOT NULL accounts / regions on IngestApiKey: N could not create an ingest key; the admin retried."
    ),
    ("findings", "0014_sync_run_waited_seconds"): (
        "NOT NULL waited_seconds on SyncRun: N's syncs could not record their run and failed; beat queued "
        "them again within GUARDWATCH_FINDINGS_SYNC_MINUTES and they resumed from their checkpoints."
    ),
    ("triage", "0002_suppression_rule_approval"): (
        "NOT NULL decision_note / hidden_at_request / status on SuppressionRule: N could not create a "
        "suppression rule; the analyst's form answered an error and worked when sent again."
    ),
}

# Contract steps: a migration that removes (or tightens) what the previous release no longer uses, with
# the migration of that release which stopped using it (docs/operations.md, "Upgrades"). Empty so far.
CONTRACTS: dict[tuple[str, str], str] = {}
# Operations the rule refuses that are safe for a reason it cannot see, each with that reason.
REVIEWED: dict[tuple[str, str], str] = {
    ("triage", "0003_savedview_is_default"): (
        "the unique constraint is partial (is_default = true) on a column added in the same migration with "
        "db_default false: release N never writes the column, so none of its rows can match the condition."
    ),
    ("findings", "0016_finding_attack_sequence_arn"): (
        "by hand: a NOT NULL column with a constant DEFAULT '' (what AddField with db_default '' writes; release N's "
        "INSERTs, which do not name it, get ''), and a partial index (CONCURRENTLY on PostgreSQL) on it: release N's "
        "reads and writes are unchanged."
    ),
    ("accounts", "0017_account_filter_indexes"): (
        "by hand: indexes only (a membership index on existing columns, trigram expression indexes on existing "
        "account columns), CONCURRENTLY on PostgreSQL; columns and constraints unchanged, release N unaffected."
    ),
}


@dataclass(frozen=True)
class Problem:
    app: str
    migration: str
    operation: str
    why: str

    def __str__(self) -> str:
        return f"{self.app}.{self.migration}: {self.operation}: {self.why}"


def database_operations(operations: list[Operation], *, by_hand: bool = False) -> list[tuple[Operation, bool]]:
    """The operations that run SQL, each with whether it is a SeparateDatabaseAndState's database side
    (a schema change written by hand); never the state side, which touches no table."""
    found = []
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            found += database_operations(operation.database_operations, by_hand=True)
        else:
            found.append((operation, by_hand))
    return found


def created_in(migration: migrations.Migration) -> set[str]:
    """Models whose tables this migration creates (nothing of release N uses them yet)."""
    created = set()
    for operation in migration.operations:
        inner = operation.database_operations if isinstance(operation, migrations.SeparateDatabaseAndState) else [operation]
        created |= {op.name_lower for op in inner if isinstance(op, migrations.CreateModel)}
    return created


def column(field: models.Field) -> tuple:
    """What the column looks like to code that writes it: type, nullability, database default."""
    return (field.db_type(connection), field.null, field.db_default is not NOT_PROVIDED)


def widened(old: models.Field, new: models.Field) -> bool:
    """A longer varchar: every value release N writes still fits (and Postgres only changes the catalog)."""
    return (
        isinstance(old, models.CharField)
        and isinstance(new, models.CharField)
        and old.db_type(connection).startswith("varchar")
        and new.db_type(connection).startswith("varchar")
        and (new.max_length or 0) >= (old.max_length or 0)
    )


def problems_of(loader: MigrationLoader, app: str, name: str) -> list[Problem]:
    migration = loader.disk_migrations[app, name]
    new_tables = created_in(migration)
    found = []

    def problem(operation, why: str) -> None:
        found.append(Problem(app, name, operation.describe(), why))

    for operation, by_hand in database_operations(migration.operations):
        match operation:
            case migrations.RunSQL():
                problem(operation, "raw SQL: say why release N survives it")
            case migrations.RunPython() if by_hand:
                problem(operation, "a schema change by hand: say why release N survives it")
            case (
                migrations.RemoveField()
                | migrations.DeleteModel()
                | migrations.RenameField()
                | migrations.RenameModel()
                | migrations.AlterModelTable()
            ):
                problem(operation, "release N still uses the old column or table: contract a release later")
            case migrations.AddField() if operation.model_name_lower not in new_tables:
                field = operation.field
                if not (field.null or field.many_to_many or field.db_default is not NOT_PROVIDED):
                    problem(operation, "NOT NULL without db_default: release N's INSERTs leave it out")
            case migrations.AlterField():
                before = loader.project_state((app, name), at_end=False).apps
                after = loader.project_state((app, name), at_end=True).apps
                old_field = before.get_model(app, operation.model_name)._meta.get_field(operation.name)
                new_field = after.get_model(app, operation.model_name)._meta.get_field(operation.name)
                old, new = column(old_field), column(new_field)
                if old[0] != new[0] and not widened(old_field, new_field):
                    problem(operation, f"type {old[0]} -> {new[0]}: release N writes the old type")
                if old[1] and not new[1]:
                    problem(operation, "NULL -> NOT NULL: release N may write NULL")
                if old[2] and not new[2] and not new[1]:
                    problem(operation, "drops the db_default of a NOT NULL column: release N's INSERTs leave it out")
            case migrations.AddConstraint() if (
                operation.model_name.lower() not in new_tables
            ):
                problem(operation, "a new rule release N's writes do not know")
    return found


@pytest.fixture(scope="module")
def loader() -> MigrationLoader:
    return MigrationLoader(None, ignore_no_migrations=True)


def our_migrations(loader: MigrationLoader) -> list[tuple[str, str]]:
    return sorted(key for key in loader.disk_migrations if key[0] in OUR_APPS)


def test_every_migration_keeps_the_previous_release_working_against_the_new_schema(loader):
    reviewed = BEFORE_THE_RULE | CONTRACTS | REVIEWED
    found = [p for key in our_migrations(loader) if key not in reviewed for p in problems_of(loader, *key)]
    assert found == [], "\n".join(map(str, found))


def test_the_historical_allowlist_names_only_migrations_that_still_need_it(loader):
    """An entry that no longer matches a refused operation (renamed, squashed, fixed) goes."""
    reviewed = BEFORE_THE_RULE | CONTRACTS | REVIEWED
    stale = [key for key in reviewed if key not in loader.disk_migrations or not problems_of(loader, *key)]
    assert stale == []


class FakeMigration(migrations.Migration):
    """A migration as a new release might write one, on a table an earlier migration made."""

    dependencies = [("findings", "0001_initial")]


REFUSED = [
    migrations.RemoveField("syncrun", "errors"),
    migrations.RenameField("syncrun", "errors", "error_text"),
    migrations.DeleteModel("SyncRun"),
    migrations.RenameModel("SyncRun", "SyncAttempt"),
    migrations.AlterModelTable("syncrun", "findings_syncattempt"),
    migrations.AddField("syncrun", "attempts", models.PositiveIntegerField(default=0)),
    migrations.AddField("syncrun", "note", models.TextField()),
    migrations.AlterField("syncrun", "finished_at", models.DateTimeField(default=None)),
    migrations.AlterField("syncrun", "region", models.CharField(max_length=16)),
    migrations.AddConstraint("syncrun", models.UniqueConstraint(fields=["region"], name="one_run_per_region")),
    migrations.RunSQL("ALTER TABLE findings_syncrun DROP COLUMN errors"),
    migrations.SeparateDatabaseAndState(database_operations=[migrations.RunPython(migrations.RunPython.noop)]),
]
ACCEPTED = [
    migrations.AlterField("syncrun", "region", models.CharField(max_length=64)),
    migrations.AddField("syncrun", "attempts", models.PositiveIntegerField(default=0, db_default=0)),
    migrations.AddField("syncrun", "note", models.TextField(null=True)),
    migrations.AlterField(
        "syncrun", "trigger", models.CharField(max_length=16, default="beat", choices=[("beat", "Beat")])
    ),
    migrations.RunPython(migrations.RunPython.noop),
    migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("syncrun", "errors")]),
]


def fake(operation: Operation) -> list[Problem]:
    """The problems of a next migration of findings holding only `operation` (a fresh loader each time)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    migration = FakeMigration("9999_next_release", "findings")
    migration.operations = [operation]
    loader.disk_migrations["findings", migration.name] = migration
    loader.graph.add_node(("findings", migration.name), migration)
    loader.graph.add_dependency(migration, ("findings", migration.name), ("findings", "0001_initial"))
    return problems_of(loader, "findings", migration.name)


@pytest.mark.parametrize("operation", REFUSED, ids=lambda op: op.describe())
def test_a_new_migration_that_breaks_the_running_release_is_refused(operation):
    assert fake(operation) != []


@pytest.mark.parametrize("operation", ACCEPTED, ids=lambda op: op.describe())
def test_a_new_expanding_migration_passes(operation):
    assert fake(operation) == []
