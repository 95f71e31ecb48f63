"""Issue 17's done-when: curl with a service token lists the same findings the UI shows."""

from __future__ import annotations

import json
import urllib.request

from django.test import Client

from tests.api.support import token_of
from tests.triage.support import store_findings

FILTERS = "status=open&band=high&band=medium&sort=-last_seen&size=25"


def _api_pages(base: str, secret: str) -> list[list[int]]:
    """Every page of the list over real HTTP, as a script with curl would walk it (following next_cursor)."""
    pages, cursor = [], ""
    while True:
        url = f"{base}/api/v1/findings/?{FILTERS}" + (f"&after={cursor}" if cursor else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        pages.append([finding["id"] for finding in body["results"]])
        if not (cursor := body["next_cursor"]):
            return pages


def _ui_pages(client: Client) -> list[list[int]]:
    pages, cursor = [], ""
    while True:
        response = client.get(f"/findings/?{FILTERS}" + (f"&after={cursor}" if cursor else ""))
        page = response.context["page"]
        pages.append([finding.pk for finding in page.findings])
        if not (cursor := page.next_cursor):
            return pages


def test_a_service_token_lists_the_same_findings_in_the_same_order_as_the_ui(live_server, admin, client_for):
    store_findings(70)
    secret = token_of(admin, kind="service", role="Manager", name="curl")
    api = _api_pages(live_server.url, secret)
    ui = _ui_pages(client_for("analyst"))
    assert len(ui) >= 2 and all(ui)
    assert api == ui
