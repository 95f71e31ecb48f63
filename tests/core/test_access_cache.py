"""Permissions and role come from the cache on every page, and a role change applies at the next request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guardwatch.core.roles import Role
from guardwatch.core.services import user_role_change

pytestmark = pytest.mark.django_db


def _access_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "auth_permission" in q["sql"] or "auth_group" in q["sql"]]


def test_analyst_pages_check_permissions_without_asking_the_database_again(client_for):
    client = client_for("analyst")
    client.get("/findings/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/findings/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert _access_queries(queries) == []


def test_an_analyst_made_manager_can_no_longer_triage_at_the_next_request(client_for, analyst, admin):
    client = client_for("analyst")
    assert ">Analyst</span>" in client.get("/findings/").content.decode()
    user_role_change(user=analyst, role=Role.MANAGER, actor=admin)
    page = client.get("/findings/").content.decode()
    assert ">Manager</span>" in page
    assert 'id="bulk"' not in page
    assert client.post("/findings/bulk/", {"action": "status", "status": "resolved"}).status_code == 403
