"""Migration 0010 swaps the account, region and assignee indexes without holding writes (Postgres: CONCURRENTLY)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("findings", "0009_drop_finding_updated_idx")]
AFTER = [("findings", "0010_account_region_assignee_sev_indexes")]
NEW = {"finding_account_sev_idx", "finding_region_sev_idx", "finding_assignee_sev_idx"}
OLD = {"finding_account_idx", "finding_region_idx", "findings_finding_assignee_id_795d746d"}


def indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'findings_finding'")
        return dict(cursor.fetchall())


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_0010_replaces_the_indexes_both_ways_and_a_half_built_index_does_not_stop_it():
    try:
        migrate(BEFORE)
        assert indexes().keys() >= OLD and not NEW & indexes().keys()
        with connection.cursor() as cursor:  # what a failed CREATE INDEX CONCURRENTLY leaves behind
            cursor.execute("CREATE INDEX finding_account_sev_idx ON findings_finding (account_id)")
        migrate(AFTER)
        found = indexes()
        assert found.keys() >= NEW and not OLD & found.keys()
        assert "(account_id, severity DESC, id DESC) INCLUDE (status)" in found["finding_account_sev_idx"]
        migrate(BEFORE)
        assert indexes().keys() >= OLD and not NEW & indexes().keys()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # later tests need the whole schema
