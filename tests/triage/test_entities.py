"""Entity pages, related findings on a finding's page, and the search box taking an entity (docs/entities.md)."""

from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import MemberAccount, ScopedUser, Team, TeamMembership
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from tests.findings.factories import NOW, raw_finding
from tests.triage.support import store
from triage.entities import entity_query_parse, entity_url

pytestmark = pytest.mark.django_db

KEY = "AKIAEXAMPLEKEY000001"
IP = "198.51.100.77"
BLUE, RED = "111111111111", "222222222222"
ACCOUNTS_REGIONS = [(BLUE, "us-east-1"), (BLUE, "eu-west-1"), (RED, "ap-southeast-2")]


def _key_finding(rng, account: str, region: str, days_ago: int, *, key: str = KEY, ip: str = IP) -> dict:
    raw = raw_finding(rng, finding_type="Discovery:IAMUser/AnomalousBehavior", account_id=account, region=region,
                      now=NOW - timedelta(days=days_ago))  # fmt: skip
    raw["Resource"]["AccessKeyDetails"]["AccessKeyId"] = key
    raw["Service"]["Action"]["AwsApiCallAction"]["RemoteIpDetails"]["IpAddressV4"] = ip
    return raw


@pytest.fixture
def key_story():
    """One access key seen over 120 days in two accounts and three regions, and an unrelated finding."""
    rng = random.Random(8)
    raws = [_key_finding(rng, account, region, days)
            for (account, region), days in zip(ACCOUNTS_REGIONS * 2, (120, 90, 60, 30, 10, 0), strict=True)]
    other = _key_finding(rng, BLUE, "us-east-1", 5, key="AKIAOTHERKEY00000002", ip="203.0.113.1")
    return store([*raws, other])


def _scoped_blue_analyst() -> Client:
    MemberAccount.objects.create(account_id=BLUE, email="blue@example.com", display_name="blue")
    MemberAccount.objects.create(account_id=RED, email="red@example.com", display_name="red")
    team = Team.objects.create(name="Blue", account_ids=[BLUE])
    user = user_create(username="blue_analyst", role=Role.ANALYST, password="x" * 20, validate=False)
    TeamMembership.objects.create(team=team, user=user)
    ScopedUser.objects.create(user=user)
    client = Client()
    client.force_login(user)
    return client


def test_an_access_keys_page_shows_its_findings_in_two_accounts_and_three_regions_over_120_days(
    key_story, client_for
):
    key_story[1].status = "in_progress"
    key_story[1].save(update_fields=["status"])
    page = client_for("analyst").get(entity_url("access_key", KEY))
    html = page.content.decode()
    assert page.status_code == 200
    assert KEY in html
    summary = page.context["summary"]
    assert summary.total == 6
    assert {a for a, _n in summary.accounts} == {BLUE, RED}
    assert {r for r, _n in summary.regions} == {"us-east-1", "eu-west-1", "ap-southeast-2"}
    assert summary.last_seen - summary.first_seen >= timedelta(days=119)
    assert summary.chart is not None and summary.chart.bars
    assert "<svg" in html and 'data-testid="triage-state"' in html
    assert "In progress" in html
    shown = [f.pk for f in page.context["page"].findings]
    assert shown == [f.pk for f in sorted(key_story[:6], key=lambda f: f.last_seen, reverse=True)]
    assert key_story[6].pk not in shown


def test_an_entity_page_pages_its_findings_newest_first(key_story, client_for, monkeypatch):
    from triage import entities

    monkeypatch.setattr(entities, "PAGE_SIZE", 4)
    monkeypatch.setattr(entities.entity_findings, "__kwdefaults__", {"after": "", "size": 4})
    client = client_for("analyst")
    first = client.get(entity_url("access_key", KEY)).context["page"]
    assert len(first.findings) == 4 and first.next_cursor
    rest = client.get(entity_url("access_key", KEY) + f"&after={quote(first.next_cursor)}",
                      headers={"HX-Request": "true"})  # fmt: skip
    assert [f.pk for f in rest.context["page"].findings] == [f.pk for f in sorted(
        key_story[:6], key=lambda f: f.last_seen, reverse=True)][4:]
    assert "entity-summary" not in rest.content.decode()  # the rows alone


def test_a_team_scoped_analyst_sees_only_their_teams_findings_on_an_entity_page(key_story):
    client = _scoped_blue_analyst()
    page = client.get(entity_url("access_key", KEY))
    summary = page.context["summary"]
    assert summary.total == 4
    assert [a for a, _n in summary.accounts] == [BLUE]
    assert RED not in page.content.decode()
    assert all(f.account_id == BLUE for f in page.context["page"].findings)


def test_an_unknown_kind_or_an_invalid_value_is_not_found(client_for):
    client = client_for("analyst")
    assert client.get("/findings/entity/planet/?v=mars").status_code == 404
    assert client.get("/findings/entity/ip/?v=not-an-ip").status_code == 404


def test_an_entity_nobody_reported_says_so(client_for):
    page = client_for("analyst").get(entity_url("ip", "192.0.2.1"))
    assert 'data-testid="entity-none"' in page.content.decode()


def test_a_note_added_to_an_entity_shows_on_its_page_under_the_spelling_the_page_uses(client_for):
    client = client_for("analyst")
    added = client.post("/findings/entity/ip/evidence/add/", {"v": "2001:DB8::1", "kind": "note",
                                                                "text": "seen in the phishing wave"})  # fmt: skip
    assert added.status_code in (200, 302)

    page = client.get(entity_url("ip", "2001:db8::1")).content.decode()

    assert 'data-testid="evidence"' in page
    assert "seen in the phishing wave" in page


def test_an_attacker_controlled_value_is_escaped_and_its_links_url_encoded(client_for):
    hostile = "<script>alert(1)</script>&x=\"y\"#z"
    raw = raw_finding(random.Random(2), finding_type="Discovery:S3/MaliciousIPCaller")
    raw["Resource"]["S3BucketDetails"][0]["Name"] = hostile
    (finding,) = store([raw])
    client = client_for("analyst")
    detail = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "<script>alert(1)" not in detail
    assert entity_url("bucket", hostile).replace("&", "&amp;") in detail
    assert "%3Cscript%3E" in entity_url("bucket", hostile)
    page = client.get(entity_url("bucket", hostile)).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


# --- The finding's page: its entities and related findings ---------------------------------------------


def test_a_findings_page_links_its_entities_and_groups_related_findings_with_counts(key_story, client_for):
    page = client_for("analyst").get(f"/findings/{key_story[0].pk}/")
    html = page.content.decode()
    assert entity_url("access_key", KEY).replace("&", "&amp;") in html
    assert entity_url("ip", IP).replace("&", "&amp;") in html
    groups = {g.kind: g for g in page.context["related"]}
    assert groups["access_key"].count == 5 and groups["ip"].count == 5
    assert key_story[0].pk not in {f.pk for f in groups["access_key"].findings}
    assert groups["access_key"].findings[0].pk == key_story[5].pk  # the most recently seen first
    assert key_story[6].pk not in {f.pk for g in groups.values() for f in g.findings}


def test_related_findings_of_an_attack_sequence_are_grouped(client_for):
    rng = random.Random(12)
    signals = [raw_finding(rng, finding_type="Discovery:IAMUser/AnomalousBehavior") for _ in range(3)]
    sequence_arn = "arn:aws:guardduty:us-east-1:222222222222:detector/12abc34d567e8fa901bc2d34e56789f0/finding/seq1"
    for raw in signals:
        raw["AssociatedAttackSequenceArn"] = sequence_arn
    stored = store(signals)
    groups = {g.kind: g for g in client_for("analyst").get(f"/findings/{stored[0].pk}/").context["related"]}
    assert groups["sequence"].count == 2
    assert {f.pk for f in groups["sequence"].findings} == {stored[1].pk, stored[2].pk}
    # The sequence finding is not stored here: the group links to its most recent signal instead.
    assert groups["sequence"].url == f"/findings/{groups['sequence'].findings[0].pk}/"


def test_related_findings_leave_out_other_teams_findings(key_story):
    client = _scoped_blue_analyst()
    groups = {g.kind: g for g in client.get(f"/findings/{key_story[0].pk}/").context["related"]}
    assert groups["access_key"].count == 3  # of the 5 others, 2 are Red's
    assert all(f.account_id == BLUE for g in groups.values() for f in g.findings)


def test_a_finding_with_nothing_related_says_so(client_for):
    (finding,) = store([_key_finding(random.Random(1), BLUE, "us-east-1", 0, key="AKIALONELYKEY0000003",
                                     ip="192.0.2.55")])  # fmt: skip
    page = client_for("analyst").get(f"/findings/{finding.pk}/")
    assert page.context["related"] == []
    assert 'data-testid="related-none"' in page.content.decode()


def test_the_entity_page_and_the_finding_page_read_a_fixed_number_of_queries(key_story, client_for):
    client = client_for("analyst")
    client.get(entity_url("access_key", KEY))
    with CaptureQueriesContext(connection) as entity_page:
        client.get(entity_url("access_key", KEY))
    client.get(f"/findings/{key_story[0].pk}/")
    with CaptureQueriesContext(connection) as detail_page:
        client.get(f"/findings/{key_story[0].pk}/")
    # The user, then: the page's keys and rows, the probe for kept counts (a hot entity's; none here), the counts
    # by account and region and by day (one scan), and the entity's notes, links and files (triage.evidence).
    assert len(entity_page) == 6, [q["sql"] for q in entity_page.captured_queries]
    related = [q for q in detail_page.captured_queries if "findings_findingentity" in q["sql"]]
    # The finding's entities, then per group (access key, IP) a count and its latest ids.
    assert len(related) == 1 + 2 * 2, [q["sql"] for q in related]


# --- The search box -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("198.51.100.7", [("ip", "198.51.100.7")]),
    ("2001:DB8::1", [("ip", "2001:db8::1")]),
    ("AKIAIOSFODNN7EXAMPLE", [("access_key", "AKIAIOSFODNN7EXAMPLE")]),
    ("ASIAIOSFODNN7EXAMPLE", [("access_key", "ASIAIOSFODNN7EXAMPLE")]),
    ("AROAEXAMPLEROLE00001:session", [("principal", "AROAEXAMPLEROLE00001:session")]),
    ("i-0123456789abcdef0", [("instance", "i-0123456789abcdef0")]),
    ("s3:payroll-exports", [("bucket", "payroll-exports")]),
    ("arn:aws:s3:::payroll-exports/2026/x.csv", [("bucket", "payroll-exports")]),
    ("arn:aws:iam::123456789012:user/ops/alice.admin", [("user", "alice.admin")]),
    ("arn:aws:sts::123456789012:assumed-role/ci-deployer/build-7", [("user", "ci-deployer")]),
    ("arn:aws:eks:us-east-1:123456789012:cluster/prod-eks", [("eks_cluster", "prod-eks")]),
    ("domain:Pool.Miner.Example", [("domain", "pool.miner.example")]),
    ("pool.miner.example", [("domain", "pool.miner.example"), ("bucket", "pool.miner.example")]),
    ("bitcoin miner", []),
    ("i-0abc", []),
])  # fmt: skip
def test_the_search_box_rules_for_naming_an_entity(text, expected):
    assert list(entity_query_parse(text).candidates) == expected


def test_searching_an_access_key_offers_its_page_above_the_results(key_story, client_for):
    response = client_for("analyst").get("/findings/", {"q": KEY})
    assert response.status_code == 200
    assert response.context["entity_offer"].url == entity_url("access_key", KEY)
    assert 'data-testid="entity-offer"' in response.content.decode()


def test_searching_kind_colon_value_opens_the_entity_page(key_story, client_for):
    client = client_for("analyst")
    response = client.get("/findings/", {"q": f"key:{KEY}"})
    assert response.status_code == 302 and response["Location"] == entity_url("access_key", KEY)
    htmx = client.get("/findings/", {"q": f"ip:{IP}", "band": ""}, headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"] == entity_url("ip", IP)


def test_kind_colon_value_among_other_filters_is_offered_instead(key_story, client_for):
    response = client_for("analyst").get("/findings/", {"q": f"ip:{IP}", "status": "open"})
    assert response.status_code == 200
    assert response.context["entity_offer"].url == entity_url("ip", IP)


def test_a_dotted_word_nobody_reported_as_a_domain_or_bucket_stays_a_text_search(key_story, client_for):
    response = client_for("analyst").get("/findings/", {"q": "readme.txt"})
    assert response.status_code == 200 and not response.context["entity_offer"]


def test_an_ip_nobody_reported_is_not_offered(key_story, client_for):
    assert not client_for("analyst").get("/findings/", {"q": "192.0.2.200"}).context["entity_offer"]


def test_a_scoped_analyst_is_not_offered_another_teams_domain(client_for):
    rng = random.Random(4)
    raw = raw_finding(rng, finding_type="Backdoor:EC2/C&CActivity.B!DNS", account_id=RED)
    raw["Service"]["Action"]["DnsRequestAction"]["Domain"] = "red-only.example"
    store([raw])
    offered = client_for("analyst").get("/findings/", {"q": "red-only.example"}).context["entity_offer"]
    assert offered.url == entity_url("domain", "red-only.example")
    assert not _scoped_blue_analyst().get("/findings/", {"q": "red-only.example"}).context["entity_offer"]


def test_a_long_history_is_charted_per_week(client_for):
    rng = random.Random(21)
    store([_key_finding(rng, BLUE, "us-east-1", days, key="AKIALONGHISTORY00004") for days in (400, 200, 3)])
    summary = client_for("analyst").get(entity_url("access_key", "AKIALONGHISTORY00004")).context["summary"]
    assert "per week" in summary.chart.aria_label
    assert sum(n for _label, n in summary.chart_rows) == 3
    assert 55 <= len(summary.chart_rows) <= 58  # ~397 days of weeks, Mondays first


def test_the_summary_without_grouping_sets_matches(key_story, analyst, monkeypatch):
    """SQLite (the demo) has no GROUPING SETS: its two statements give the same counts and timeline."""
    from types import SimpleNamespace

    from triage import entities

    postgres = entities.entity_summary(kind="access_key", value=KEY, user=analyst)
    monkeypatch.setattr(entities, "connection", SimpleNamespace(vendor="sqlite"))
    portable = entities.entity_summary(kind="access_key", value=KEY, user=analyst)
    assert (portable.total, portable.accounts, portable.regions, portable.first_seen, portable.last_seen) == (
        postgres.total, postgres.accounts, postgres.regions, postgres.first_seen, postgres.last_seen)
    assert portable.chart_rows == postgres.chart_rows
