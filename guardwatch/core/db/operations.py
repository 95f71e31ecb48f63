"""Migration operations shared by the apps."""

from django.db import migrations


class PostgresOnlyAddIndex(migrations.AddIndex):
    """AddIndex that only touches PostgreSQL; other databases (the SQLite demo) skip it.

    Some indexes use syntax SQLite cannot store in an index (``DESC NULLS LAST``). They exist
    for the million-row triage list, which only production Postgres holds; the demo's few
    hundred findings do not need them. The migration state still records the index, so
    `makemigrations --check` stays clean and Postgres gets exactly what `Meta.indexes` says.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
