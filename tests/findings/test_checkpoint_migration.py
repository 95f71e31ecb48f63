"""Migration 0013 turns the old worker-clock `settled_through` into a checkpoint the old code would have
resumed from, so the first windowed sync after an upgrade skips nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("findings", "0012_ingest_key_scope")]
AFTER = [("findings", "0013_sync_checkpoint_in_guardduty_time")]
T = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0012_resumes_no_later_than_the_old_code_would_have():
    try:
        old = migrate(BEFORE).get_model("findings", "SyncState")
        # A worker clock ahead of GuardDuty: settled_through past the newest stored update.
        old.objects.create(region="us-east-1", watermark=T, settled_through=T + timedelta(minutes=20))
        old.objects.create(region="eu-west-1", watermark=T, settled_through=T - timedelta(hours=1))
        old.objects.create(region="us-west-2", watermark=T)  # a first sync that never completed
        old.objects.create(region="ap-south-1")  # never synced

        new = migrate(AFTER).get_model("findings", "SyncState")

        checkpoints = dict(new.objects.values_list("region", "settled_through"))
        assert checkpoints == {
            "us-east-1": T,
            "eu-west-1": T - timedelta(hours=1),
            "us-west-2": T - timedelta(minutes=5),
            "ap-south-1": None,
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
