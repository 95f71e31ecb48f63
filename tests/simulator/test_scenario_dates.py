"""Nothing in a scenario happens after the simulator's now (the demo showed "Invited 2027-01-20").

Every timestamp GuardDuty returns records something that has happened: a member's `InvitedAt` is
"The timestamp when the invitation was sent", its `UpdatedAt` "The last-updated timestamp of the
member", a detector's `CreatedAt` "The timestamp of when the detector was created", a finding's
`CreatedAt` "The time and date when the finding was created" (botocore guardduty service-2.json,
shapes `Member`, `GetDetectorResponse`, `Finding`). EbsVolumeScanDetails "Contains details from the
malware scan that created a finding", so the scan is over when the finding is created
(https://docs.aws.amazon.com/guardduty/latest/APIReference/API_EbsVolumeScanDetails.html).
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gdsim import SimulatorState, catalogue
from gdsim.records import parse_iso
from gdsim.scenarios import ADMIN_ACCOUNT, REGIONS

from .world import START

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _timestamps(node: Any, path: str = "") -> list[tuple[str, datetime]]:
    """Every datetime, and every string spelled as an ISO-8601 time, anywhere in `node`."""
    if isinstance(node, dict):
        return [found for key, value in node.items() for found in _timestamps(value, f"{path}.{key}")]
    if isinstance(node, list | tuple):
        return [found for index, value in enumerate(node) for found in _timestamps(value, f"{path}[{index}]")]
    if isinstance(node, datetime):
        return [(path, node)]
    if isinstance(node, str) and _ISO.match(node):
        return [(path, parse_iso(node))]
    return []


def _everything(state: SimulatorState) -> list[tuple[str, datetime]]:
    found = []
    for account in state.accounts.values():
        found += _timestamps(asdict(account), f"account {account.account_id}")
    for (account_id, region), scope in state.scopes.items():
        found += _timestamps(scope.to_dict(), f"{account_id}/{region}")
    found += _timestamps(state.outbox, "outbox")
    for store in state.findings.values():
        for stored in store.by_id.values():
            found += _timestamps(stored.data, f"finding {stored.type}")
    return found


def _after(state: SimulatorState, now: datetime) -> list[tuple[str, datetime]]:
    return [(path, moment) for path, moment in _everything(state) if moment > now]


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_no_timestamp_of_the_demo_is_after_now(seed):
    state = SimulatorState(seed=seed, now=START)
    state.seed_scenario("demo", seed=seed)
    assert state.now() == START  # the clock is given back as it was
    assert len(_everything(state)) > 10_000
    assert _after(state, START) == []
    # The relationships are weeks old, not about to happen: invited within the first days.
    invited = [parse_iso(member.invited_at) for region in REGIONS
               for member in state.scope(ADMIN_ACCOUNT, region).members.values() if member.invited_at]
    assert invited and START - timedelta(days=96) <= min(invited) <= max(invited) <= START - timedelta(days=80)


def test_no_timestamp_of_the_demo_is_after_now_on_a_running_clock():
    """`python -m gdsim --scenario demo` runs on the real clock, which goes on running after the build."""
    state = SimulatorState(seed=7)
    state.seed_scenario("demo", seed=7)
    assert not state.clock_frozen
    now = state.now()
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)  # resumed at real time, not behind it
    assert _after(state, now) == []


def test_members_accept_after_their_invitation_and_resign_after_accepting():
    state = SimulatorState(seed=7, now=START)
    state.seed_scenario("demo", seed=7)
    for region in REGIONS:
        for member in state.scope(ADMIN_ACCOUNT, region).members.values():
            link = state.scope(member.account_id, region).administrator
            if member.relationship_status in ("Enabled", "Disabled", "Resigned"):
                assert link is not None and link.invited_at == member.invited_at
                assert parse_iso(member.invited_at) <= parse_iso(member.updated_at) <= START


@pytest.mark.parametrize("finding_type", sorted(catalogue.FINDING_TYPES))
def test_a_finding_created_now_has_nothing_after_now(finding_type):
    """Sample findings and live-tick findings are created at now: their details are no later."""
    rng = random.Random(finding_type)
    for sample in (False, True):
        data = catalogue.build_finding(rng, finding_type=finding_type, account_id=ADMIN_ACCOUNT,
                                       region="us-east-1", detector_id="d" * 32, now=START, sample=sample)
        assert [found for found in _timestamps(data) if found[1] > START] == []
