"""Memberships per region and status, kept by triggers (`MembershipStatusCount`, accounts 0016), add up to what the
memberships say through every kind of write, and the accounts page reads them instead of grouping every
membership (issue 21: 50,000 accounts × 17 regions)."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext

from accounts import member_sync, operations
from accounts.models import MemberAccount, Membership, MembershipStatusCount
from accounts.services import membership_counts_compact

from .helpers import ADMIN, accounts_make, detectors
from .test_account_region_summary import invited

pytestmark = pytest.mark.django_db

REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    return REGIONS


def kept() -> dict[tuple[str, str], int]:
    rows = MembershipStatusCount.objects.values("region", "status").annotate(total=Sum("n")).order_by()
    return {(r["region"], r["status"]): r["total"] for r in rows if r["total"]}


def counted() -> dict[tuple[str, str], int]:
    rows = Membership.objects.values("region", "relationship_status").annotate(n=Count("*")).order_by()
    return {(r["region"], r["relationship_status"]): r["n"] for r in rows}


def page_counts(client, query: str = "") -> dict[str, int]:
    counts = client.get(f"/accounts/?{query}").context["data"].counts
    return {c.value: c.count for c in counts}


def test_every_kind_of_write_keeps_the_counts_equal_to_the_memberships(simulator, regions, admin):
    accounts = accounts_make(4, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts[:3], "us-east-1")
    invited(simulator, accounts[:1], "eu-west-1")
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)

    for region in regions:  # inserts
        member_sync.members_sync_region(region=region)
    assert kept() == counted() == {("us-east-1", "Enabled"): 1, ("us-east-1", "Invited"): 2, ("eu-west-1", "Invited"): 1}

    simulator.accept_invitation(accounts[1].account_id, "us-east-1", ADMIN)  # an update of one status
    simulator.resign(accounts[0].account_id, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")
    assert kept() == counted()
    assert counted()[("us-east-1", "Resigned")] == 1

    member_sync.members_sync_region(region="us-east-1")  # nothing changed: the stamp's update moves no count
    assert kept() == counted()

    operation = operations.member_operation_start(action="delete", accounts=accounts[1:2], regions=["us-east-1"],
                                                  actor=admin)  # fmt: skip
    operations.member_operation_run(operation_id=operation.pk)
    assert kept() == counted()

    Membership.objects.filter(account=accounts[2], region="us-east-1").update(region="eu-west-1",
                                                                              relationship_status="Created")  # fmt: skip
    assert kept() == counted()

    MemberAccount.objects.filter(pk=accounts[0].pk).delete()  # a cascade deletes its memberships
    assert kept() == counted()
    assert not Membership.objects.filter(account_id=accounts[0].pk).exists()


def test_compacting_folds_a_region_into_one_row_per_status_and_keeps_the_sums(regions):
    accounts = accounts_make(6)
    for account in accounts:
        Membership.objects.create(account=account, region="us-east-1", relationship_status="Invited")
        Membership.objects.create(account=account, region="eu-west-1", relationship_status="Invited")
    Membership.objects.filter(account__in=accounts[:2], region="us-east-1").update(relationship_status="Enabled")
    before = kept()
    assert MembershipStatusCount.objects.filter(region="us-east-1").count() > 2

    membership_counts_compact(region="us-east-1")

    assert kept() == before == counted()
    assert sorted(MembershipStatusCount.objects.filter(region="us-east-1").values_list("status", "n")) == [
        ("Enabled", 2), ("Invited", 4)
    ]  # fmt: skip
    assert MembershipStatusCount.objects.filter(region="eu-west-1").count() == 6  # another region's rows untouched


@pytest.mark.django_db(transaction=True)
def test_a_compaction_beside_an_open_writer_loses_none_of_its_counts(regions):
    """The writer's deltas are not in the compaction's snapshot: they stay, and count once its transaction commits."""
    account = accounts_make(1)[0]
    Membership.objects.create(account=account, region="us-east-1", relationship_status="Invited")
    written, compacted = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Membership.objects.filter(account=account, region="us-east-1").update(relationship_status="Enabled")
                Membership.objects.create(account=account, region="eu-west-1", relationship_status="Created")
                written.set()
                assert compacted.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(30)
    membership_counts_compact(region="us-east-1")
    compacted.set()
    thread.join(30)

    assert kept() == counted() == {("us-east-1", "Enabled"): 1, ("eu-west-1", "Created"): 1}


def test_the_accounts_page_reads_the_kept_counts_and_groups_no_membership(regions, client_for):
    accounts = accounts_make(5)
    Membership.objects.bulk_create(
        [Membership(account=a, region="us-east-1", relationship_status="Enabled") for a in accounts[:3]]
        + [Membership(account=accounts[3], region="eu-west-1", relationship_status="Resigned")]
        + [Membership(account=accounts[4], region="eu-west-1", relationship_status="")]
    )  # fmt: skip
    client = client_for("admin")

    with CaptureQueriesContext(connection) as captured:
        counts = page_counts(client)
    assert counts == {"Enabled": 3, "Resigned": 1, "none": 10 - 4}
    assert not any('FROM "accounts_membership"' in q["sql"] and "GROUP BY" in q["sql"] for q in captured.captured_queries)
    assert page_counts(client, "region=eu-west-1") == {"Resigned": 1, "none": 4}
    # A text filter narrows the accounts: their memberships are grouped (the kept counts are per region only).
    assert page_counts(client, f"q={accounts[3].account_id}") == {"Resigned": 1, "none": 1}


def test_the_migration_counts_the_memberships_stored_before_it(regions):
    accounts = accounts_make(3)
    Membership.objects.bulk_create([
        Membership(account=accounts[0], region="us-east-1", relationship_status="Enabled"),
        Membership(account=accounts[1], region="us-east-1", relationship_status="Enabled"),
        Membership(account=accounts[2], region="eu-west-1", relationship_status="Invited"),
    ])  # fmt: skip
    migration = importlib.import_module("accounts.migrations.0016_membershipstatuscount")
    from django.apps import apps

    with connection.schema_editor() as editor:
        migration.counts_unkeep(apps, editor)
        Membership.objects.filter(account=accounts[2]).update(relationship_status="Enabled")  # no trigger: not counted
        assert kept() == {}
        migration.counts_keep(apps, editor)

    assert kept() == counted() == {("us-east-1", "Enabled"): 2, ("eu-west-1", "Enabled"): 1}
    Membership.objects.filter(account=accounts[0]).delete()  # the triggers are back
    assert kept() == counted()


@pytest.mark.parametrize("text", ["acct-42", "OPS@", "prod"])
def test_the_text_filter_reads_the_trigram_indexes_of_accounts_0017(regions, text):
    """The indexes are on the very expressions Django's lookups write: if either changes, the plan scans the table."""
    from accounts.selectors import AccountFilters, _text_filtered

    accounts = accounts_make(3)
    MemberAccount.objects.filter(pk=accounts[0].pk).update(display_name="acct-42", email="ops@example.com",
                                                           tags=["prod"])  # fmt: skip
    sql, params = _text_filtered(AccountFilters(q=text)).order_by().values("pk").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        found = [row[0] for row in cursor.fetchall()]

    assert found == [accounts[0].pk]
    for index in ("member_email_trgm", "member_display_name_trgm", "member_tags_trgm"):
        assert f"Bitmap Index Scan on {index}" in plan, plan
