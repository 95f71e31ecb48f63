"""Saved views: personal or shared filters, and the built-in default."""

from __future__ import annotations

import pytest

from triage.models import SavedView

pytestmark = pytest.mark.django_db


def test_analyst_saves_the_current_filter_as_a_personal_view(client_for):
    client = client_for("analyst")
    response = client.post(
        "/findings/views/",
        {"name": "My EC2 highs", "query": "band=high&resource_type=Instance&after=xyz&sort=-count"},
    )
    assert response["Location"] == "/findings/?band=high&resource_type=Instance&sort=-count"
    html = client.get("/findings/").content.decode()
    assert "My EC2 highs" in html
    assert 'href="?band=high&amp;resource_type=Instance&amp;sort=-count"' in html
    assert "My EC2 highs" not in client_for("manager").get("/findings/").content.decode()


def test_a_shared_view_is_listed_for_the_whole_team(client_for):
    client_for("analyst").post(
        "/findings/views/",
        {"name": "Team: open criticals", "query": "band=critical&status=open", "shared": "on"},
    )
    assert "Team: open criticals" in client_for("manager").get("/findings/").content.decode()


def test_everyone_has_the_default_open_high_and_critical_view(client_for):
    html = client_for("manager").get("/findings/").content.decode()
    assert 'href="?status=open&amp;band=critical&amp;band=high"' in html
    assert "Open high and critical" in html


def test_only_the_owner_deletes_a_view(client_for):
    client_for("analyst").post("/findings/views/", {"name": "Mine", "query": "band=low", "shared": "on"})
    view = SavedView.objects.get()
    client_for("admin").post(f"/findings/views/{view.pk}/delete/")  # admins may tidy up
    assert not SavedView.objects.exists()
    client_for("analyst").post("/findings/views/", {"name": "Mine", "query": "band=low", "shared": "on"})
    view = SavedView.objects.get()
    client_for("manager").post(f"/findings/views/{view.pk}/delete/")
    assert SavedView.objects.filter(pk=view.pk).exists()


def test_someone_elses_private_view_is_not_found_not_merely_refused(client_for):
    client_for("analyst").post("/findings/views/", {"name": "Private hunch", "query": "band=low"})
    view = SavedView.objects.get()

    response = client_for("manager").post(f"/findings/views/{view.pk}/delete/")

    assert response.status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()
