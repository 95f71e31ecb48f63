"""A second factor in Chromium: an Admin adds an authenticator app (TOTP) or a passkey (WebAuthn, through
Chromium's virtual authenticator), and signing in then asks for it after the password."""

import re

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.totp.internal.auth import yield_hotp_counters_from_time as counters

from guardwatch.core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def confirm_password(page) -> None:
    page.wait_for_url("**/auth/reauthenticate/**")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def password_step(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/auth/2fa/authenticate/")


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, list(counters())[len(list(counters())) // 2]))


def test_admin_adds_an_authenticator_app_and_then_signs_in_with_its_code(page, sign_in, settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code typed as the 30-second period turns is still right
    admin = sign_in("admin")
    page.goto("/auth/2fa/totp/activate/")
    confirm_password(page)
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Authenticator code").fill(current_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(re.compile(r".*/auth/2fa/(recovery-codes/)?$"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")

    password_step(page, "admin")
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Sign In").click()

    page.wait_for_url("**/")
    assert page.get_by_test_id("whoami").inner_text() == "admin Admin"
    assert AuditEntry.objects.filter(verb="auth.sign_in", actor=admin).first().details["mfa"] == "totp"


def test_admin_adds_a_passkey_and_then_signs_in_with_it(page, sign_in):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})  # fmt: skip
    admin = sign_in("admin")
    page.goto("/auth/2fa/webauthn/add/")
    confirm_password(page)
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Add").click()
    page.wait_for_url(re.compile(r".*/auth/2fa/(recovery-codes/|webauthn/)?$"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")

    password_step(page, "admin")
    page.get_by_role("button", name="Use a security key").click()

    page.wait_for_url("**/")
    assert page.get_by_test_id("whoami").inner_text() == "admin Admin"
    assert AuditEntry.objects.filter(verb="auth.sign_in", actor=admin).first().details["mfa"] == "webauthn"
    assert page.console_errors == []
