"""Migration 0020 gives the findings stored before the upgrade their entities (either key spelling), so an entity
page shows the whole stored history from the start."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("findings", "0019_findingevent_evidence_kind")]
AFTER = [("findings", "0020_findingentity")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _old_finding(model, n: int, raw: dict):
    now = timezone.now()
    return model.objects.create(
        arn=f"arn:aws:guardduty:us-east-1:111111111111:detector/d1/finding/f{n}", finding_id=f"f{n}",
        detector_id="d1", account_id="111111111111", region="us-east-1", type="Recon:IAMUser/MaliciousIPCaller",
        severity=5.0, severity_band="medium", created_at=now, updated_at=now, first_seen=now, last_seen=now,
        raw=raw, first_synced_at=now, last_synced_at=now, source="pull",
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_findings_stored_before_the_upgrade_get_their_entities():
    try:
        old = migrate(BEFORE).get_model("findings", "Finding")
        pascal = _old_finding(old, 1, {"AccountId": "111111111111", "Resource": {
            "AccessKeyDetails": {"AccessKeyId": "AKIAEXAMPLEKEY000001"}}})
        camel = _old_finding(old, 2, {"accountId": "111111111111", "service": {"action": {
            "dnsRequestAction": {"domain": "Miner.Example"}}}})
        nothing = _old_finding(old, 3, {"AccountId": "111111111111"})

        new = migrate(AFTER).get_model("findings", "FindingEntity")

        stored = set(new.objects.values_list("finding_id", "kind", "value", "account_id", "region"))
        assert stored == {(pascal.id, "access_key", "AKIAEXAMPLEKEY000001", "111111111111", "us-east-1"),
                          (camel.id, "domain", "miner.example", "111111111111", "us-east-1")}
        assert not new.objects.filter(finding_id=nothing.id).exists()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
