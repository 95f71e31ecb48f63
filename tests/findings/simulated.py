"""Setting up the simulated GuardDuty estate for findings tests (administrator 111111111111)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from gdsim.catalogue import to_eventbridge_event

ADMIN = "111111111111"
MEMBERS = ("222222222222", "333333333333")
# A fixed past moment: findings are older than any sync's settled point, like a quiet estate.
SIM_START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def estate(simulator, regions, *, per_region: int, members: tuple[str, ...] = MEMBERS, seed: int = 5) -> None:
    """An administrator with Enabled members in each region, and `per_region` findings spread over them."""
    from guardwatch.aws import guardduty

    simulator.set_clock(SIM_START)
    rng = random.Random(seed)
    for account in (ADMIN, *members):
        simulator.register_account(account, f"root+{account}@example.com")
    for region in regions:
        simulator.ensure_detector(ADMIN, region)
        if members:
            client = guardduty(region)
            detector = simulator.detector_id(ADMIN, region)
            client.create_members(
                DetectorId=detector,
                AccountDetails=[{"AccountId": m, "Email": f"root+{m}@example.com"} for m in members],
            )
            client.invite_members(DetectorId=detector, AccountIds=list(members), DisableEmailNotification=True)
            for member in members:
                simulator.accept_invitation(member, region, ADMIN)
        accounts = (ADMIN, *members)
        for index, account in enumerate(accounts):
            share = per_region // len(accounts) + (1 if index < per_region % len(accounts) else 0)
            if share:
                simulator.generate_findings(account, region, share, spread=timedelta(days=20), rng=rng)


def simulated_findings(simulator, regions) -> dict[str, dict]:
    """Every finding the administrator can see, by ARN, as GetFindings would return it."""
    found = {}
    for region in regions:
        visible = simulator.visible_accounts(ADMIN, region)
        for stored in simulator.region_findings(region).by_id.values():
            if stored.account_id in visible:
                found[stored.data["Arn"]] = stored.data
    return found


def events_for(findings: list[dict]) -> list[dict]:
    return [to_eventbridge_event(f) for f in findings]


def members_monitored(regions, members: tuple[str, ...] = MEMBERS) -> None:
    """GuardWatch's own record that `members` are monitored in `regions`, as the member sync would write it."""
    from accounts.models import MONITORED, MemberAccount, Membership

    for member in members:
        account, _ = MemberAccount.objects.get_or_create(account_id=member, defaults={"email": f"root+{member}@example.com"})
        for region in regions:
            Membership.objects.update_or_create(account=account, region=region, defaults={"relationship_status": MONITORED})
