"""Migration 0008 gives every finding already stored its search row (text and severity), then searches find it."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("findings", "0007_finding_tri_type_sev_idx")]
AFTER = [("findings", "0009_drop_finding_updated_idx")]


@pytest.mark.django_db(transaction=True)
def test_findings_stored_before_the_search_table_get_their_search_rows():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    Finding = old_apps.get_model("findings", "Finding")
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    stored = Finding.objects.create(
        arn="arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f1", finding_id="f1", detector_id="d",
        account_id="123456789012", region="us-east-1", type="CryptoCurrency:EC2/BitcoinTool.B!DNS", severity=8.0,
        severity_band="high", title="EC2 Instance Queries Bitcoin Domain", description="Bitcoin pool contacted.",
        resource_id="i-0abc", created_at=moment, updated_at=moment, raw="{}", first_synced_at=moment,
        last_synced_at=moment, source="pull",
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())  # later tests need the whole schema

    with connection.cursor() as cursor:
        cursor.execute("SELECT severity, text FROM findings_findingsearch WHERE finding_id = %s", [stored.pk])
        assert cursor.fetchone() == (8.0, "ec2 instance queries bitcoin domain bitcoin pool contacted. i-0abc")
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = 'finding_tri_search_trgm'")
        assert cursor.fetchone() is None  # the finding row's own trigram index is gone


def _text_statistics_target() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute"
            " WHERE attrelid = 'findings_findingsearch'::regclass AND attname = 'text'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_search_text_statistics_are_kept_finer_and_the_reversal_restores_the_default():
    # 0026: 1,000 histogram bounds for the search text, so a fragment's estimate (which picks the page's plan
    # and narrow_search's probe) does not swing between ANALYZEs; see the migration's docstring.
    assert _text_statistics_target() == 1000

    MigrationExecutor(connection).migrate([("findings", "0025_search_terms_from_the_writer")])
    try:
        assert _text_statistics_target() == -1  # the column follows default_statistics_target again
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert _text_statistics_target() == 1000
