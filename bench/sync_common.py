"""Shared plumbing of the findings sync benchmarks: a local simulator with an administrator's findings."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

ADMIN = "111111111111"


def start_simulator():
    """The GuardDuty simulator on a local port, GuardWatch's AWS clients pointed at it (also for children)."""
    from django.conf import settings

    from gdsim import SimulatorServer, credentials_for
    from guardwatch.aws import reset_clients

    server = SimulatorServer(port=0)
    server.start()
    creds = credentials_for(ADMIN)
    os.environ.update(
        GUARDWATCH_AWS_ENDPOINT_URL=server.endpoint_url,
        AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"],
        AWS_DEFAULT_REGION="us-east-1",
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    settings.GUARDWATCH_AWS_ENDPOINT_URL = server.endpoint_url
    reset_clients()
    return server


def seed(state, region: str, count: int) -> None:
    """`count` findings of the administrator in `region`, spread over the 20 days before a fixed past moment;
    the simulator's clock is left an hour after it, so the estate is quiet (nothing updated within the
    sync's lag allowance of GuardDuty's "now", which the sync reads from the simulator's Date header)."""
    state.set_clock(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    state.register_account(ADMIN, "root@example.com")
    state.ensure_detector(ADMIN, region)
    made = 0
    while made < count:
        step = min(5000, count - made)
        state.generate_findings(ADMIN, region, step, spread=timedelta(days=20))
        made += step
    state.advance_clock(3600)
