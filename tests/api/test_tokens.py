"""API tokens: made on the tokens page, shown once, stored hashed, expiring, revocable, scoped to a role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from api.services import api_token_revoke
from guardwatch.core.models import ApiToken, AuditEntry
from tests.api.support import api_client, token_of
from tests.triage.support import store_findings
from triage.selectors import assignable_users


def test_admin_creates_a_service_token_shown_once_and_only_its_hash_is_kept(client_for, admin):
    client = client_for("admin")
    response = client.post("/settings/api-tokens/", {"name": "SIEM export", "kind": "service", "role": "Analyst",
                                                     "days": "30"})  # fmt: skip
    assert response.status_code == 302
    page = client.get("/settings/api-tokens/")
    secret = page.context["secret"]
    assert secret.startswith("gwt_") and secret in page.content.decode()
    assert page["Cache-Control"] == "no-store"
    assert secret not in client.get("/settings/api-tokens/").content.decode()  # shown once
    token = ApiToken.objects.get()
    assert secret not in {token.secret_hash, token.prefix} and len(token.secret_hash) == 64
    assert (token.kind, token.role, token.user.get_username()) == ("service", "Analyst", f"svc-siem-export-{token.prefix}")
    assert token.expires_at.date() == (timezone.now() + timedelta(days=30)).date()
    entry = AuditEntry.objects.get(verb="api_token.create")
    assert (entry.actor_name, entry.details["acts_as"]) == ("admin", token.user.get_username())


def test_an_analyst_may_make_personal_tokens_but_not_service_tokens(client_for, analyst):
    client = client_for("analyst")
    page = client.get("/settings/api-tokens/")
    assert [value for value, _label in page.context["form"].fields["kind"].choices] == ["personal"]
    refused = client.post("/settings/api-tokens/", {"name": "bot", "kind": "service", "role": "Analyst", "days": "30"})
    assert refused.status_code == 200 and refused.context["form"].errors
    assert not ApiToken.objects.exists()


def test_a_personal_token_cannot_hold_a_higher_role_than_its_owner(client_for, manager):
    refused = client_for("manager").post("/settings/api-tokens/", {"name": "me", "kind": "personal", "role": "Admin",
                                                                   "days": "30"})  # fmt: skip
    assert refused.status_code == 200 and "role" in refused.context["form"].errors
    assert not ApiToken.objects.exists()


def test_a_token_narrowed_to_manager_reads_but_cannot_triage(analyst):
    finding = store_findings(1)[0]
    client = api_client(token_of(analyst, role="Manager"))
    assert client.get(f"/api/v1/findings/{finding.pk}/").status_code == 200
    refused = client.post(f"/api/v1/findings/{finding.pk}/comments/", {"body": "hi"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "triage_findings" in refused.json()["detail"]


def test_a_token_requests_without_session_or_csrf_and_gets_no_session(analyst):
    finding = store_findings(1)[0]
    client = api_client(token_of(analyst))  # enforce_csrf_checks=True, no cookie
    response = client.post(f"/api/v1/findings/{finding.pk}/comments/", {"body": "From a script"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@pytest.mark.parametrize("header", ["", "Bearer gwt_00000000_wrong", "Bearer not-a-token", "Basic YWRtaW46YWRtaW4="])
def test_without_a_valid_token_the_api_answers_401_problem_not_the_sign_in_page(db, header):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = client.get("/api/v1/findings/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_an_expired_token_is_refused(analyst):
    secret = token_of(analyst)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_client(secret).get("/api/v1/findings/").status_code == 401


def test_a_revoked_service_token_is_refused_and_its_user_deactivated(admin):
    secret = token_of(admin, kind="service", role="Analyst", name="ticketing")
    client = api_client(secret)
    assert client.get("/api/v1/findings/").status_code == 200
    token = ApiToken.objects.get()
    api_token_revoke(token=token, actor=admin)
    assert client.get("/api/v1/findings/").status_code == 401
    token.user.refresh_from_db()
    assert not token.user.is_active
    assert AuditEntry.objects.filter(verb="api_token.revoke", actor_name="admin").exists()


def test_a_token_loses_what_its_owner_loses(analyst):
    from guardwatch.core.roles import Role
    from guardwatch.core.services import user_set_role

    finding = store_findings(1)[0]
    client = api_client(token_of(analyst))
    user_set_role(user=analyst, role=Role.MANAGER, actor=None)
    refused = client.post(f"/api/v1/findings/{finding.pk}/comments/", {"body": "x"}, content_type="application/json")
    assert refused.status_code == 403


def test_a_service_tokens_user_cannot_sign_in_and_is_no_person_on_the_team(admin, client_for):
    token_of(admin, kind="service", role="Admin", name="automation")
    service_user = ApiToken.objects.get().user
    assert not service_user.has_usable_password()
    assert not Client().login(username=service_user.get_username(), password="")
    assert service_user not in assignable_users()
    users_page = client_for("admin").get("/users/")
    assert service_user.get_username() not in users_page.content.decode()


def test_the_last_admin_stays_admin_though_an_admin_service_token_exists(admin):
    from guardwatch.core.roles import Role
    from guardwatch.core.services import UserChangeRefused, user_role_change

    token_of(admin, kind="service", role="Admin", name="automation")
    with pytest.raises(UserChangeRefused):
        user_role_change(user=admin, role=Role.ANALYST, actor=admin)


def test_people_see_their_own_tokens_and_admins_the_service_ones(admin, analyst, client_for):
    token_of(analyst, name="analyst script")
    token_of(admin, kind="service", role="Manager", name="dashboard feed")
    analyst_page = client_for("analyst").get("/settings/api-tokens/").content.decode()
    admin_page = client_for("admin").get("/settings/api-tokens/").content.decode()
    assert "analyst script" in analyst_page and "dashboard feed" not in analyst_page
    assert "dashboard feed" in admin_page and "analyst script" not in admin_page


def test_nobody_revokes_someone_elses_personal_token(admin, analyst, client_for):
    token_of(admin, name="admin script")
    response = client_for("analyst").post(f"/settings/api-tokens/{ApiToken.objects.get().pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_the_service_users_name_is_the_actor_of_what_the_token_does(admin):
    finding = store_findings(1)[0]
    api_client(token_of(admin, kind="service", role="Analyst", name="soar")).post(
        f"/api/v1/findings/{finding.pk}/status/", {"status": "acknowledged"}, content_type="application/json"
    )
    service_name = get_user_model().objects.get(api_tokens__name="soar").get_username()
    assert AuditEntry.objects.filter(verb__startswith="finding", actor_name=service_name).exists()
