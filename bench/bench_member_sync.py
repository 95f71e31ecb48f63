"""Member status sync at 50,000 accounts × 17 regions, and inviting 5,000 accounts into 17 regions (issue 21).

    flock /tmp/gw-bench.lock env GUARDWATCH_ENV=test \\
        .venv/bin/python bench/bench_member_sync.py [--accounts 50000] [--invite 5000]

Claims: syncing every member's status costs ⌈members/50⌉ ListMembers per region (one listing per region, never
GetMembers per account) and ≤ 10 min of worker time for 50,000 × 17; inviting M accounts into 17 regions costs
⌈M/50⌉ CreateMembers and ⌈M/50⌉ InviteMembers per region (plus ⌈M/50⌉ GetMembers reading where each invitation
stands, and one ListDetectors per region).

The simulator runs in a child process (so this process's CPU time is the worker's alone), seeded directly: the
administrator's detector in each of the 17 regions and, for the sync, 50,000 members per region (~94 % Enabled,
the rest Invited/Disabled/Removed/Resigned/Created/EmailVerificationFailed). The calls are its own counts
(/_sim/calls). The sync runs `accounts.member_sync.members_sync_region` (what the Celery task runs) region after
region, three times: the first sync into an empty GuardWatch (every account discovered, every status new), again
with nothing changed (the beat's steady state), then after 1 % of the members changed status in GuardDuty.
"Wall" is elapsed time, "CPU" this process's CPU time (PostgreSQL works beside it on the same two cores).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_accounts_page import REGIONS_17  # noqa: E402

os.environ["GUARDWATCH_AWS_REGIONS"] = REGIONS_17
REGIONS = REGIONS_17.split(",")
ADMIN = "111111111111"
STATUSES = ("Invited", "Disabled", "Removed", "Resigned", "Created", "EmailVerificationFailed")

from bench.common import fresh_database, setup_django  # noqa: E402


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sync_member_id(i: int) -> str:
    return f"{300000000000 + i:012d}"


def invite_member_id(i: int) -> str:
    return f"{400000000000 + i:012d}"


def _status(i: int, n: int) -> str:
    return "Enabled" if (i * 31 + n * 17) % 100 < 94 else STATUSES[(i + n) % len(STATUSES)]


def _simulator_child(connection) -> None:
    """The simulator, served from this child process; commands arrive on `connection`."""
    from gdsim import SimulatorServer
    from gdsim.records import Member, iso

    server = SimulatorServer(port=0)
    state = server.state
    state.register_account(ADMIN, "root@example.com")
    server.start()
    connection.send(server.endpoint_url)
    while True:
        command, argument = connection.recv()
        if command == "stop":
            server.stop()
            connection.send("stopped")
            return
        with state.lock:
            stamp = iso(state.now())
            if command == "reset":
                state.reset()
                state.register_account(ADMIN, "root@example.com")
                for region in REGIONS:
                    state.ensure_detector(ADMIN, region)
            elif command == "members":  # `argument` members per region, as another tool would have made them
                for n, region in enumerate(REGIONS):
                    scope = state.scope(ADMIN, region)
                    for i in range(argument):
                        account_id, status = sync_member_id(i), _status(i, n)
                        scope.members[account_id] = Member(
                            account_id=account_id, email=f"aws+{i}@example.com", relationship_status=status,
                            updated_at=stamp, invited_at=stamp, detector_id="d" * 32 if status == "Enabled" else None)
            elif command == "change":  # `argument` members per region change status
                for region in REGIONS:
                    members = state.scope(ADMIN, region).members
                    for i in range(0, len(members), max(1, len(members) // argument)):
                        member = members[sync_member_id(i)]
                        member.relationship_status = "Disabled" if member.relationship_status == "Enabled" else "Enabled"
                        member.updated_at = stamp
            elif command == "accounts":  # the invitees' root emails, for GuardDuty's email verification
                for i in range(argument):
                    state.register_account(invite_member_id(i), f"root+{i}@example.com")
        connection.send("done")


class Simulator:
    """The child process running the simulator."""

    def __init__(self):
        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_simulator_child, args=(child,), daemon=True)
        self.process.start()
        self.endpoint_url = self.connection.recv()

    def command(self, name: str, argument=None) -> None:
        self.connection.send((name, argument))
        assert self.connection.recv() in ("done", "stopped")

    def calls(self) -> dict:
        with urllib.request.urlopen(f"{self.endpoint_url}/_sim/calls") as response:  # noqa: S310 - local simulator
            return json.load(response)

    def calls_reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/_sim/calls", method="DELETE")  # noqa: S310
        urllib.request.urlopen(request).close()  # noqa: S310

    def stop(self) -> None:
        self.command("stop")
        self.process.join(timeout=10)


def per_operation(calls: dict) -> dict[str, int]:
    return dict(calls.get("by_operation") or calls.get("operations") or {})


def point_at(simulator: Simulator) -> None:
    from django.conf import settings

    from gdsim import credentials_for
    from guardwatch.aws import reset_clients

    creds = credentials_for(ADMIN)
    os.environ.update(GUARDWATCH_AWS_ENDPOINT_URL=simulator.endpoint_url, AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
                      AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"], AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    settings.GUARDWATCH_AWS_ENDPOINT_URL = simulator.endpoint_url
    reset_clients()


def timed_call(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench_invite(simulator: Simulator, count: int) -> None:
    from accounts import operations
    from accounts.models import MemberAccount, MemberOperation, Membership
    from guardwatch.core.roles import Role
    from guardwatch.core.services import user_create

    simulator.command("reset")
    simulator.command("accounts", count)
    accounts = MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=invite_member_id(i), email=f"root+{i}@example.com") for i in range(count)],
        batch_size=2000,
    )
    admin = user_create(username="bench-admin", role=Role.ADMIN, password="correct-horse-battery-staple",
                        validate=False)  # fmt: skip
    simulator.calls_reset()
    load = loadavg()

    def run():
        operation = operations.member_operation_start(action="invite", accounts=accounts, regions=REGIONS,
                                                      actor=admin, message="Welcome to GuardDuty")  # fmt: skip
        return operations.member_operation_run(operation_id=operation.pk)

    operation, wall, cpu = timed_call(run)
    counts = per_operation(simulator.calls())
    expected = math.ceil(count / 50)
    print(f"\n### Inviting {count:,} accounts into {len(REGIONS)} regions (load before {load}, after {loadavg()})\n")
    print("| operation | calls | per region | expected per region |")
    print("|---|---|---|---|")
    for name, want in (("CreateMembers", expected), ("InviteMembers", expected), ("GetMembers", expected),
                       ("ListDetectors", 1)):  # fmt: skip
        got = counts.get(name, 0)
        print(f"| {name} | {got:,} | {got / len(REGIONS):g} | {want} |")
    others = {k: v for k, v in counts.items() if k not in ("CreateMembers", "InviteMembers", "GetMembers", "ListDetectors")}
    print(f"\nother calls: {others or 'none'}; total {sum(counts.values()):,}; operation {operation.status}, "
          f"{operation.done:,} done, {operation.failed:,} failed; worker wall {wall:.1f} s, CPU {cpu:.1f} s")  # fmt: skip
    assert operation.status == MemberOperation.Status.SUCCEEDED, operation.status
    assert Membership.objects.filter(relationship_status="Invited").count() == count * len(REGIONS)
    for name in ("CreateMembers", "InviteMembers"):
        assert counts.get(name) == expected * len(REGIONS), (name, counts.get(name))


def bench_sync(simulator: Simulator, count: int) -> None:
    from accounts import gateway
    from accounts.member_sync import members_sync_region
    from accounts.models import MemberAccount, Membership

    listing = [0.0, 0.0]  # wall, CPU inside ListMembers (the simulator's answers and botocore's parsing)
    members_list = gateway.members_list

    def timed_list(**kwargs):
        result, wall, cpu = timed_call(lambda: members_list(**kwargs))
        listing[0] += wall
        listing[1] += cpu
        return result

    gateway.members_list = timed_list

    simulator.command("reset")
    simulator.command("members", count)
    expected = math.ceil(count / 50)
    print(f"\n### Member status sync, {count:,} members × {len(REGIONS)} regions\n")
    print("| run | ListMembers (per region) | GetMembers | other calls | members listed | changed | wall | CPU "
          "(this process) | of which in ListMembers (wall / CPU) | load before → after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, change in (("first sync (empty GuardWatch)", 0), ("again, nothing changed", 0),
                          ("after 1 % of members changed status", count // 100)):  # fmt: skip
        if change:
            simulator.command("change", change)
        simulator.calls_reset()
        load = loadavg()
        wall = cpu = 0.0
        listed = changed = 0
        listing[:] = [0.0, 0.0]
        for region in REGIONS:
            result, w, c = timed_call(lambda region=region: members_sync_region(region=region))
            assert result.error == "", result.error
            wall, cpu, listed, changed = wall + w, cpu + c, listed + result.members, changed + result.changed
        counts = per_operation(simulator.calls())
        lists = counts.pop("ListMembers", 0)
        gets = counts.pop("GetMembers", 0)
        print(f"| {label} | {lists:,} ({lists / len(REGIONS):g}; expected {expected}) | {gets} | {counts or 'none'} | "
              f"{listed:,} | {changed:,} | {wall:.1f} s | {cpu:.1f} s | {listing[0]:.1f} s / {listing[1]:.1f} s | "
              f"{load} → {loadavg()} |", flush=True)  # fmt: skip
        assert lists == expected * len(REGIONS) and gets == 0, (lists, gets)
    assert MemberAccount.objects.count() == count
    assert Membership.objects.exclude(relationship_status="").count() == count * len(REGIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50_000, help="members per region for the status sync")
    parser.add_argument("--invite", type=int, default=5_000, help="accounts to invite into the 17 regions")
    args = parser.parse_args()
    simulator = Simulator()  # forked before Django opens a connection
    setup_django("gw_bench_member_sync")
    import logging

    logging.getLogger("guardwatch").setLevel(logging.WARNING)
    point_at(simulator)
    print(f"`/proc/loadavg` at start: {loadavg()}")
    try:
        if args.invite:
            with fresh_database():
                bench_invite(simulator, args.invite)
        if args.accounts:
            with fresh_database():
                bench_sync(simulator, args.accounts)
    finally:
        simulator.stop()
    print(f"\n`/proc/loadavg` at the end: {loadavg()}")


if __name__ == "__main__":
    main()
