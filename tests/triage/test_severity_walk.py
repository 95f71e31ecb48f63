"""A severity-bound filter (a type, a tactic...) the planner expects many matches for walks the severity index
within SEVERITY_WALK_MS, and finds its matches first when the walk takes longer (a low-severity type at
5,000,000 findings walked millions of rows: 2.4 s). Both ways give the same pages."""

from __future__ import annotations

import pytest
from django.db.models.expressions import RawSQL

from findings.models import Finding
from tests.triage.support import store_findings
from tests.triage.test_paging import link, rows_of
from triage import selectors

pytestmark = pytest.mark.django_db


def pages(client, query: str) -> list[list[int]]:
    found, url = [], f"/findings/?{query}&size=25"
    while url:
        response = client.get(url)
        found.append(rows_of(response))
        url = link(response, "next")
    return found


def test_a_walk_over_its_budget_is_cancelled_not_waited_for(monkeypatch):
    store_findings(3, seed=2)
    monkeypatch.setattr(selectors, "SEVERITY_WALK_MS", 50)
    slow = Finding.objects.annotate(nap=RawSQL("pg_sleep(0.5)", [])).order_by("-severity", "-id")

    assert selectors._walk_within_budget(slow, 25) is None
    assert len(selectors._walk_within_budget(Finding.objects.order_by("-severity", "-id"), 25)) == 3


@pytest.mark.parametrize("query", ["type_prefix=Recon:EC2/", "type_prefix=Recon:EC2/&status=resolved&status=new"])
def test_the_walk_and_the_matches_first_give_the_same_pages(client_for, monkeypatch, query):
    store_findings(40, seed=3)
    store_findings(60, seed=4, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    client = client_for("analyst")
    monkeypatch.setattr(selectors, "FILTER_FIRST_ROWS", 0)  # every estimate is "many": the walk is tried first
    walked = pages(client, query)
    tried = []

    def over_budget(queryset, size):
        tried.append(size)
        return None

    monkeypatch.setattr(selectors, "_walk_within_budget", over_budget)
    matched_first = pages(client, query)

    assert tried and walked == matched_first and len(walked) >= 2 and sum(map(len, walked)) > 25
