"""Each account's region summary (`member_regions`, `monitored_regions`) follows its memberships through every
writer of statuses, so the heatmap's "not a member" and "gaps only" filters (which read only the summary at
50,000 accounts × 17 regions, issue 19) show the accounts the memberships say."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection

from accounts import member_sync, operations
from accounts.drift import drift_evaluate
from accounts.drift_fix import drift_fix_start, fix_plan
from accounts.models import MONITORED, CoveragePolicy, Deviation, MemberAccount, Membership
from accounts.services import account_regions_refresh

from .helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db

REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    return REGIONS


def summaries() -> dict[str, tuple[list[str], list[str]]]:
    return {a: (m, e) for a, m, e in MemberAccount.objects.values_list("account_id", "member_regions", "monitored_regions")}


def from_memberships() -> dict[str, tuple[list[str], list[str]]]:
    """What the summaries must say: computed from the memberships themselves."""
    found = {a: ([], []) for a in MemberAccount.objects.values_list("account_id", flat=True)}
    for account_id, region, status in Membership.objects.exclude(relationship_status="").order_by("region").values_list(
        "account__account_id", "region", "relationship_status"
    ):
        found[account_id][0].append(region)
        if status == MONITORED:
            found[account_id][1].append(region)
    return found


def invited(simulator, accounts, region):
    from guardwatch.aws import guardduty

    client = guardduty(region)
    detector = simulator.detector_id(ADMIN, region)
    client.create_members(DetectorId=detector, AccountDetails=[{"AccountId": a.account_id, "Email": a.email} for a in accounts])
    client.invite_members(DetectorId=detector, AccountIds=[a.account_id for a in accounts], DisableEmailNotification=True)


def heatmap(client, query: str) -> list[str]:
    html = client.get(f"/accounts/coverage/?fragment=matrix&{query}", headers={"HX-Request": "true"}).content.decode()
    return re.findall(r'<tr data-account="(\d{12})">', html)


def test_the_member_sync_keeps_the_summary_as_members_are_invited_accept_and_resign(simulator, regions, client_for):
    first, second, never = accounts_make(3, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, [first, second], "us-east-1")
    invited(simulator, [first], "eu-west-1")
    simulator.accept_invitation(first.account_id, "us-east-1", ADMIN)
    simulator.accept_invitation(first.account_id, "eu-west-1", ADMIN)

    for region in regions:
        member_sync.members_sync_region(region=region)

    assert summaries() == from_memberships() == {
        first.account_id: (["eu-west-1", "us-east-1"], ["eu-west-1", "us-east-1"]),
        second.account_id: (["us-east-1"], []),
        never.account_id: ([], []),
    }
    client = client_for("manager")
    assert heatmap(client, "status=none") == [second.account_id, never.account_id]
    assert heatmap(client, "gaps_only=1") == [second.account_id, never.account_id]

    simulator.resign(first.account_id, "eu-west-1")
    member_sync.members_sync_region(region="eu-west-1")

    assert summaries() == from_memberships()
    assert summaries()[first.account_id] == (["eu-west-1", "us-east-1"], ["us-east-1"])
    assert heatmap(client, "gaps_only=1") == [first.account_id, second.account_id, never.account_id]
    assert heatmap(client, "status=none") == [second.account_id, never.account_id]


def test_the_member_sync_mends_a_summary_a_writer_that_keeps_none_left_behind(simulator, regions):
    """Release N, still serving during an upgrade, writes statuses without the summary: the next sync of the
    region rewrites the summary of every account it disagrees with, changed or not."""
    account = accounts_make(1, simulator=simulator)[0]
    detectors(simulator, regions)
    invited(simulator, [account], "us-east-1")
    simulator.accept_invitation(account.account_id, "us-east-1", ADMIN)
    member_sync.members_sync_region(region="us-east-1")
    MemberAccount.objects.filter(pk=account.pk).update(member_regions=[], monitored_regions=[])

    result = member_sync.members_sync_region(region="us-east-1")

    assert result.changed == 0
    assert summaries()[account.account_id] == (["us-east-1"], ["us-east-1"])


@pytest.mark.parametrize(("action", "member", "monitored"), [
    ("stop", ["us-east-1"], []), ("disassociate", ["us-east-1"], []), ("delete", [], []),
])  # fmt: skip
def test_a_member_operation_keeps_the_summary_of_the_accounts_it_changed(simulator, regions, admin, action, member,
                                                                         monitored):  # fmt: skip
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    for account in accounts:
        simulator.accept_invitation(account.account_id, "us-east-1", ADMIN)
    member_sync.members_sync_region(region="us-east-1")
    operation = operations.member_operation_start(action=action, accounts=accounts[:1], regions=["us-east-1"],
                                                  actor=admin)  # fmt: skip

    operations.member_operation_run(operation_id=operation.pk)

    assert summaries() == from_memberships()
    assert summaries()[accounts[0].account_id] == (member, monitored)
    assert summaries()[accounts[1].account_id] == (["us-east-1"], ["us-east-1"])


def test_an_invitation_run_by_guardwatch_puts_its_regions_in_the_summary(simulator, regions, admin):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    operation = operations.member_operation_start(action="invite", accounts=accounts, regions=regions, actor=admin,
                                                  message="", disable_email_notification=True)  # fmt: skip

    operations.member_operation_run(operation_id=operation.pk)

    assert summaries() == from_memberships()
    assert summaries()[accounts[0].account_id] == (["eu-west-1", "us-east-1"], [])


def test_a_drift_fix_that_restarts_monitoring_takes_the_account_off_the_gaps_only_heatmap(
    simulator, settings, admin, client_for
):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1"]  # the policy's region: monitored there is no gap
    stopped, watched = accounts_make(2, simulator=simulator)
    detectors(simulator, ["us-east-1"])
    invited(simulator, [stopped, watched], "us-east-1")
    for account in (stopped, watched):
        simulator.accept_invitation(account.account_id, "us-east-1", ADMIN)
    member_sync.members_sync_region(region="us-east-1")
    operations.member_operation_run(operation_id=operations.member_operation_start(
        action="stop", accounts=[stopped], regions=["us-east-1"], actor=admin).pk)  # fmt: skip
    CoveragePolicy.objects.create(name="watched", scope="accounts", regions=["us-east-1"],
                                  scope_accounts=[stopped.account_id, watched.account_id])  # fmt: skip
    drift_evaluate()
    client = client_for("manager")
    assert heatmap(client, "gaps_only=1") == [stopped.account_id]

    started = drift_fix_start(plan=fix_plan(deviation_ids=list(Deviation.objects.values_list("pk", flat=True))),
                              actor=admin)  # fmt: skip
    for operation in started:  # what the worker does with each
        operations.member_operation_run(operation_id=operation.pk)

    assert summaries() == from_memberships()
    assert summaries()[stopped.account_id] == (["us-east-1"], ["us-east-1"])
    assert heatmap(client, "gaps_only=1") == []


def test_the_demos_accounts_have_their_summary_once_synced(simulator, settings):
    from gdsim.scenarios import REGIONS as DEMO_REGIONS

    settings.GUARDWATCH_AWS_REGIONS = list(DEMO_REGIONS)
    simulator.seed_scenario("demo", seed=7)

    for region in DEMO_REGIONS:  # what `manage.py demo` queues first (members_sync_all_regions)
        member_sync.members_sync_region(region=region)

    found = summaries()
    assert found == from_memberships()
    assert any(monitored for _member, monitored in found.values())
    assert any(set(member) != set(monitored) for member, monitored in found.values())


def test_a_seed_written_in_sql_gets_its_summary_from_the_refresh_the_benchmarks_call(regions):
    """bench/bench_drift.populate inserts memberships in SQL, then calls `account_regions_refresh` on every account."""
    accounts = accounts_make(3)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_membership (account_id, region, relationship_status, detector_id, last_error) "
            "VALUES (%s, 'us-east-1', 'Enabled', '', ''), (%s, 'eu-west-1', 'Invited', '', ''), "
            "(%s, 'us-east-1', '', '', '')",
            [accounts[0].pk, accounts[0].pk, accounts[1].pk],
        )

    account_regions_refresh(MemberAccount.objects.values_list("pk", flat=True))

    assert summaries() == from_memberships() == {
        accounts[0].account_id: (["eu-west-1", "us-east-1"], ["us-east-1"]),
        accounts[1].account_id: ([], []),
        accounts[2].account_id: ([], []),
    }


def test_the_migration_backfills_the_summary_of_accounts_that_existed_before_it(regions):
    accounts = accounts_make(2)
    Membership.objects.bulk_create([
        Membership(account=accounts[0], region="us-east-1", relationship_status="Enabled"),
        Membership(account=accounts[0], region="eu-west-1", relationship_status="Resigned"),
        Membership(account=accounts[1], region="eu-west-1", relationship_status=""),
    ])  # fmt: skip
    migration = importlib.import_module("accounts.migrations.0015_account_region_summary")
    from django.apps import apps

    with connection.schema_editor(atomic=False) as editor:
        migration.backfill(apps, editor)

    assert summaries() == from_memberships() == {
        accounts[0].account_id: (["eu-west-1", "us-east-1"], ["us-east-1"]),
        accounts[1].account_id: ([], []),
    }


@pytest.mark.parametrize("query", ["status=none", "gaps_only=1", "tag=prod&status=Invited&gaps_only=1", "page=2"])
def test_the_heatmap_filters_read_a_constant_number_of_queries(regions, client_for, django_assert_num_queries, query):
    """The page and its count read the accounts (their summary), then one query reads the page's memberships:
    the filters group no memberships."""
    accounts = accounts_make(150)
    Membership.objects.bulk_create([Membership(account=a, region="us-east-1", relationship_status="Invited")
                                    for a in accounts])  # fmt: skip
    MemberAccount.objects.update(tags=["prod"])
    account_regions_refresh(a.pk for a in accounts)
    client = client_for("manager")
    client.get("/accounts/coverage/?fragment=matrix", headers={"HX-Request": "true"})  # session and roles read once

    with django_assert_num_queries(4) as captured:
        rows = heatmap(client, query)

    assert len(rows) == (50 if query == "page=2" else 100)
    assert not any("GROUP BY" in q["sql"] for q in captured.captured_queries)
