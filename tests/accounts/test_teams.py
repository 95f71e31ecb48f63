"""Teams: an Admin defines them and who is scoped to them; what a scope resolves to; every change audited."""

from __future__ import annotations

from django.test import Client

from accounts.models import MemberAccount, ScopedUser, Team, TeamMembership
from accounts.teams import team_account_ids
from guardwatch.core.models import AuditEntry
from guardwatch.core.scope import scope_for
from tests.core.test_team_scope_matrix import RED, RED_NAME, world  # noqa: F401 - the two teams' fixture


def _fresh(user):
    return type(user).objects.get(pk=user.pk)  # a new request's user: no cached scope


def test_a_team_owns_its_listed_ids_and_the_accounts_its_ou_and_tag_rules_match(db):
    MemberAccount.objects.create(account_id="333333333333", email="a@example.com", organizational_unit="ou-ab12-pay")
    MemberAccount.objects.create(account_id="444444444444", email="b@example.com", tags=["env=prod", "team=pay"])
    MemberAccount.objects.create(account_id="555555555555", email="c@example.com", tags=["team=payroll"])
    team = Team.objects.create(name="Payments", account_ids=["666666666666"], organizational_units=["ou-ab12-pay"],
                               tags=["team=pay"])  # fmt: skip
    assert team_account_ids(teams=[team]) == {"666666666666", "333333333333", "444444444444"}


def test_an_admin_in_a_team_marked_scoped_still_sees_the_whole_organisation(db, admin, analyst):
    team = Team.objects.create(name="Blue", account_ids=["111111111111"])
    for user in (admin, analyst):
        TeamMembership.objects.create(team=team, user=user)
        ScopedUser.objects.create(user=user)
    assert scope_for(_fresh(admin)) is None
    assert scope_for(_fresh(analyst)) == {"111111111111"}


def test_a_scoped_person_in_no_team_sees_no_account(db, manager):
    ScopedUser.objects.create(user=manager)
    assert scope_for(_fresh(manager)) == frozenset()


def test_admin_creates_a_team_and_a_bad_account_id_is_shown_not_saved(db, admin):
    client = Client()
    client.force_login(admin)
    bad = client.post("/accounts/teams/", {"name": "Blue", "account_ids": "1234, 111111111111"})
    assert bad.status_code == 200
    assert "Not a 12-digit account id: 1234" in bad.content.decode()
    assert not Team.objects.exists()
    client.post("/accounts/teams/", {"name": "Blue", "account_ids": "1111-1111-1111", "tags": "team=blue"})
    team = Team.objects.get(name="Blue")
    assert team.account_ids == ["111111111111"] and team.tags == ["team=blue"]
    entry = AuditEntry.objects.get(verb="team.create")
    assert entry.actor_name == "admin" and entry.details["after"]["account_ids"] == ["111111111111"]


def test_admin_puts_an_analyst_in_a_team_as_scoped_from_the_users_page(db, admin, analyst):
    team = Team.objects.create(name="Blue", account_ids=["111111111111"])
    client = Client()
    client.force_login(admin)
    users_page = client.get("/users/").content.decode()
    assert f"/accounts/teams/people/{analyst.pk}/" in users_page
    client.post(f"/accounts/teams/people/{analyst.pk}/", {"team": [str(team.pk)], "scoped": "on"})
    assert scope_for(_fresh(analyst)) == {"111111111111"}
    entry = AuditEntry.objects.get(verb="user.teams")
    assert entry.details == {"before": {"teams": [], "scoped": False}, "after": {"teams": ["Blue"], "scoped": True}}
    client.post(f"/accounts/teams/people/{analyst.pk}/", {"team": [str(team.pk)]})  # organisation-wide again
    assert scope_for(_fresh(analyst)) is None


def test_analysts_and_managers_cannot_change_teams(db, analyst, manager):
    for user in (analyst, manager):
        client = Client()
        client.force_login(user)
        assert client.get("/accounts/teams/").status_code == 403
        assert client.post("/accounts/teams/", {"name": "Mine", "account_ids": RED}).status_code == 403
    assert not Team.objects.exists()


def test_coverage_cached_for_the_organisation_is_not_served_to_a_scoped_reader(world, settings):  # noqa: F811
    from reports.coverage import coverage_summary

    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    assert coverage_summary().accounts == 4  # three members and the administrator
    blue = scope_for(_fresh(world["people"]["blue_manager"]))
    summary = coverage_summary(scope=blue)
    assert summary.accounts == 2 and summary.gap_counts["resigned"] == 1


def test_admin_records_an_accounts_ou_and_the_ou_team_then_owns_it(db, admin):
    MemberAccount.objects.create(account_id="777777777777", email="d@example.com")
    team = Team.objects.create(name="Payments OU", organizational_units=["ou-ab12-paymnt01"])
    client = Client()
    client.force_login(admin)
    refused = client.post("/accounts/777777777777/edit/", {"organizational_unit": "payments"})
    assert refused.status_code == 302 and MemberAccount.objects.get().organizational_unit == ""
    client.post("/accounts/777777777777/edit/", {"organizational_unit": "ou-ab12-paymnt01"})
    assert team_account_ids(teams=[team]) == {"777777777777"}
    assert AuditEntry.objects.get(verb="member.update").details == {"organizational_unit": "ou-ab12-paymnt01"}
