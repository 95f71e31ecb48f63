"""Teams from single sign-on: a group mapping may name a team and say "team-scoped"; at each sign-in the
memberships and the mark single sign-on made follow the user's groups, those an Admin gave by hand stay, and
every change is audited. Admins edit the team and scoped columns at /users/sso/."""

from types import SimpleNamespace

import pytest
from django.test import RequestFactory

from accounts.models import ScopedUser, Team, TeamMembership
from accounts.teams import team_delete, team_save, user_teams_set
from guardwatch.core.models import AuditEntry, SsoGroupMapping
from guardwatch.core.scope import scope_for
from guardwatch.core.sso import SocialAccountAdapter
from tests.conftest import persona_create

pytestmark = pytest.mark.django_db
PAYMENTS, WEB = "201000000000", "202000007919"


@pytest.fixture
def teams():
    SsoGroupMapping.objects.create(group="team-payments", role="Analyst", team="payments", scoped=True)
    SsoGroupMapping.objects.create(group="everyone", role="Manager")
    return Team.objects.create(name="payments", account_ids=[PAYMENTS]), Team.objects.create(name="web", account_ids=[WEB])


def sign_in(user, groups: list[str]) -> None:
    """What allauth hands the adapter at a known user's single sign-on."""
    login = SimpleNamespace(user=user, is_existing=True,
                            account=SimpleNamespace(extra_data={"userinfo": {"groups": groups}}, provider="oidc",
                                                    uid=user.get_username()))  # fmt: skip
    SocialAccountAdapter().pre_social_login(RequestFactory().get("/"), login)


def teams_of(user) -> dict[str, bool]:
    return dict(TeamMembership.objects.filter(user=user).values_list("team__name", "from_sso"))


def test_analyst_signing_in_as_team_payments_is_put_in_the_team_scoped_and_audited(teams):
    analyst = persona_create("analyst")

    sign_in(analyst, ["team-payments", "everyone"])

    assert teams_of(analyst) == {"payments": True}
    assert ScopedUser.objects.get(user=analyst).from_sso
    analyst.refresh_from_db()
    assert scope_for(analyst) == frozenset({PAYMENTS})
    entry = AuditEntry.objects.get(verb="user.teams", target_id=str(analyst.pk))
    assert entry.actor_name == "single sign-on"
    assert entry.details == {"source": "sso", "before": {"teams": [], "scoped": False},
                             "after": {"teams": ["payments"], "scoped": True}}  # fmt: skip
    sign_in(analyst, ["team-payments", "everyone"])  # nothing changed: nothing more audited
    assert AuditEntry.objects.filter(verb="user.teams").count() == 1


def test_analyst_whose_group_is_gone_loses_the_sso_team_and_mark_but_keeps_hand_made_teams(teams):
    payments, web = teams
    analyst = persona_create("analyst")
    user_teams_set(user=analyst, teams=[web], scoped=False, actor=persona_create("admin"))
    sign_in(analyst, ["team-payments"])
    assert teams_of(analyst) == {"payments": True, "web": False}

    sign_in(analyst, ["everyone"])

    assert teams_of(analyst) == {"web": False}
    assert not ScopedUser.objects.filter(user=analyst).exists()
    last = AuditEntry.objects.filter(verb="user.teams").latest("pk")
    assert last.details["before"] == {"teams": ["payments", "web"], "scoped": True}
    assert last.details["after"] == {"teams": ["web"], "scoped": False}


def test_a_scoped_mark_an_admin_gave_by_hand_stays_when_the_groups_say_not_scoped(teams):
    payments, _web = teams
    analyst = persona_create("analyst")
    user_teams_set(user=analyst, teams=[payments], scoped=True, actor=persona_create("admin"))

    sign_in(analyst, ["everyone"])

    assert teams_of(analyst) == {"payments": False}
    assert not ScopedUser.objects.get(user=analyst).from_sso


def test_renaming_or_deleting_a_team_carries_to_the_mappings_naming_it(teams):
    payments, _web = teams
    admin = persona_create("admin")

    team_save(team=payments, name="payments-eu", rules={"account_ids": [PAYMENTS]}, actor=admin)
    assert SsoGroupMapping.objects.get(group="team-payments").team == "payments-eu"
    team_delete(team=payments, actor=admin)
    assert SsoGroupMapping.objects.get(group="team-payments").team == ""


def test_admin_maps_a_group_to_a_team_scoped_and_the_change_is_audited(client_for, teams):
    admin = client_for("admin")

    response = admin.post("/users/sso/", {"group": "team-web", "role": "Analyst", "team": "web", "scoped": "on"},
                          follow=True)  # fmt: skip

    mapping = SsoGroupMapping.objects.get(group="team-web")
    assert (mapping.team, mapping.scoped) == ("web", True)
    assert AuditEntry.objects.get(verb="sso.mapping_create").details == {
        "group": "team-web", "role": "Analyst", "team": "web", "scoped": True}  # fmt: skip
    page = response.content.decode()
    assert "<td>web</td>" in page and "<td>Yes</td>" in page


def test_a_team_that_does_not_exist_is_refused_with_a_message_and_nothing_saved(client_for, teams):
    admin = client_for("admin")

    response = admin.post("/users/sso/", {"group": "team-ghost", "role": "Analyst", "team": "ghost"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SsoGroupMapping.objects.filter(group="team-ghost").exists()
