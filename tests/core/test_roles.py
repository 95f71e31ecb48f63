"""The role matrix: each role reaches exactly its pages; anonymous users are sent to sign in."""

import pytest
from django.urls import reverse

from guardwatch.core.roles import ROLE_PERMISSIONS, Role

# page → the personas that may open it
PAGES = {
    "reports:dashboard": {"admin", "analyst", "manager", "outsider"},
    "accounts:list": {"admin", "analyst", "manager"},
    "triage:list": {"admin", "analyst", "manager"},
    "reports:coverage": {"admin", "analyst", "manager"},
    "core:audit": {"admin"},
}
PERSONAS = ("admin", "analyst", "manager", "outsider")


@pytest.mark.parametrize("url_name", PAGES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_exactly_its_pages(client_for, persona, url_name):
    response = client_for(persona).get(reverse(url_name))
    expected = 200 if persona in PAGES[url_name] else 403
    assert response.status_code == expected


@pytest.mark.parametrize("url_name", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(client, db, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


def test_a_poll_after_the_session_ended_sends_the_page_to_sign_in(client, db):
    response = client.get(
        "/findings/report/?period=7",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/findings/report/?period=7"},
    )
    assert response.status_code == 204  # nothing swapped into the fragment …
    assert response["HX-Redirect"] == "/login/?next=/findings/report/%3Fperiod%3D7"  # … the page goes to sign in
    foreign = client.get("/findings/report/?period=30", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"})
    assert foreign["HX-Redirect"] == "/login/?next=/"  # never back to another site, nor to a fragment
    # htmx restoring a page from history (Back) swaps the answer into the body: it gets the login page.
    restore = client.get("/findings/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restore.status_code == 302 and restore["Location"] == "/login/?next=/findings/"


def test_forbidden_page_explains_itself(client_for):
    response = client_for("manager").get(reverse("core:audit"))
    assert response.status_code == 403
    assert b"Your role does not allow" in response.content


def test_roles_are_groups_with_exactly_their_permissions(db):
    from django.contrib.auth.models import Group

    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        assert set(group.permissions.values_list("codename", flat=True)) == codenames


def test_only_admins_manage_members_and_only_managers_cannot_triage(admin, analyst, manager):
    assert admin.has_perm("core.manage_members")
    assert not analyst.has_perm("core.manage_members")
    assert not manager.has_perm("core.manage_members")
    assert analyst.has_perm("core.triage_findings")
    assert not manager.has_perm("core.triage_findings")
    assert manager.has_perm("core.view_reports")


def test_navigation_shows_only_reachable_sections(client_for):
    manager_page = client_for("manager").get(reverse("reports:dashboard")).content.decode()
    admin_page = client_for("admin").get(reverse("reports:dashboard")).content.decode()
    assert 'href="/core/audit/"' not in manager_page and ">Audit<" not in manager_page
    assert ">Audit<" in admin_page
    assert '<span class="role-badge">Manager</span>' in manager_page


def test_health_check_needs_no_login(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_role_names_are_the_groups_people_see():
    assert [r.value for r in Role] == ["Admin", "Analyst", "Manager"]
