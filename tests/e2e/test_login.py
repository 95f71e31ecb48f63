"""In a real browser, each role signs in and sees its own navigation."""

import pytest

pytestmark = pytest.mark.browser

EXPECTED_NAV = {
    "admin": ["Dashboard", "Accounts", "Alerts", "Findings", "Sync", "Coverage", "Report", "Notifications", "Ingest keys", "Users", "Audit", "API tokens"],
    "analyst": ["Dashboard", "Accounts", "Alerts", "Findings", "Sync", "Coverage", "Report", "API tokens"],
    "manager": ["Dashboard", "Accounts", "Alerts", "Findings", "Coverage", "Report", "API tokens"],
}


@pytest.mark.parametrize("persona", EXPECTED_NAV)
def test_role_signs_in_and_sees_its_navigation(page, sign_in, persona, screenshot):
    sign_in(persona)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == EXPECTED_NAV[persona]
    assert page.get_by_test_id("whoami").inner_text().startswith(persona)
    screenshot("dashboard")
    assert page.console_errors == []


def test_wrong_password_is_refused_with_a_message(page, transactional_db):
    from tests.conftest import persona_create

    persona_create("analyst")
    page.goto("/login/")
    page.get_by_label("Username").fill("analyst")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_sign_out_returns_to_login(page, sign_in):
    sign_in("manager")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.goto("/findings/")
    assert "/login/" in page.url
