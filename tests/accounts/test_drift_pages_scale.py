"""Issue 19, "Scale": the drift pages stay a fixed handful of queries however many deviations and accounts there
are (bench/bench_drift_pages.py times them at 50,000 accounts × 17 regions)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import CoveragePolicy, Deviation, MemberAccount, RegionState
from accounts.policies import policy_conflicts
from accounts.selectors import DRIFT_PER_PAGE
from tests.accounts.helpers import accounts_make

Scope = CoveragePolicy.Scope
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


@pytest.fixture
def drifted(db, settings):
    """150 accounts, each off its policy in three regions with two plans: 900 deviations (five pages)."""
    settings.GUARDWATCH_AWS_REGIONS = REGIONS
    for region in REGIONS:
        RegionState.objects.create(region=region, detector_id=f"det-{region}", account_enabled=True)
    accounts = accounts_make(150)
    policy = CoveragePolicy.objects.create(
        name="everything", scope=Scope.ORGANISATION, plans=["s3_data_events"]
    )
    now = timezone.now()
    Deviation.objects.bulk_create([
        Deviation(policy=policy, account=account, region=region, kind=Deviation.Kind.PLAN, feature=feature,
                  status="DISABLED", cause=f"{feature} is DISABLED.", first_seen_at=now)
        for account in accounts for region in REGIONS for feature in ("s3_data_events", "ai_protection")
    ])  # fmt: skip
    return accounts


def _queries(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_every_drift_page_costs_the_same_queries_first_last_or_filtered(drifted, client_for):
    admin = client_for("admin")
    admin.get("/accounts/drift/")  # the first request of a session also loads its permissions
    first, html = _queries(admin, "/accounts/drift/")
    assert html.count('name="deviation"') == DRIFT_PER_PAGE and "Page 1 of 5" in html
    last, html = _queries(admin, "/accounts/drift/?page=5")
    assert html.count('name="deviation"') == 900 - 4 * DRIFT_PER_PAGE and "Page 5 of 5" in html
    filtered, html = _queries(admin, "/accounts/drift/?kind=plan&region=eu-west-1&page=2")
    assert html.count('data-region="eu-west-1"') == 300 - DRIFT_PER_PAGE and "Page 2 of 2" in html
    # The user, then: counts per kind and region, the page's ids, its rows, the compliance days.
    assert first == last == filtered == 5, (first, last, filtered)


def test_drift_page_lists_deviations_in_region_then_account_order_across_pages(drifted, client_for):
    admin = client_for("admin")
    seen = []
    for number in range(1, 6):
        html = admin.get(f"/accounts/drift/?page={number}").content.decode()
        seen += [row.split('data-region="')[1].split('"')[0] for row in html.split("<tr data-kind=")[1:]]
    assert len(seen) == 900 and seen == sorted(
        seen
    )  # ap-southeast-2, eu-west-1, us-east-1: no row twice or lost


def test_policies_page_reads_no_account_when_no_two_policies_share_a_scope(drifted, client_for):
    CoveragePolicy.objects.create(name="prod", scope=Scope.TAG, scope_value="prod", plans=["ai_protection"])
    with CaptureQueriesContext(connection) as queries:
        assert policy_conflicts() == ([], 0)
    assert not any("accounts_memberaccount" in q["sql"] for q in queries.captured_queries)


def test_conflicts_are_counted_per_tag_and_ou_group_and_listed_accounts_one_by_one(drifted):
    MemberAccount.objects.filter(pk__in=[a.pk for a in drifted[:100]]).update(tags=["prod"])
    CoveragePolicy.objects.create(name="prod", scope=Scope.TAG, scope_value="prod", plans=["ai_protection"])
    CoveragePolicy.objects.create(
        name="prod too", scope=Scope.TAG, scope_value="prod", plans=["rds_login_events"]
    )
    listed = [a.account_id for a in drifted[:10]]
    CoveragePolicy.objects.create(
        name="ten", scope=Scope.ACCOUNTS, scope_accounts=listed, plans=["s3_data_events"]
    )
    CoveragePolicy.objects.create(name="five", scope=Scope.ACCOUNTS, scope_accounts=listed[:5], plans=[])
    with CaptureQueriesContext(connection) as queries:
        conflicts, total = policy_conflicts(limit=20)
    # 5 listed accounts named by two list policies, and the 90 other prod accounts (10 are listed: the list wins).
    assert total == 5 + 90
    assert [c.account_id for c in conflicts] == sorted(a.account_id for a in drifted[:100] if a.account_id
                                                       not in listed[5:])[:20]  # fmt: skip
    assert {c.applied.name for c in conflicts} == {"prod", "ten"}
    assert len(queries) <= 4, [q["sql"][:80] for q in queries.captured_queries]


def test_the_first_never_invited_accounts_are_read_without_grouping_every_membership(drifted):
    """The coverage page's preview of never-invited accounts (10 rows) walks the accounts in order; the NOT IN form
    grouped all 850,000 memberships first at 50,000 accounts × 17 regions (~0.5 s) for those 10 rows."""
    from accounts.models import Membership
    from accounts.selectors import accounts_without, accounts_without_first, invited_q

    Membership.objects.bulk_create([Membership(account=account, region=region, relationship_status="Enabled")
                                    for account in drifted[::2] for region in REGIONS])  # fmt: skip
    Membership.objects.filter(account=drifted[4], region=REGIONS[1]).update(relationship_status="Created")
    ordered = MemberAccount.objects.order_by("account_id")
    first = accounts_without_first(invited_q(), ordered)
    with CaptureQueriesContext(connection) as queries:
        shown = [a.account_id for a in first[:10]]
    assert shown == [a.account_id for a in accounts_without(invited_q(), ordered)[:10]]
    assert drifted[4].account_id in shown and drifted[2].account_id not in shown  # Created is not invited
    assert "HAVING" not in queries.captured_queries[0]["sql"].upper()
