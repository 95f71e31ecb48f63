"""In a real browser: an Admin makes a service token, copies it once, and reads the API's docs under the CSP."""

import json
import urllib.request

import pytest

pytestmark = pytest.mark.browser


def test_admin_makes_a_service_token_and_a_script_uses_it(page, sign_in, live_server, screenshot):
    sign_in("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("SIEM export")
    page.get_by_label("Kind").select_option("service")
    page.get_by_label("Role").select_option("Manager")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token").inner_text()
    screenshot("created")
    assert secret.startswith("gwt_")
    assert page.get_by_role("table", name="API tokens").get_by_role("row").nth(1).inner_text().count("SIEM export") == 1
    request = urllib.request.Request(f"{live_server.url}/api/v1/findings/", headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["results"] == []
    page.reload()
    assert page.get_by_test_id("new-token").count() == 0
    assert page.console_errors == []


def test_the_api_docs_render_from_vendored_files_without_breaking_the_csp(page, sign_in, screenshot):
    sign_in("analyst")
    page.goto("/api/v1/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "GuardWatch API" in page.locator(".swagger-ui .info .title").inner_text()
    page.get_by_text("/api/v1/findings/", exact=True).first.wait_for()
    screenshot("docs")
    assert [error for error in page.console_errors if "Content Security Policy" in error] == []
