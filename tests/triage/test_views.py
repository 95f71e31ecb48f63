"""Saved views: personal or shared filters, and the built-in default."""

from __future__ import annotations

import re

import pytest

from findings.models import OPEN_STATUSES, Finding
from tests.triage.support import store_findings
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


# --- The list opens on the default view ------------------------------------------------------------


def listed_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'<tr data-finding="(\d+)"', response.content.decode())}


def open_high_and_critical() -> set[int]:
    return set(Finding.objects.filter(severity__gte=7, status__in=OPEN_STATUSES).values_list("id", flat=True))


@pytest.fixture
def findings():
    stored = store_findings(40, seed=3)
    resolved = next(f for f in stored if f.severity >= 7)
    Finding.objects.filter(pk=resolved.pk).update(status="resolved")
    assert 0 < len(open_high_and_critical()) < len(stored) - 1
    return stored


def test_analyst_lands_on_open_high_and_critical_not_on_every_finding(client_for, findings):
    response = client_for("analyst").get("/findings/")

    assert listed_ids(response) == open_high_and_critical()
    html = response.content.decode()
    assert 'data-testid="current-view">Open high and critical</strong> (your default)' in html
    assert "Remove filter: severity critical or high" in html and "Remove filter: status open" in html


def test_all_findings_and_explicit_filters_are_respected_not_replaced_by_the_default(client_for, findings):
    client = client_for("analyst")

    assert listed_ids(client.get("/findings/?all=1")) == {f.pk for f in findings}
    assert listed_ids(client.get("/findings/?band=low")) == set(
        Finding.objects.filter(severity__lt=4).values_list("id", flat=True)
    )
    assert listed_ids(client.get("/findings/?sort=-last_seen")) == {f.pk for f in findings}  # a sort is explicit too
    assert 'href="?all=1" aria-current="page">All findings' in client.get("/findings/?all=1").content.decode()


def test_each_active_filter_is_a_chip_whose_link_drops_just_that_filter(client_for, findings):
    html = client_for("analyst").get("/findings/?band=high&status=open&region=us-east-1&after=abc&start=51").content.decode()

    chips = dict(re.findall(r'<a class="chip" href="\?([^"]*)" aria-label="Remove filter: ([^"]+)"', html))
    assert {label: query.replace("&amp;", "&") for query, label in chips.items()} == {
        "severity high": "status=open&region=us-east-1",
        "region is us-east-1": "band=high&status=open",
        "status open": "band=high&region=us-east-1",
    }
    # Removing the only filter asks for everything rather than falling back to the default view.
    html = client_for("analyst").get("/findings/?band=low").content.decode()
    assert '<a class="chip" href="?all=1" aria-label="Remove filter: severity low"' in html


def test_analyst_makes_a_saved_view_their_default_and_can_go_back_to_the_built_in(client_for, findings):
    client = client_for("analyst")
    response = client.post("/findings/views/", {"name": "Lows", "query": "band=low", "default": "on"})
    assert response.status_code == 302

    response = client.get("/findings/")
    assert listed_ids(response) == set(Finding.objects.filter(severity__lt=4).values_list("id", flat=True))
    assert 'data-testid="current-view">Lows</strong> (your default)' in response.content.decode()
    assert listed_ids(client_for("manager").get("/findings/")) == open_high_and_critical()  # only theirs changed

    client.post("/findings/views/", {"name": "Mediums", "query": "band=medium"})
    client.post(f"/findings/views/{SavedView.objects.get(name='Mediums').pk}/default/")
    assert list(SavedView.objects.filter(is_default=True).values_list("name", flat=True)) == ["Mediums"]

    client.post("/findings/views/default/")
    assert not SavedView.objects.filter(is_default=True).exists()
    assert listed_ids(client.get("/findings/")) == open_high_and_critical()


def test_someone_elses_shared_view_cannot_be_made_my_default(client_for, findings):
    client_for("analyst").post("/findings/views/", {"name": "Team lows", "query": "band=low", "shared": "on"})
    view = SavedView.objects.get()

    assert client_for("manager").post(f"/findings/views/{view.pk}/default/").status_code == 404
    assert not SavedView.objects.filter(is_default=True).exists()
    assert listed_ids(client_for("manager").get("/findings/")) == open_high_and_critical()
    assert client_for("analyst").post(f"/findings/views/{view.pk}/default/").status_code == 302  # its owner may
    assert SavedView.objects.get(is_default=True) == view


def test_after_a_bulk_action_on_every_finding_the_list_still_shows_every_finding(client_for, findings):
    response = client_for("analyst").post(
        "/findings/bulk/", {"action": "comment", "comment": "seen", "scope": "all", "query": "", "confirmed": "yes"}
    )
    assert response.status_code == 302 and response["Location"].endswith("/findings/?all=1")


def test_acting_on_all_matching_from_the_default_view_means_the_default_views_findings(client_for, findings):
    html = client_for("analyst").get("/findings/").content.decode()

    bulk = html.split('id="bulk"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="query" value="band=critical&amp;band=high&amp;status=open">' in bulk
    assert f"All {len(open_high_and_critical())} matching this filter" in bulk


def test_a_filter_change_swaps_in_the_results_with_their_chips(client_for, findings):
    response = client_for("analyst").get("/findings/?band=low&sort=-severity&size=50", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert '<div id="results">' in html and "<h1>" not in html
    assert 'aria-label="Remove filter: severity low"' in html
