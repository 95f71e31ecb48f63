"""A manager reads the coverage page: is every account watched in every region, and where are the gaps."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import MemberAccount, Membership
from tests.reports.support import detectors, member, membership, protection, synced

pytestmark = pytest.mark.django_db


def _gap(html: str, key: str) -> str:
    """The HTML of one gap list."""
    match = re.search(rf'<div class="gap-list" id="gap-{key}".*?</table>', html, re.S)
    assert match, f"no {key} gap list on the page"
    return match.group(0)


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def world():
    """Three accounts in two regions: one fully monitored, one resigned in eu-west-1, one only invited."""
    prod = member("200000000001", "prod", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000002", "shared", us_east_1="Enabled", eu_west_1="Resigned")
    member("200000000003", "sandbox", us_east_1="Invited")
    Membership.objects.filter(relationship_status="Invited").update(
        invited_at=timezone.now() - timedelta(days=10)
    )
    detectors("us-east-1", "eu-west-1")
    return prod


def test_manager_sees_percent_of_accounts_monitored_per_region_and_overall(client_for, world):
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    us = re.search(r'<tr data-region="us-east-1">.*?</tr>', html, re.S).group(0)
    eu = re.search(r'<tr data-region="eu-west-1">.*?</tr>', html, re.S).group(0)
    # The administrator account counts too, monitored where its own detector is (issue 15.3).
    assert ">75.0%<" in us  # 2 of 3 members + the administrator: 3 of 4 accounts
    assert ">50.0%<" in eu  # 1 of 3 members + the administrator: 2 of 4
    assert re.search(r'data-testid="coverage-overall">.*?62.5%', html, re.S)  # 5 of 8 pairs


def test_resigned_account_is_listed_as_a_gap_with_its_region(client_for, world):
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    resigned = _gap(html, "resigned")
    assert "200000000002" in resigned and "eu-west-1" in resigned and "shared" in resigned
    assert "200000000001" not in resigned


def test_invitation_pending_longer_than_the_setting_is_a_gap(client_for, world):
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    assert "200000000003" in _gap(html, "pending")


def test_recent_invitation_is_not_yet_a_gap(client_for, world):
    Membership.objects.filter(relationship_status="Invited").update(
        invited_at=timezone.now() - timedelta(days=2)
    )
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    assert 'id="gap-pending"' not in html


def test_account_never_invited_in_a_region_is_listed_with_that_region(client_for, world):
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    never = _gap(html, "never_invited")
    assert re.search(r"200000000003.*?<code>eu-west-1</code>", never, re.S)
    assert "200000000001" not in never


@pytest.mark.parametrize(
    ("status", "gap"),
    [("EmailVerificationFailed", "email_failed"), ("Disabled", "disabled"), ("Removed", "removed")],
)
def test_each_troubled_status_has_its_own_gap_list(client_for, status, gap):
    member("200000000009", "ops", us_east_1=status)
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    assert "200000000009" in _gap(html, gap)


def test_region_without_an_administrator_detector_is_a_gap(client_for):
    member("200000000001", us_east_1="Enabled")
    detectors("us-east-1", missing=("eu-west-1",))
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    assert "eu-west-1" in _gap(html, "no_detector")
    assert "us-east-1" not in _gap(html, "no_detector")


def test_member_with_protection_plans_off_is_listed_with_the_plans(client_for, world):
    protection(membership(world, "us-east-1"), eks_audit_logs=False, lambda_network_logs=False)
    protection(membership(world, "eu-west-1"))
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    plans = _gap(html, "plans_off")
    assert "off: EKS, Lambda" in plans
    assert plans.split("<tbody>")[1].count("<tr>") == 1


def test_data_freshness_shows_last_successful_sync_per_region(client_for, world):
    synced("us-east-1", at=timezone.now() - timedelta(minutes=3))
    synced("eu-west-1", at=timezone.now() - timedelta(days=2), failed_at=timezone.now(), error="AccessDenied")
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    freshness = html.split('id="freshness"')[1]
    assert "3\xa0minutes ago" in freshness
    assert 'class="stale"' in freshness and "AccessDenied" in freshness


def test_matrix_shows_a_hundred_accounts_per_page_with_status_colours(
    client_for, django_assert_max_num_queries
):
    MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=f"{300000000000 + i:012d}", email=f"r{i}@example.com") for i in range(150)]
    )
    Membership.objects.bulk_create(
        [
            Membership(account=a, region="us-east-1", relationship_status="Enabled")
            for a in MemberAccount.objects.all()
        ]
    )
    client = client_for("manager")
    with django_assert_max_num_queries(25):
        html = client.get("/accounts/coverage/?page=2").content.decode()
    rows = re.findall(r'<tr data-account="(\d{12})">', html)
    assert len(rows) == 50 and rows[0] == "300000000100"
    assert 'class="cell status-Enabled" data-region="us-east-1"' in html
    assert 'class="cell status-none" data-region="eu-west-1"' in html


def test_htmx_page_change_returns_only_the_matrix(client_for, world, django_assert_max_num_queries):
    client = client_for("manager")
    client.get("/accounts/coverage/")  # the session and permissions are read once
    with django_assert_max_num_queries(9):  # session, user, permissions, groups, team scope; matrix count, page, cells
        response = client.get("/accounts/coverage/?fragment=matrix", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="matrix">') and "<h1>" not in html
    assert "HX-Request" in response["Vary"]


def test_resigned_gap_downloads_as_csv(client_for, world):
    rows = _csv(client_for("manager").get("/accounts/coverage/?export=resigned"))
    assert rows[0][:4] == ["account id", "name", "region(s)", "status"]
    assert rows[1][:4] == ["200000000002", "shared", "eu-west-1", "Resigned"]
    assert len(rows) == 2


def test_matrix_downloads_as_csv_with_every_account(client_for, world):
    rows = _csv(client_for("manager").get("/accounts/coverage/?export=matrix"))
    assert rows[0] == ["account id", "name", "us-east-1", "eu-west-1"]
    assert rows[2] == ["200000000002", "shared", "Monitored", "Resigned"]
    assert rows[3] == ["200000000003", "sandbox", "Invited", "Not a member"]


def test_csv_cells_cannot_run_as_spreadsheet_formulas(client_for):
    member("200000000004", '=HYPERLINK("http://evil")', us_east_1="Resigned")
    rows = _csv(client_for("manager").get("/accounts/coverage/?export=resigned"))
    assert rows[1][1].startswith("'=")


def test_person_without_a_role_cannot_open_coverage(client_for):
    assert client_for("outsider").get("/accounts/coverage/").status_code == 403


def test_analyst_and_admin_can_open_coverage(client_for):
    assert client_for("analyst").get("/accounts/coverage/").status_code == 200
    assert client_for("admin").get("/accounts/coverage/").status_code == 200


def test_gap_counts_match_every_gap_list_read_in_one_pass(client_for, world):
    """Each gap's count (read with the per-region counts) equals the rows its full list holds."""
    member("200000000004", "ops", us_east_1="Disabled", eu_west_1="RegionDisabled")
    member("200000000005", "data", us_east_1="Removed", eu_west_1="EmailVerificationFailed")
    member("200000000006", "new", us_east_1="Created")
    protection(membership(world, "us-east-1"), s3_data_events=False)
    detectors(missing=("ap-south-1",))  # not a configured region: never counted
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    index = dict(re.findall(r'<a href="#gap-(\w+)">[^<]*</a> <strong>(\d+)</strong>', html))
    assert index == {"resigned": "1", "removed": "1", "disabled": "1", "email_failed": "1", "pending": "1",
                     "never_invited": "3", "other": "1", "plans_off": "1"}  # fmt: skip
    # 9 pairs not monitored, and the member with a plan off counted apart (a different unit)
    assert re.search(r'data-testid="gap-pairs">9<', html) and re.search(r'data-testid="gap-plans">1<', html)
    monitored = re.findall(r'<tr data-region="[\w-]+">\s*<th scope="row"><code>([\w-]+)</code></th>\s*'
                           r'<td class="num"><a [^>]*>(\d+)</a>', html)  # fmt: skip
    assert monitored == [("us-east-1", "2"), ("eu-west-1", "1")]


def test_matrix_marks_a_cell_whose_protection_plans_are_off(client_for, world):
    protection(membership(world, "eu-west-1"), eks_audit_logs=False, rds_login_events=False)
    protection(membership(world, "us-east-1"))
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    row = re.search(r'<tr data-account="200000000001">.*?</tr>', html, re.S).group(0)
    assert 'data-region="eu-west-1" title="eu-west-1: Monitored; plans off: EKS, RDS"' in row
    assert 'data-region="us-east-1" title="us-east-1: Monitored"><span class="sym" aria-hidden="true">✓</span> Monitored</td>' in row


def test_only_accounts_with_a_gap_keeps_accounts_missing_a_region_or_not_monitored_there(client_for, world):
    member("200000000004", "ops", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000005", "data", eu_west_1="Enabled")  # no membership at all in us-east-1
    html = client_for("manager").get("/accounts/coverage/?gaps_only=1").content.decode()
    assert re.findall(r'<tr data-account="(\d{12})">', html) == ["200000000002", "200000000003", "200000000005"]
    assert "Accounts 1–3 of 3" in html


def test_the_dashboard_and_the_coverage_page_count_the_same_gaps(client_for, world):
    """Issue 16.15: the dashboard said 53 where Coverage said 154 (one counted pairs, the other pairs,
    regions and plans together); both now show the same three figures, each with its unit."""
    member("200000000004", "ops", us_east_1="Disabled", eu_west_1="RegionDisabled")
    member("200000000006", "new", us_east_1="Created")
    protection(membership(world, "us-east-1"), s3_data_events=False)
    figures = {}
    for page in ("/", "/accounts/coverage/"):
        html = client_for("manager").get(page).content.decode()
        figures[page] = {key: re.search(rf'data-testid="gap-{key}">(\d+)<', html).group(1)
                         for key in ("pairs", "plans")}  # fmt: skip
        assert "not monitored" in html
    assert figures["/"] == figures["/accounts/coverage/"]
    assert figures["/"]["plans"] == "1"


def _matrix_accounts(html: str) -> list[str]:
    return re.findall(r'<tr data-account="(\d{12})">', html)


def test_manager_filters_the_heatmap_by_tag_and_status_and_the_csv_keeps_the_filter(client_for, world):
    MemberAccount.objects.filter(account_id="200000000002").update(tags=["payments", "pci"])
    MemberAccount.objects.filter(account_id="200000000003").update(tags=["payments-sandbox"])
    client = client_for("manager")
    html = client.get("/accounts/coverage/?tag=payments").content.decode()
    assert _matrix_accounts(html) == ["200000000002"]  # the tag itself, not a tag that starts with it
    assert '<option value="payments" selected>' in html and '<option value="pci">' in html
    assert _matrix_accounts(client.get("/accounts/coverage/?status=Resigned").content.decode()) == ["200000000002"]
    # "Not a member": a region with no membership at all counts (the sandbox was never in eu-west-1).
    assert _matrix_accounts(client.get("/accounts/coverage/?status=none").content.decode()) == ["200000000003"]
    assert _matrix_accounts(client.get("/accounts/coverage/?status=Bogus").content.decode()) == [
        "200000000001", "200000000002", "200000000003"]  # fmt: skip
    rows = _csv(client.get("/accounts/coverage/?export=matrix&status=Invited"))
    assert rows[1:] == [["200000000003", "sandbox", "Invited", "Not a member"]]
    rows = _csv(client.get("/accounts/coverage/?export=matrix&tag=pci"))
    assert [r[0] for r in rows[1:]] == ["200000000002"]


def test_manager_filters_the_heatmap_by_organizational_unit_and_the_csv_keeps_it(client_for, world):
    MemberAccount.objects.filter(account_id="200000000002").update(organizational_unit="ou-ab12-payments")
    MemberAccount.objects.filter(account_id="200000000003").update(organizational_unit="ou-ab12-sandbox")
    client = client_for("manager")

    html = client.get("/accounts/coverage/?ou=ou-ab12-payments").content.decode()

    assert _matrix_accounts(html) == ["200000000002"]
    assert '<option value="ou-ab12-payments" selected>' in html and '<option value="ou-ab12-sandbox">' in html
    rows = _csv(client.get("/accounts/coverage/?export=matrix&ou=ou-ab12-sandbox"))
    assert [r[0] for r in rows[1:]] == ["200000000003"]


def test_each_heatmap_cell_says_its_status_in_text_and_symbol_not_colour_alone(client_for, world):
    html = client_for("manager").get("/accounts/coverage/").content.decode()
    row = re.search(r'<tr data-account="200000000003">.*?</tr>', html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["○ Invited", "– Not a member"]
    assert "✗ Resigned" in re.sub(r"<[^>]+>", "", re.search(r'<tr data-account="200000000002">.*?</tr>', html, re.S).group(0))


def test_heatmap_links_keep_the_filters_in_the_query_string(client_for, world):
    MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=f"{300000000000 + i:012d}", email=f"r{i}@example.com", tags=["bulk"]) for i in range(120)]
    )
    html = client_for("manager").get("/accounts/coverage/?tag=bulk&status=none").content.decode()
    assert "Accounts 1–100 of 120" in html
    assert 'href="?tag=bulk&amp;status=none&amp;page=2"' in html
    assert 'href="?tag=bulk&amp;status=none&amp;export=matrix"' in html


def test_gaps_only_with_a_status_filter_keeps_the_accounts_that_status_already_says_have_a_gap(client_for, world):
    client = client_for("manager")
    assert _matrix_accounts(client.get("/accounts/coverage/?status=Enabled&gaps_only=1").content.decode()) == [
        "200000000002"]  # fmt: skip (monitored in us-east-1, resigned in eu-west-1)
    assert _matrix_accounts(client.get("/accounts/coverage/?status=Resigned&gaps_only=1").content.decode()) == [
        "200000000002"]  # fmt: skip
    assert _matrix_accounts(client.get("/accounts/coverage/?status=none&gaps_only=1").content.decode()) == [
        "200000000003"]  # fmt: skip
