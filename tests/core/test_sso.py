"""Sign-in beyond passwords: group mappings (Admins edit them; audited), how IdP groups become a role, the
second factor (throttled like passwords; required of Admins when configured), local sign-in turned off,
and the sign-in audit."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from allauth.mfa.totp.internal.auth import yield_hotp_counters_from_time as counters

from guardwatch.core.models import AuditEntry, SsoGroupMapping
from guardwatch.core.roles import Role
from guardwatch.core.selectors import sso_role_for
from guardwatch.core.sso import sso_groups
from guardwatch.settings import sso_providers
from tests.conftest import PASSWORD, persona_create
from tests.core.test_login_throttle import DELAYED, own_cache_keys  # noqa: F401 (autouse: own throttle keys)

pytestmark = pytest.mark.django_db


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(counters()))))


def with_totp(user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# --- Group mappings -----------------------------------------------------------------------------------------


def test_admin_maps_a_group_to_a_role_and_the_change_is_audited(client_for):
    admin = client_for("admin")

    response = admin.post("/users/sso/", {"group": " team-payments ", "role": "Analyst"}, follow=True)

    assert "Members of team-payments get Analyst at their next sign-in." in response.content.decode()
    assert SsoGroupMapping.objects.get().role == "Analyst"
    entry = AuditEntry.objects.get(verb="sso.mapping_create")
    assert entry.actor_name == "admin" and entry.details == {"group": "team-payments", "role": "Analyst",
                                                              "team": "", "scoped": False}


def test_admin_removes_a_mapping_and_the_removal_is_audited(client_for):
    mapping = SsoGroupMapping.objects.create(group="team-payments", role="Admin")

    client_for("admin").post(f"/users/sso/{mapping.pk}/delete/")

    assert not SsoGroupMapping.objects.exists()
    assert AuditEntry.objects.get(verb="sso.mapping_delete").details == {"group": "team-payments", "role": "Admin"}


@pytest.mark.parametrize("persona", ["analyst", "manager"])
def test_only_admins_see_or_change_the_mappings(client_for, persona):
    client = client_for(persona)

    assert client.get("/users/sso/").status_code == 403
    assert client.post("/users/sso/", {"group": "g", "role": "Admin"}).status_code == 403
    assert not SsoGroupMapping.objects.exists()


def test_an_unknown_role_is_refused_with_a_message_and_nothing_saved(client_for):
    response = client_for("admin").post("/users/sso/", {"group": "team-payments", "role": "Owner"})

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not SsoGroupMapping.objects.exists()


def test_the_highest_mapped_role_among_a_users_groups_wins():
    SsoGroupMapping.objects.create(group="readers", role="Manager")
    SsoGroupMapping.objects.create(group="secops", role="Admin")
    SsoGroupMapping.objects.create(group="team-payments", role="Analyst")

    assert sso_role_for(groups=["readers", "team-payments"]) is Role.ANALYST
    assert sso_role_for(groups=["team-payments", "secops", "other"]) is Role.ADMIN
    assert sso_role_for(groups=["other"]) is None
    assert sso_role_for(groups=[]) is None


def test_groups_are_read_from_oidc_userinfo_the_id_token_or_saml_attributes():
    assert sso_groups(extra_data={"userinfo": {"groups": ["a", "b"]}, "id_token": {"groups": ["c"]}}) == ["a", "b"]
    assert sso_groups(extra_data={"userinfo": {"sub": "x"}, "id_token": {"groups": "c"}}) == ["c"]
    entra = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
    assert sso_groups(extra_data={entra: ["5f0c-guid"], "email": ["x@example.com"]}) == ["5f0c-guid"]
    assert sso_groups(extra_data={"email": ["x@example.com"]}) == []


# --- Passwords and the second factor --------------------------------------------------------------------


def test_a_password_sign_in_is_audited_with_its_address(client):
    user = persona_create("analyst")

    client.post("/login/", {"username": "analyst", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")

    entry = AuditEntry.objects.get(verb="auth.sign_in")
    assert entry.actor == user and entry.details == {"method": "password", "address": "10.1.2.3"}


def test_a_user_with_totp_needs_the_code_after_the_password(client):
    user = persona_create("analyst")
    secret = with_totp(user)

    response = client.post("/login/", {"username": "analyst", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/auth/2fa/authenticate/"
    assert "_auth_user_id" not in client.session

    response = client.post("/auth/2fa/authenticate/", {"code": code_for(secret)})

    assert response.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk
    assert AuditEntry.objects.get(verb="auth.sign_in").details["mfa"] == "totp"


def test_wrong_codes_are_throttled_and_a_right_password_gives_them_no_attempts_back(client, settings):
    """Someone who has the password cannot get more code guesses by signing in with it again."""
    from django.test import Client

    settings.GUARDWATCH_LOGIN_MAX_FAILURES = 3
    user = persona_create("analyst")
    secret = with_totp(user)
    client.post("/login/", {"username": "analyst", "password": PASSWORD})
    for wrong in ("000000", "111111"):
        client.post("/auth/2fa/authenticate/", {"code": wrong})
    again = Client()  # a new session: the password is checked (and right) again
    assert again.post("/login/", {"username": "analyst", "password": PASSWORD}).url == "/auth/2fa/authenticate/"
    again.post("/auth/2fa/authenticate/", {"code": "222222"})

    response = again.post("/auth/2fa/authenticate/", {"code": code_for(secret)})

    assert response.status_code == 200 and DELAYED in response.content.decode()
    assert "_auth_user_id" not in again.session
    assert AuditEntry.objects.filter(verb="auth.mfa_failed", target_id=str(user.pk)).count() == 3


def test_when_required_an_admin_without_a_second_factor_can_only_add_one(client, settings):
    settings.GUARDWATCH_MFA_REQUIRED_FOR_ADMINS = True
    persona_create("admin")
    client.post("/login/", {"username": "admin", "password": PASSWORD})

    assert client.get("/findings/").url == "/auth/2fa/"
    assert client.get("/auth/2fa/").status_code == 200
    assert client.get("/auth/2fa/totp/activate/").url.startswith("/auth/reauthenticate/")  # password first
    assert client.get("/auth/reauthenticate/").status_code == 200


def test_when_required_an_admin_with_totp_and_other_roles_without_go_on(client_for, settings):
    settings.GUARDWATCH_MFA_REQUIRED_FOR_ADMINS = True
    admin = client_for("admin")
    from django.contrib.auth import get_user_model

    with_totp(get_user_model().objects.get(username="admin"))

    assert admin.get("/users/").status_code == 200
    assert client_for("analyst").get("/findings/").status_code == 200


# --- Local sign-in turned off -------------------------------------------------------------------------------


def test_with_local_sign_in_off_the_login_page_offers_only_single_sign_on(client, settings):
    settings.GUARDWATCH_LOCAL_SIGN_IN = False
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers(oidc_issuer="https://idp.example.com", oidc_client_id="gw",
                                                     oidc_secret="s", oidc_name="Okta")  # fmt: skip
    persona_create("admin")

    page = client.get("/login/").content.decode()
    response = client.post("/login/", {"username": "admin", "password": PASSWORD})

    assert "Sign in with Okta" in page and 'name="password"' not in page
    assert "Sign-in with a password is turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_confirming_the_password_before_adding_a_factor_is_throttled_too(client, settings):
    settings.GUARDWATCH_LOGIN_MAX_FAILURES = 2
    persona_create("admin")
    client.post("/login/", {"username": "admin", "password": PASSWORD})
    for wrong in ("wrong-1", "wrong-2"):
        client.post("/auth/reauthenticate/", {"password": wrong})

    response = client.post("/auth/reauthenticate/", {"password": PASSWORD})

    assert response.status_code == 200 and DELAYED in response.content.decode()


def test_signing_up_and_resetting_a_password_by_email_are_not_offered(client):
    assert client.get("/auth/signup/").status_code == 404
    assert client.get("/auth/password/reset/").status_code == 404
