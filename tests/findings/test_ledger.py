"""The ingestion ledger: GuardDuty's own counts per account × region against the stored ones."""

from __future__ import annotations

import pytest

from findings import ledger
from findings.ledger import findings_ledger_region
from findings.models import Finding, LedgerCheck, SyncState
from findings.services import findings_ids_compare_region
from findings.sync import findings_sync_region
from guardwatch.core.models import Alert

from .simulated import ADMIN, MEMBERS, estate
from .test_sync import simulated_versions, stored_versions

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(ledger, "task_send_on_commit", lambda name, *args, **kw: sent.append((name, *args, kw)))
    return sent


@pytest.fixture
def synced(simulator):
    estate(simulator, [REGION], per_region=300)
    assert findings_sync_region(region=REGION).status == "succeeded"
    return simulator


def counts() -> dict[str, tuple[int, int]]:
    return {row.account_id: (row.guardduty_total, row.guardwatch_total) for row in LedgerCheck.objects.all()}


def in_window(**filters):
    """Stored findings updated before the region's checkpoint (the ledger's window ends there)."""
    settled = SyncState.objects.get(region=REGION).settled_through
    return Finding.objects.filter(region=REGION, updated_at__lt=settled, **filters)


def expected() -> dict[str, tuple[int, int]]:
    return {account: (in_window(account_id=account).count(),) * 2 for account in (ADMIN, *MEMBERS)}


def test_a_synced_region_is_in_step_with_guardduty_in_two_calls(synced, queued):
    result = findings_ledger_region(region=REGION)

    assert result.error == "" and result.missing_accounts == []
    assert counts() == expected() and all(n > 50 for n, _ in counts().values())
    assert result.calls == 2  # all findings by account, archived ones by account
    assert synced.call_counts["GetFindingsStatistics"] == 2
    assert not Alert.objects.exists() and queued == []
    assert SyncState.objects.get(region=REGION).ledger_checked_at is not None


def test_findings_missing_here_alert_once_and_are_fetched_by_a_targeted_comparison(synced, queued):
    before = expected()[MEMBERS[0]][0]
    lost = list(in_window(account_id=MEMBERS[0]).order_by("id").values_list("pk", flat=True)[:5])
    Finding.objects.filter(pk__in=lost).delete()

    result = findings_ledger_region(region=REGION)

    assert result.missing_accounts == [MEMBERS[0]]
    row = LedgerCheck.objects.get(region=REGION, account_id=MEMBERS[0])
    assert (row.guardduty_total, row.guardwatch_total, row.missing) == (before, before - 5, 5)
    assert sum(row.missing_by_band.values()) == 5  # where the gap lies, by severity band
    [alert] = Alert.objects.filter(kind="findings.ledger_gap")
    assert MEMBERS[0] in alert.title and REGION in alert.title and alert.severity == "high"
    assert queued == [("findings.tasks.findings_ids_compare_region", REGION, {"accounts": [MEMBERS[0]]})]

    findings_ledger_region(region=REGION)  # the next check before the repair: the same alert, seen again
    assert Alert.objects.get(kind="findings.ledger_gap").occurrences == 2

    calls_before = synced.call_counts["ListFindings"]
    repaired = findings_ids_compare_region(region=REGION, accounts=[MEMBERS[0]])

    assert (repaired.missing, repaired.fetched) == (5, 5)
    assert synced.call_counts["ListFindings"] - calls_before == 2  # that account's ids only (100), 50 a page
    assert stored_versions() == simulated_versions(synced, [REGION])
    assert findings_ledger_region(region=REGION).missing_accounts == []
    assert counts()[MEMBERS[0]] == (before, before)


def test_an_archive_made_in_the_console_queues_the_reconciliation_not_an_alert(synced, queued):
    ids = list(in_window(account_id=ADMIN).order_by("id").values_list("finding_id", flat=True)[:3])
    for finding_id in ids:  # archiving in the console does not move updatedAt
        synced.region_findings(REGION).get(finding_id).data["Service"]["Archived"] = True

    result = findings_ledger_region(region=REGION)

    assert result.missing_accounts == [] and result.archived_differ == 1
    row = LedgerCheck.objects.get(account_id=ADMIN)
    assert (row.guardduty_archived, row.guardwatch_archived) == (3, 0)
    assert not Alert.objects.exists()
    assert queued == [("findings.tasks.findings_reconcile_region", REGION, {})]


def test_more_accounts_than_one_grouping_answers_are_counted_in_batches(synced, queued, monkeypatch):
    monkeypatch.setattr(ledger, "GROUP_LIMIT", 2)  # stands for 100: the grouping came back full
    monkeypatch.setattr(ledger, "ACCOUNTS_PER_CRITERION", 2)  # stands for 50

    result = findings_ledger_region(region=REGION)

    assert counts() == expected()
    assert result.calls == 1 + 2 * 2  # the full grouping, then 2 batches × (all, archived)


def test_findings_guardduty_no_longer_shows_are_counted_but_not_alerted(synced, queued):
    """GuardDuty dropped a finding GuardWatch keeps (a member no longer associated, say): ours is the larger count."""
    kept = in_window(account_id=MEMBERS[1]).first()
    synced.region_findings(REGION).remove(kept.finding_id)

    result = findings_ledger_region(region=REGION)

    assert result.missing_accounts == []
    assert LedgerCheck.objects.get(account_id=MEMBERS[1]).missing == -1
    assert not Alert.objects.exists() and queued == []


def test_a_region_never_synced_is_not_compared(simulator, queued):
    estate(simulator, [REGION], per_region=30)

    result = findings_ledger_region(region=REGION)

    assert "Not synced yet" in result.error
    assert not LedgerCheck.objects.exists() and simulator.call_counts["GetFindingsStatistics"] == 0
