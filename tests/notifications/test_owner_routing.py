"""Owner routing: whose finding it is (team scope, OU, owner tags), rules that send to the owning team's
destinations with a fallback, and each team's daily digest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import MemberAccount, Team
from accounts.teams import account_owners, finding_owners
from findings.models import Finding
from findings.upsert import findings_upsert
from guardwatch.core.models import AuditEntry
from notifications.forms import RoutingRuleForm
from notifications.models import Delivery, RoutingRule, TeamRouting
from notifications.owners import team_digests_send, team_routing_save
from notifications.services import delivery_attempt

from .conftest import destination_make, parsed_finding, rule_make, webhook_make

pytestmark = pytest.mark.django_db

PAYMENTS, SHOP, LOOSE, NOBODY = "111111111111", "222222222222", "333333333333", "444444444444"
HIGH = "Backdoor:EC2/C&CActivity.B!DNS"  # severity 8
LOW = "Recon:EC2/Portscan"  # medium


@pytest.fixture
def teams(db):
    """Payments owns its account by listed id; Shop by OU; Data by a tag; Payments Core by owner tags."""
    MemberAccount.objects.create(account_id=PAYMENTS, email="p@example.com", tags=["owner=Payments Core"])
    MemberAccount.objects.create(account_id=SHOP, email="s@example.com", organizational_unit="ou-shop-12345678",
                                 tags=["env=prod"])  # fmt: skip
    MemberAccount.objects.create(account_id=LOOSE, email="l@example.com", tags=["squad=PAYMENTS_CORE"])
    return {
        "payments": Team.objects.create(name="Payments", account_ids=[PAYMENTS]),
        "shop": Team.objects.create(name="Shop", organizational_units=["ou-shop-12345678"]),
        "data": Team.objects.create(name="Data", tags=["env=prod"]),
        "core": Team.objects.create(name="Payments core"),
    }


def names(teams) -> list[str]:
    return sorted(team.name for team in teams)


def stored(**kwargs) -> Finding:
    parsed = parsed_finding(**kwargs)
    findings_upsert(findings=[parsed], source="pull")
    return Finding.objects.get(arn=parsed.arn)


def test_owners_come_from_team_scopes_organizational_units_and_owner_tags(teams):
    owners = account_owners(account_ids=[PAYMENTS, SHOP, LOOSE, NOBODY])

    assert names(owners[PAYMENTS]) == [
        "Payments",
        "Payments core",
    ]  # listed id; `owner=Payments Core` by slug
    assert names(owners[SHOP]) == ["Data", "Shop"]  # the account's OU; its `env=prod` tag
    assert owners[LOOSE] == []  # `squad` is not an owner tag key
    assert owners[NOBODY] == []


def test_owner_tag_keys_are_configurable(teams, settings):
    settings.GUARDWATCH_OWNER_TAG_KEYS = ["squad"]
    owners = account_owners(account_ids=[PAYMENTS, LOOSE])
    assert names(owners[LOOSE]) == ["Payments core"]
    assert names(owners[PAYMENTS]) == ["Payments"]  # `owner=` no longer names a team


def test_owners_of_a_list_of_findings_cost_two_queries_whatever_its_length(teams):
    findings = [
        stored(account=account, seed=seed) for seed, account in enumerate([PAYMENTS, SHOP, LOOSE] * 4)
    ]
    with CaptureQueriesContext(connection) as queries:
        owners = finding_owners(findings=findings)
    assert len(queries) == 2
    assert names(owners[findings[1].pk]) == ["Data", "Shop"]


def test_a_rule_to_the_owning_team_delivers_to_that_teams_destination(teams, receiver_factory, fast_notify):
    payments_hook, shop_hook, fallback_hook = receiver_factory(), receiver_factory(), receiver_factory()
    payments = webhook_make(payments_hook.url, name="Payments hook")
    team_routing_save(team=teams["payments"], destinations=[payments], digest_enabled=False, digest_hour=8,
                      digest_min_band="medium", actor=None)  # fmt: skip
    team_routing_save(team=teams["shop"], destinations=[webhook_make(shop_hook.url, name="Shop hook")],
                      digest_enabled=False, digest_hour=8, digest_min_band="medium", actor=None)  # fmt: skip
    rule_make(webhook_make(fallback_hook.url, name="SOC fallback"), target=RoutingRule.Target.OWNING_TEAM)

    finding = stored(account=PAYMENTS)
    [delivery] = Delivery.objects.all()
    assert delivery_attempt(delivery_id=delivery.pk).status == "sent"

    [received] = payments_hook.wait_for(1)
    assert received.json()["data"]["arn"] == finding.arn
    assert delivery.destination == payments and delivery.payload["teams"] == ["Payments"]
    assert shop_hook.requests == [] and fallback_hook.requests == []


def test_a_finding_no_team_owns_goes_to_the_rules_fallback_destination(teams, receiver_factory, fast_notify):
    fallback_hook = receiver_factory()
    fallback = webhook_make(fallback_hook.url, name="SOC fallback")
    rule_make(fallback, target=RoutingRule.Target.OWNING_TEAM)

    finding = stored(account=NOBODY)
    [delivery] = Delivery.objects.all()
    delivery_attempt(delivery_id=delivery.pk)

    assert delivery.destination == fallback and delivery.payload["owner_fallback"] is True
    assert fallback_hook.wait_for(1)[0].json()["data"]["arn"] == finding.arn


def test_an_owning_team_without_a_destination_falls_back_too(teams, fast_notify):
    fallback = webhook_make("http://127.0.0.1:9/hook", name="SOC fallback")
    rule_make(fallback, target=RoutingRule.Target.OWNING_TEAM)
    stored(account=PAYMENTS)  # owned by Payments and Payments core, neither of which has a destination
    assert [d.destination for d in Delivery.objects.all()] == [fallback]


def test_two_owning_teams_sharing_a_destination_get_one_message(teams, fast_notify):
    shared = webhook_make("http://127.0.0.1:9/hook", name="Shared")
    for team in (teams["shop"], teams["data"]):
        team_routing_save(team=team, destinations=[shared], digest_enabled=False, digest_hour=8,
                          digest_min_band="medium", actor=None)  # fmt: skip
    rule_make(
        webhook_make("http://127.0.0.1:9/other", name="fallback"), target=RoutingRule.Target.OWNING_TEAM
    )
    stored(account=SHOP)
    [delivery] = Delivery.objects.all()
    assert delivery.destination == shared and sorted(delivery.payload["teams"]) == ["Data", "Shop"]


def test_a_rule_to_the_owning_team_cannot_digest(teams, fast_notify):
    form = RoutingRuleForm({"name": "to owners", "enabled": "on", "target": "owning_team",
                            "destination": webhook_make("http://127.0.0.1:9/h").pk, "event_kinds": ["new_finding"],
                            "throttle": "digest", "throttle_minutes": "60", "min_count": "0"})  # fmt: skip
    assert not form.is_valid()
    assert "each team has its own daily digest" in form.errors["throttle"][0]


def test_admin_sets_a_teams_destinations_and_digest_on_the_teams_page(teams, client_for, fast_notify):
    hook = webhook_make("http://127.0.0.1:9/hook", name="Payments hook")
    client = client_for("admin")
    url = f"/settings/notifications/teams/{teams['payments'].pk}/"

    refused = client.post(url, {"digest_enabled": "on", "digest_hour": "7", "digest_min_band": "high"})
    assert "A daily digest needs at least one destination" in refused.content.decode()
    assert not TeamRouting.objects.exists()  # nothing half-saved

    saved = client.post(url, {"destinations": [hook.pk], "digest_enabled": "on", "digest_hour": "7",
                              "digest_min_band": "high"})  # fmt: skip
    assert saved.status_code == 302
    routing = TeamRouting.objects.get(team=teams["payments"])
    assert (list(routing.destinations.all()), routing.digest_hour, routing.digest_min_band) == (
        [hook],
        7,
        "high",
    )
    assert AuditEntry.objects.filter(verb="team.routing").exists()
    page = client.get("/settings/notifications/teams/").content.decode()
    assert "Payments hook" in page and "at 07:00, high and above" in page


def test_the_rules_page_says_a_rule_goes_to_the_owning_team_and_where_else(teams, client_for, fast_notify):
    rule_make(
        webhook_make("http://127.0.0.1:9/h", name="SOC fallback"), target=RoutingRule.Target.OWNING_TEAM
    )
    page = client_for("admin").get("/settings/notifications/rules/").content.decode()
    assert 'data-testid="rule-owning-team"' in page and "no owner:" in page and "SOC fallback" in page


# --- Daily digests -------------------------------------------------------------------------------


@pytest.fixture
def payments_digest(teams, fast_notify):
    mailbox = destination_make("email", name="Payments mail", config={"recipients": ["payments@example.com"]})
    team_routing_save(team=teams["payments"], destinations=[mailbox], digest_enabled=True, digest_hour=8,
                      digest_min_band="high", actor=None)  # fmt: skip
    return mailbox


def _synced_at_six(stamp):
    """Every stored finding synced at 06:00 of the day after `stamp`: the tests then send digests that morning,
    within the first digest's 24 hours whatever the time of day the suite runs (it ran at 01:30 UTC once, and a
    next-day 08:30 was 31 hours after the sync)."""
    six = (stamp + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    Finding.objects.update(first_synced_at=six, last_synced_at=six)
    return six


def test_a_team_digest_lists_its_new_findings_above_its_severity_once_a_day(payments_digest):
    high = stored(account=PAYMENTS, seed=1)
    low = stored(account=PAYMENTS, finding_type=LOW, seed=2)
    others = stored(account=SHOP, seed=3)
    synced = _synced_at_six(Finding.objects.get(pk=high.pk).last_synced_at)
    morning = synced.replace(hour=8, minute=30)  # the digest's first run covers the 24 hours before it

    assert team_digests_send(now=morning) == 1
    [delivery] = Delivery.objects.filter(kind="digest")
    assert delivery.payload["team"] == "Payments" and delivery.payload["total"] == 1
    delivery_attempt(delivery_id=delivery.pk)

    [message] = mail.outbox
    assert message.to == ["payments@example.com"]
    assert message.subject == "GuardWatch daily digest for Payments: 1 finding"
    assert high.title in message.body
    assert low.title not in message.body and others.arn not in message.body
    assert team_digests_send(now=morning + timedelta(hours=2)) == 0  # today's digest went out already


def test_a_team_digest_waits_for_its_hour(payments_digest):
    finding = stored(account=PAYMENTS)
    early = _synced_at_six(finding.last_synced_at).replace(hour=7, minute=50)
    assert team_digests_send(now=early) == 0
    assert team_digests_send(now=early + timedelta(minutes=15)) == 1


def test_the_finding_page_names_its_owning_teams(teams, client_for):
    owned = stored(account=SHOP, seed=1)
    unowned = stored(account=NOBODY, seed=2)
    client = client_for("analyst")
    assert (
        "owned by <strong>Data</strong>, <strong>Shop</strong>"
        in client.get(f"/findings/{owned.pk}/").content.decode()
    )
    assert "no owning team" in client.get(f"/findings/{unowned.pk}/").content.decode()


def test_a_digest_hour_or_severity_out_of_range_is_refused_before_anything_is_saved(teams, fast_notify):
    from django.core.exceptions import ValidationError

    hook = webhook_make("http://127.0.0.1:9/hook")
    for hour, band, message in (
        (24, "high", "from 0 to 23"),
        (8, "urgent", "one of low, medium, high, critical"),
    ):
        with pytest.raises(ValidationError, match=message):
            team_routing_save(team=teams["shop"], destinations=[hook], digest_enabled=True, digest_hour=hour,
                              digest_min_band=band, actor=None)  # fmt: skip
    assert not TeamRouting.objects.exists()
