"""Single sign-on in Chromium, through a real OpenID Connect provider (node-oidc-provider) and a SAML IdP
started by the tests: users are created at first sign-in with the role their IdP group maps to, and a
user whose group is gone at the IdP is refused at their next sign-in; a group mapped to a team, scoped,
shows its members only that team's accounts."""

import pytest
from django.utils.csp import CSP
from playwright.sync_api import expect

from guardwatch.core.models import AuditEntry, SsoGroupMapping
from guardwatch.settings import sso_form_action_origins, sso_providers
from tests.idp.servers import oidc_provider, saml_idp

pytestmark = pytest.mark.browser

CLIENT_ID, CLIENT_SECRET = "guardwatch-test", "guardwatch-test-secret"
DANA = {"dana": {"email": "dana@example.com", "groups": ["team-payments", "everyone"]}}


def _use(settings, providers: dict) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = providers
    settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": [CSP.SELF, *sso_form_action_origins(providers)]}


@pytest.fixture
def oidc(live_server, settings, tmp_path, transactional_db):
    redirect_uri = f"{live_server.url}/auth/oidc/oidc/login/callback/"
    with oidc_provider(folder=tmp_path, redirect_uri=redirect_uri, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                       users=DANA) as idp:  # fmt: skip
        _use(settings, sso_providers(oidc_issuer=idp.url, oidc_client_id=CLIENT_ID, oidc_secret=CLIENT_SECRET,
                                     oidc_name="Test OIDC"))  # fmt: skip
        yield idp


@pytest.fixture
def saml(live_server, settings, tmp_path, transactional_db):
    with saml_idp(folder=tmp_path, sp_entity_id="guardwatch-test", users=DANA) as idp:
        _use(settings, sso_providers(saml_metadata_url=f"{idp.url}/metadata", saml_entity_id=f"{idp.url}/metadata",
                                     saml_name="Test SAML", sp_entity_id="guardwatch-test"))  # fmt: skip
        yield idp


def sign_in_with_oidc(page, login: str = "dana") -> None:
    page.goto("/login/")
    page.get_by_role("button", name="Sign in with Test OIDC").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password: the test IdP checks none")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the IdP's consent


def sign_in_with_saml(page, login: str = "dana") -> None:
    page.goto("/login/")
    page.get_by_role("button", name="Sign in with Test SAML").click()
    page.get_by_label("User name").fill(login)
    page.get_by_role("button", name="Sign in at the IdP").click()
    page.get_by_role("button", name="Continue to the application").click()  # the signed assertion, posted


def signed_in_as(page, whoami: str):
    """The dashboard, with `whoami` ("name Role") in the header; the user it is."""
    from django.contrib.auth import get_user_model

    page.wait_for_url("**/")
    assert page.get_by_test_id("whoami").inner_text() == whoami
    return get_user_model().objects.get(username=whoami.split()[0])


def test_oidc_user_is_created_at_first_sign_in_with_the_role_their_group_maps_to(page, oidc):
    SsoGroupMapping.objects.create(group="team-payments", role="Analyst")

    sign_in_with_oidc(page)

    dana = signed_in_as(page, "dana Analyst")
    assert not dana.has_usable_password()
    entry = AuditEntry.objects.get(verb="auth.sign_in", actor=dana)
    assert entry.details["method"] == "sso" and entry.details["provider"] == "oidc"


def test_oidc_user_whose_group_was_removed_at_the_idp_is_refused_at_next_sign_in(page, oidc, django_user_model):
    SsoGroupMapping.objects.create(group="team-payments", role="Admin")
    sign_in_with_oidc(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.context.clear_cookies()  # the IdP's session too: the next sign-in is a new one
    oidc.set_users({"dana": {"email": "dana@example.com", "groups": ["everyone"]}})

    sign_in_with_oidc(page)

    expect(page.get_by_role("heading", name="No access to GuardWatch")).to_be_visible()
    page.goto("/findings/")
    assert "/login/" in page.url
    dana = django_user_model.objects.get(username="dana")
    assert list(dana.groups.all()) == []
    assert AuditEntry.objects.filter(verb="auth.sso_refused", target_id=str(dana.pk)).exists()


def test_saml_user_gets_the_mapped_role_and_loses_access_when_the_group_is_removed(page, saml):
    SsoGroupMapping.objects.create(group="team-payments", role="Manager")

    sign_in_with_saml(page)

    dana = signed_in_as(page, "dana Manager")
    assert AuditEntry.objects.get(verb="auth.sign_in", actor=dana).details["provider"] == "saml"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    saml.set_users({"dana": {"email": "dana@example.com", "groups": ["everyone"]}})
    sign_in_with_saml(page)

    expect(page.get_by_role("heading", name="No access to GuardWatch")).to_be_visible()
    assert list(dana.groups.all()) == []


def test_admin_deactivates_an_sso_user_who_is_signed_out_and_refused_at_the_next_sign_in(page, oidc):
    from guardwatch.core.services import user_active_set
    from tests.conftest import persona_create

    SsoGroupMapping.objects.create(group="team-payments", role="Analyst")
    sign_in_with_oidc(page)
    dana = signed_in_as(page, "dana Analyst")

    user_active_set(user=dana, active=False, actor=persona_create("admin"))
    page.goto("/findings/")
    assert "/login/" in page.url
    page.context.clear_cookies()
    sign_in_with_oidc(page)

    expect(page.get_by_role("heading", name="Account Inactive")).to_be_visible()
    page.goto("/findings/")
    assert "/login/" in page.url


def test_oidc_analyst_in_team_payments_sees_only_the_payments_accounts_findings(page, oidc):
    """Group team-payments maps to Analyst, team payments and team-scoped: the findings list and the accounts
    list show the payments account and nothing of the other one."""
    import random

    from accounts.models import MemberAccount, Team
    from tests.findings.factories import NOW, raw_finding
    from tests.triage.support import store

    payments, other = "201000000000", "205000031676"
    for account_id, name in ((payments, "payments-prod"), (other, "web-prod")):
        MemberAccount.objects.create(account_id=account_id, email=f"{name}@example.com", display_name=name)
    rng = random.Random(3)
    mine, theirs = store([raw_finding(rng, finding_type=kind, account_id=account, now=NOW) for kind, account in (
        ("Recon:EC2/PortProbeUnprotectedPort", payments), ("CryptoCurrency:EC2/BitcoinTool.B!DNS", other))])  # fmt: skip
    Team.objects.create(name="payments", account_ids=[payments])
    SsoGroupMapping.objects.create(group="team-payments", role="Analyst", team="payments", scoped=True)

    sign_in_with_oidc(page)
    signed_in_as(page, "dana Analyst")

    page.goto("/findings/")
    page.get_by_role("link", name="All findings").click()  # not only the default view's open high and critical
    expect(page.get_by_text(mine.title).first).to_be_visible()
    findings = page.content()
    assert other not in findings and theirs.title not in findings
    page.goto("/accounts/")
    expect(page.get_by_text("payments-prod").first).to_be_visible()
    accounts = page.content()
    assert other not in accounts and "web-prod" not in accounts
