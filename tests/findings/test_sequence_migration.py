"""Migration 0016 copies the attack sequence a stored finding names (in either key spelling) from its raw
text into `attack_sequence_arn`, so the signals of a sequence stored before the upgrade are found too."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("findings", "0015_sync_run_resumed_and_ingestion_ledger")]
AFTER = [("findings", "0016_finding_attack_sequence_arn")]
SEQUENCE = "arn:aws:guardduty:us-east-1:111111111111:detector/d1/finding/seq1"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _old_finding(model, n: int, raw: dict):
    now = timezone.now()
    return model.objects.create(
        arn=f"arn:aws:guardduty:us-east-1:111111111111:detector/d1/finding/f{n}", finding_id=f"f{n}",
        detector_id="d1", account_id="111111111111", region="us-east-1", type="Recon:IAMUser/MaliciousIPCaller",
        severity=5.0, severity_band="medium", created_at=now, updated_at=now, raw=raw, first_synced_at=now,
        last_synced_at=now, source="pull",
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_findings_stored_before_the_upgrade_keep_their_attack_sequence():
    try:
        old = migrate(BEFORE).get_model("findings", "Finding")
        pascal = _old_finding(old, 1, {"AccountId": "111111111111", "AssociatedAttackSequenceArn": SEQUENCE})
        camel = _old_finding(old, 2, {"accountId": "111111111111", "associatedAttackSequenceArn": SEQUENCE})
        # Names the key only inside a string: not a signal.
        lone = _old_finding(old, 3, {"AccountId": "111111111111", "Title": "AssociatedAttackSequenceArn"})

        new = migrate(AFTER).get_model("findings", "Finding")

        stored = dict(new.objects.values_list("id", "attack_sequence_arn"))
        assert stored == {pascal.id: SEQUENCE, camel.id: SEQUENCE, lone.id: ""}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'finding_sequence_idx'::regclass"
            )
            assert cursor.fetchone() == (True,)
        assert new.objects.get(id=camel.id).raw["associatedAttackSequenceArn"] == SEQUENCE  # raw untouched
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
