"""Finding ids are never given twice (issue 15: the live tick died on one; issue 25 item 7: findings
added after a scenario collided with the scenario's).

GuardDuty's `Finding.Id` is "The ID of the finding." and the finding's `Arn`, built from it,
identifies one finding (botocore guardduty service-2.json, shape `Finding`; API reference
https://docs.aws.amazon.com/guardduty/latest/APIReference/API_Finding.html). A new finding never
takes the Id of another one. The cause was a second generator seeded with the scenario's seed: the
scenario built its world from `random.Random(seed)` while the state's own stream, started from the
same seed, replayed those draws for the live tick and the control API.
"""

from __future__ import annotations

import random

import pytest

from gdsim import SimulatorState
from gdsim.records import iso
from gdsim.scenarios import ADMIN_ACCOUNT

from .world import START


def _demo(seed: int = 7) -> SimulatorState:
    state = SimulatorState(seed=seed, now=START)
    state.seed_scenario("demo", seed=seed)
    return state


def _ids(state: SimulatorState) -> set[str]:
    return {finding_id for store in state.findings.values() for finding_id in store.by_id}


def test_a_thousand_live_ticks_after_the_demo_each_add_new_findings():
    """The reported failure: seed 7, the tick died after ~15 ticks on an Id the demo had given out."""
    state = _demo(7)
    seeded = _ids(state)
    created: dict[str, tuple[str, str]] = {}  # id -> (region, the CreatedAt it must keep)
    for _ in range(1000):
        state.advance_clock(10)  # what --tick-seconds 10 does to a running clock
        summary = state.tick()
        assert 1 <= len(summary["new"]) <= 3
        for finding_id in summary["new"]:
            assert finding_id not in seeded and finding_id not in created
            region = next(region for region, store in state.findings.items() if finding_id in store.by_id)
            created[finding_id] = (region, iso(state.now()))
    assert len(created) >= 1000
    # Every new finding is still there as itself: none replaced another one, none was replaced.
    for finding_id, (region, created_at) in created.items():
        assert state.region_findings(region).get(finding_id).data["CreatedAt"] == created_at
    assert state.finding_count() == len(seeded) + len(created)


@pytest.mark.parametrize("seed", [7, 42])
def test_findings_added_after_a_scenario_never_take_its_ids(seed):
    """Tests and benchmarks build on a scenario by adding findings to it (Python API)."""
    state = _demo(seed)
    before, seeded = state.finding_count(), _ids(state)
    added = []
    for account_id in sorted(state.scope(ADMIN_ACCOUNT, "us-east-1").members)[:12]:
        if state.detector_id(account_id, "us-east-1"):
            added += state.generate_findings(account_id, "us-east-1", 100)
    assert len(added) >= 500
    assert not seeded & set(added) and len(set(added)) == len(added)
    assert state.finding_count() == before + len(added)


def test_findings_added_through_the_control_api_after_the_demo_are_all_new(control, state):
    """The same through POST /_sim/findings, as a driver in another process builds on the demo."""
    status, _ = control("POST", "/_sim/scenario", {"name": "demo", "seed": 7})
    assert status == 200
    before, seeded = state.finding_count(), _ids(state)
    members = [account_id for account_id in sorted(state.scope(ADMIN_ACCOUNT, "eu-west-1").members)
               if state.detector_id(account_id, "eu-west-1")]
    added = []
    for account_id in members[:10]:
        status, answer = control("POST", "/_sim/findings",
                                 {"account_id": account_id, "region": "eu-west-1", "count": 50, "spread_days": 30})
        assert status == 200, answer
        added += answer["finding_ids"]
    status, answer = control("POST", "/_sim/findings", {"account_id": ADMIN_ACCOUNT, "region": "eu-west-1",
                                                        "count": 50})
    added += answer["finding_ids"]
    assert len(added) == 550 and len(set(added)) == 550
    assert not seeded & set(added)
    assert state.finding_count() == before + 550


def test_a_finding_id_already_taken_is_drawn_again():
    """Even a generator replaying another's draws (a caller's own rng) cannot reuse an Id."""
    state = SimulatorState(seed=3, now=START)
    state.seed_scenario("empty", seed=3)
    first = state.generate_findings(ADMIN_ACCOUNT, "us-east-1", 20, rng=random.Random(99))
    again = state.generate_findings(ADMIN_ACCOUNT, "us-east-1", 20, rng=random.Random(99))
    assert not set(first) & set(again)
    assert state.finding_count() == 40


def test_the_same_seed_still_builds_the_same_world_and_the_same_ticks():
    one, two = _demo(7), _demo(7)
    assert _ids(one) == _ids(two)
    assert [one.tick() for _ in range(20)] == [two.tick() for _ in range(20)]


def test_a_restarted_simulator_continues_the_random_stream(tmp_path):
    """A persisted live demo, restarted, goes on with new ids instead of replaying the old draws."""
    path = tmp_path / "simulator.sqlite3"
    first = SimulatorState(seed=7, now=START, persist_path=path)
    first.seed_scenario("demo", seed=7)
    first.tick()
    first.close()
    second = SimulatorState(seed=7, persist_path=path)
    assert second.rng.getstate() == first.rng.getstate()
    seeded = _ids(second)
    new = [finding_id for _ in range(300) for finding_id in second.tick()["new"]]
    assert not seeded & set(new)
    second.close()
