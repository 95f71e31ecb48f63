"""Scenarios: the demo world and the live tick."""

from datetime import UTC, datetime, timedelta

import pytest

from gdsim import SimulatorState
from gdsim.scenarios import ADMIN_ACCOUNT, REGIONS

from .world import START


@pytest.fixture(scope="module")
def demo() -> SimulatorState:
    """The demo scenario with seed 7 (built once for the module; tests only read it)."""
    state = SimulatorState(now=START)
    state.seed_scenario("demo", seed=7)
    return state


def _statuses(state: SimulatorState, region: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in state.scope(ADMIN_ACCOUNT, region).members.values():
        counts[member.relationship_status] = counts.get(member.relationship_status, 0) + 1
    return counts


def test_demo_has_forty_member_accounts_mostly_enabled_in_every_region(demo):
    for region in REGIONS:
        statuses = _statuses(demo, region)
        assert sum(statuses.values()) == 39  # the 40th account was never invited
        assert statuses["Enabled"] >= 25
        assert {"Invited", "Created", "EmailVerificationFailed", "Disabled", "Resigned"} <= set(statuses)


def test_demo_has_thousands_of_findings_over_the_last_90_days(demo):
    findings = [stored for store in demo.findings.values() for stored in store.by_id.values()]
    assert 2000 <= len(findings) <= 10000
    # One finding is older: the IAM sequence's access key seen by another account 125 days ago, updated since,
    # so still retained (scenarios._DEMO_KEY_HISTORY; GuardDuty drops findings not updated for 90 days).
    cutoff = (START - timedelta(days=91)).timestamp() * 1000
    older = [stored for stored in findings if stored.created_ms < cutoff]
    assert [stored.data["Type"] for stored in older] == ["DefenseEvasion:IAMUser/AnomalousBehavior"]
    assert all(stored.updated_ms >= (START - timedelta(days=90)).timestamp() * 1000 for stored in older)
    oldest = datetime.fromtimestamp(min(stored.created_ms for stored in findings if stored not in older) / 1000, UTC)
    assert START - timedelta(days=91) <= oldest < START - timedelta(days=80)


def test_resigned_members_show_resigned_and_leave_no_invented_finding(demo):
    # GuardDuty's signal for a member that left is its RelationshipStatus; it raises no finding for it.
    resigned = [m for m in demo.scope(ADMIN_ACCOUNT, "us-east-1").members.values()
                if m.relationship_status == "Resigned"]
    assert len(resigned) == 2
    assert not [f for f in demo.findings_of(ADMIN_ACCOUNT, "us-east-1") if "Resigned" in f["Type"]]


def test_the_same_seed_builds_the_same_world(demo):
    again = SimulatorState(now=START)
    again.seed_scenario("demo", seed=7)
    assert sorted(again.region_findings("eu-west-1").by_id) == sorted(demo.region_findings("eu-west-1").by_id)
    assert _statuses(again, "eu-west-1") == _statuses(demo, "eu-west-1")


def test_another_seed_builds_other_findings(demo):
    other = SimulatorState(now=START)
    other.seed_scenario("demo", seed=8)
    assert set(other.region_findings("us-east-1").by_id).isdisjoint(demo.region_findings("us-east-1").by_id)


def test_live_tick_adds_findings_and_repeats_recent_ones():
    state = SimulatorState(now=START)
    state.seed_scenario("empty", seed=3)
    for region in REGIONS:
        state.generate_findings(ADMIN_ACCOUNT, region, 5)
    state.advance_clock(600)
    summaries = [state.tick() for _ in range(10)]
    assert state.finding_count() == 20 + sum(len(summary["new"]) for summary in summaries)
    repeated = [finding_id for summary in summaries for finding_id in summary["repeated"]]
    assert repeated
    region, finding_id = next((region, finding_id) for region, store in state.findings.items()
                              for finding_id in repeated if finding_id in store.by_id)
    assert state.region_findings(region).get(finding_id).data["UpdatedAt"] == "2025-06-01T12:10:00.000Z"


def test_an_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        SimulatorState().seed_scenario("nonexistent")


def test_demo_administrator_is_the_organizations_delegated_guardduty_administrator(demo):
    """Issue 16.4: the demo's Organization page ran as an account GuardDuty did not treat as delegated admin."""
    from gdsim.scenarios import MANAGEMENT_ACCOUNT

    assert all(demo.delegated_admins.get(region) == ADMIN_ACCOUNT for region in REGIONS)
    assert demo.management_account_id == MANAGEMENT_ACCOUNT
    assert demo.detector_id(MANAGEMENT_ACCOUNT, REGIONS[0]) is None  # it must enable GuardDuty before being added
