"""Realistic findings for the findings tests, built with the simulator's catalogue."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from findings.parsing import ParsedFinding, parse_finding
from gdsim.catalogue import FINDING_TYPES, build_finding, repeat_occurrence

MEMBER = "222222222222"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_RNG = random.Random(1)  # one stream, so every default-built finding has its own id


def raw_finding(
    rng: random.Random | None = None,
    *,
    finding_type: str = "Recon:EC2/PortProbeUnprotectedPort",
    account_id: str = MEMBER,
    region: str = "us-east-1",
    now: datetime = NOW,
    hostile: bool = False,
) -> dict:
    """A finding as boto3's GetFindings returns it."""
    return build_finding(
        rng or _RNG,
        finding_type=finding_type,
        account_id=account_id,
        region=region,
        detector_id=DETECTOR,
        now=now,
        hostile=hostile,
    )


def raw_findings(count: int, *, seed: int = 7, region: str = "us-east-1", now: datetime = NOW) -> list[dict]:
    """`count` findings of assorted types."""
    rng = random.Random(seed)
    types = sorted(FINDING_TYPES)
    return [raw_finding(rng, finding_type=rng.choice(types), region=region, now=now) for _ in range(count)]


def parsed(raw: dict) -> ParsedFinding:
    return parse_finding(raw)


def repeated(raw: dict, *, minutes: int = 10, seed: int = 3) -> dict:
    """The same finding seen again `minutes` later (count up, updatedAt moved)."""
    moment = datetime.fromisoformat(raw["UpdatedAt"]) + timedelta(minutes=minutes)
    return repeat_occurrence(raw, now=moment, rng=random.Random(seed))
