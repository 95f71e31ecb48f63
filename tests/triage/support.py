"""Helpers for the triage tests: store realistic findings the way sync does."""

from __future__ import annotations

import random
from datetime import timedelta

from findings.models import Finding
from findings.parsing import parse_finding
from findings.upsert import findings_upsert
from tests.findings.factories import NOW, raw_finding


def store(raws: list[dict]) -> list[Finding]:
    """Upsert raw GuardDuty findings (as a pull sync would) and return the stored rows in order."""
    findings_upsert(findings=[parse_finding(r) for r in raws], source="pull")
    by_arn = {f.arn: f for f in Finding.objects.filter(arn__in=[r["Arn"] for r in raws])}
    return [by_arn[r["Arn"]] for r in raws]


def store_findings(
    count: int,
    *,
    seed: int = 11,
    finding_type: str | None = None,
    hostile: bool = False,
    region: str = "us-east-1",
    hours_ago: int = 0,
) -> list[Finding]:
    """`count` findings of the catalogue's types (or one type), spread over the last days."""
    from gdsim.catalogue import FINDING_TYPES

    rng = random.Random(seed)
    types = sorted(FINDING_TYPES)
    raws = [
        raw_finding(
            rng,
            finding_type=finding_type or rng.choice(types),
            region=region,
            now=NOW - timedelta(hours=hours_ago, minutes=index),
            hostile=hostile,
        )
        for index in range(count)
    ]
    return store(raws)
