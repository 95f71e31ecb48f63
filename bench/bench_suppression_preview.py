"""A suppression rule's 90-day preview at a million findings (docs/suppression.md).

Method (as bench_triage.py): the 1M-finding seed of bench/seed_findings.py (its own database,
gw_bench_govern, seeded first if it holds too few findings); per rule, 2 warm-ups then 20 timed
runs of the confirmation's work: `suppression_rule_plan` (checks, counts now, the preview) and the
preview alone (`suppression_rule_preview`); p50/p95 server time.

    flock /tmp/gw-bench.lock .venv/bin/python bench/bench_suppression_preview.py   # appends to docs/benchmarks.md
"""

from __future__ import annotations

import os
import statistics
import subprocess

from common import ROOT, percentile, setup_django, timed

DB_NAME = "gw_bench_govern"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- suppression-preview-bench:begin -->", "<!-- suppression-preview-bench:end -->"
RULES = {
    "a whole finding type": "type_prefix=Recon:EC2/PortProbeUnprotectedPort",
    "a type in one account": "type_prefix=UnauthorizedAccess:&account=100000000000",
    "low and medium everywhere": "band=low&band=medium",
    "attack sequences": "type_prefix=AttackSequence:",
}


def _seeded() -> int:
    """The seed bench_triage.py uses, seeded if short, migrated to this checkout's schema."""
    from bench_triage import _ensure_seeded
    from django.core.management import call_command

    total = _ensure_seeded()
    call_command("migrate", verbosity=0)
    return total


def _runs(fn, rounds: int = 20) -> tuple[float, float, object]:
    for _ in range(2):
        fn()
    samples, result = [], None
    for _ in range(rounds):
        seconds, result = timed(fn)
        samples.append(seconds * 1000)
    return statistics.median(samples), percentile(samples, 95), result


def main() -> None:
    setup_django(DB_NAME)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.http import QueryDict

    from triage.filters import FindingFilters
    from triage.suppression import suppression_rule_plan, suppression_rule_preview

    total = _seeded()
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
    actor = get_user_model().objects.get(username="analyst")
    load = os.getloadavg()
    rows = []
    for label, query in RULES.items():
        filters = FindingFilters.from_query(QueryDict(query))
        regions = list(settings.GUARDWATCH_AWS_REGIONS)
        p50, p95, preview = _runs(lambda f=filters, r=regions: suppression_rule_preview(filters=f, regions=r))
        plan50, plan95, _plan = _runs(
            lambda q=query: suppression_rule_plan(name="bench-rule", reason="bench", query=q, actor=actor)
        )
        rows.append(f"| {label} (`{query}`) | {preview.total:,} | {preview.attack_sequences:,} | "
                    f"{p50:,.1f} | {p95:,.1f} | {plan50:,.1f} | {plan95:,.1f} |")  # fmt: skip
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    section = "\n".join([
        BEGIN,
        "## Suppression rule preview at a million findings",
        "",
        f"`flock /tmp/gw-bench.lock .venv/bin/python bench/bench_suppression_preview.py` on {total:,} seeded findings "
        f"(bench/seed_findings.py), commit {commit}, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(2 cores shared with other work). Preview: the 90-day counts by band and type and the attack-sequence "
        "signals; plan: everything the confirmation page computes (checks, counts now, the preview). 2 warm-ups, 20 runs.",
        "",
        "| rule | hidden in 90 days | attack-sequence signals | preview p50 ms | preview p95 ms | plan p50 ms | plan p95 ms |",
        "|---|---|---|---|---|---|---|",
        *rows,
        END,
    ])  # fmt: skip
    text = DOC.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    main()
