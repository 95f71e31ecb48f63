"""The findings list pages back as well as forward (keyset both ways) and says where the page sits."""

from __future__ import annotations

import html as html_lib

import pytest

from tests.triage.support import store_findings
from triage.filters import SORTS

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[int]:
    html = response.content.decode()
    return [int(part.split('"', 1)[0]) for part in html.split('data-finding="')[1:]]


def link(response, rel: str) -> str | None:
    html = response.content.decode()
    if f'rel="{rel}"' not in html:
        return None
    href = html.split(f'rel="{rel}"')[0].rsplit('href="', 1)[1].split('"', 1)[0]
    return "/findings/" + html_lib.unescape(href)


def position(response) -> str:
    html = response.content.decode()
    return html.split('data-testid="page-position">', 1)[1].split("</span>", 1)[0]


@pytest.mark.parametrize("sort", list(SORTS))
def test_paging_back_shows_the_same_pages_as_paging_forward(client_for, sort):
    store_findings(57)
    client = client_for("analyst")
    forward, url = [], f"/findings/?sort={sort}&size=25"
    while url:
        response = client.get(url)
        forward.append(rows_of(response))
        url = link(response, "next")
    backward = []
    url = link(response, "prev")
    while url:
        response = client.get(url)
        backward.append(rows_of(response))
        url = link(response, "prev")

    assert [len(page) for page in forward] == [25, 25, 7]
    assert backward == forward[-2::-1]  # page 2, then page 1, exactly as they were going forward
    assert "« First page" not in response.content.decode()  # back at the top


def test_the_page_says_where_it_sits_in_the_list(client_for):
    store_findings(120)
    client = client_for("analyst")

    first = client.get("/findings/?size=50")
    second = client.get(link(first, "next"))
    third = client.get(link(second, "next"))
    back = client.get(link(third, "prev"))

    assert position(first) == "1–50 of 120"
    assert position(second) == "51–100 of 120"
    assert position(third) == "101–120 of 120"
    assert position(back) == "51–100 of 120" and rows_of(back) == rows_of(second)


def test_the_position_is_estimated_where_the_counts_are(client_for, monkeypatch):
    from triage import selectors

    store_findings(60)
    monkeypatch.setattr(selectors, "COUNT_BUDGET_MS", 0)  # as when counting exactly would be slow
    monkeypatch.setattr(selectors, "_severity_counts_exact", lambda *a, **k: (_ for _ in ()).throw(_timeout()))

    text = position(client_for("analyst").get("/findings/?size=50"))

    assert text.startswith("1–50 of ≈")


def _timeout():
    from django.db import OperationalError
    from psycopg.errors import QueryCanceled

    error = OperationalError("canceling statement due to statement timeout")
    error.__cause__ = QueryCanceled()
    return error


def test_a_page_back_costs_what_a_page_forward_costs(client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store_findings(80)
    client = client_for("analyst")
    first = client.get("/findings/?size=25")
    second_url = link(first, "next")
    third_url = link(client.get(second_url), "next")
    back_url = link(client.get(third_url), "prev")

    with CaptureQueriesContext(connection) as forward:
        second = client.get(second_url)
    with CaptureQueriesContext(connection) as backward:
        response = client.get(back_url)

    assert rows_of(response) == rows_of(second)
    assert len(backward) == len(forward)  # the mirror query instead of the forward one, nothing more
    # and no count of the rows before the page: the position rides in the link
    assert not [q["sql"] for q in backward.captured_queries if "COUNT(*)" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()]


def test_a_bad_page_back_link_is_reported_and_shows_the_first_page(client_for):
    store_findings(30)
    client = client_for("analyst")

    response = client.get("/findings/?size=25&before=garbage&start=26")

    assert "no longer valid" in response.content.decode()
    assert rows_of(response) == rows_of(client.get("/findings/?size=25"))
    assert position(response) == "1–25 of 30"


@pytest.fixture(params=["probe", "walk"])
def search_route(request, monkeypatch):
    """Free text both ways: the trigram index probed first (few matches), or the severity walk (many)."""
    from triage import filters as list_filters

    if request.param == "walk":  # as if the planner expected too many matches to probe
        monkeypatch.setattr(list_filters, "SEARCH_PROBE_BELOW_ROWS", 0)
    return request.param


@pytest.mark.parametrize("query", ["q=port", "q=port&sort=last_seen", "q=port&status=open&band=low&band=medium"])
def test_paging_back_through_a_searched_list(client_for, query, search_route):
    store_findings(20, seed=3)
    store_findings(60, seed=4, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    client = client_for("analyst")
    forward, url = [], f"/findings/?{query}&size=25"
    while url:
        response = client.get(url)
        forward.append(rows_of(response))
        url = link(response, "next")
    backward, url = [], link(response, "prev")
    while url:
        response = client.get(url)
        backward.append(rows_of(response))
        url = link(response, "prev")

    assert len(forward) >= 2
    assert backward == forward[-2::-1]


@pytest.mark.parametrize("query", ["type_prefix=Recon:EC2/", "type_prefix=Recon:EC2/&sort=severity"])
def test_paging_back_through_a_filtered_list(client_for, query):
    store_findings(20, seed=3)
    store_findings(60, seed=4, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    client = client_for("analyst")
    forward, url = [], f"/findings/?{query}&size=25"
    while url:
        response = client.get(url)
        forward.append(rows_of(response))
        url = link(response, "next")
    backward, url = [], link(response, "prev")
    while url:
        response = client.get(url)
        backward.append(rows_of(response))
        url = link(response, "prev")

    assert len(forward) >= 2
    assert backward == forward[-2::-1]
