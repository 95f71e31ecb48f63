"""Everyone signed in lands on the dashboard; each card shows a figure and links to the page behind it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from guardwatch.core.models import Alert
from tests.reports.support import detectors, finding, member, synced

pytestmark = pytest.mark.django_db


@pytest.fixture
def state():
    member("200000000001", us_east_1="Enabled", eu_west_1="Enabled")
    member("200000000002", us_east_1="Enabled", eu_west_1="Resigned")
    detectors("us-east-1", "eu-west-1")
    now = timezone.now()
    finding(created=now - timedelta(days=3), band="critical")  # overdue (4 h SLA)
    finding(created=now - timedelta(minutes=10), band="high")
    finding(created=now - timedelta(minutes=10), band="high")
    finding(created=now - timedelta(days=1), band="low", status="resolved")
    Alert.objects.create(kind="member.resigned", title="Member resigned", dedupe_key="k1")
    Alert.objects.create(kind="member.resigned", title="Old", dedupe_key="k2", acknowledged_at=now)
    synced("us-east-1", at=now - timedelta(minutes=4))


def _card(html: str, name: str) -> str:
    return re.search(
        rf'data-card="{name}">.*?</(?:a|div)>\s*(?=<(?:a|div) class="card|</div>)', html, re.S
    ).group(0)


def test_manager_sees_coverage_percent_linking_to_the_coverage_page(client_for, state):
    html = client_for("manager").get("/").content.decode()
    assert re.search(r'href="/accounts/coverage/" data-card="coverage">.*?83.3%', html, re.S)


def test_open_findings_by_severity_link_to_the_filtered_list(client_for, state):
    html = client_for("manager").get("/").content.decode()
    assert re.search(r'data-testid="open-total">3<', html)
    assert re.search(r'href="/findings/\?status=open&amp;band=high">High <strong>2</strong>', html)
    assert re.search(r'href="/findings/\?status=open&amp;band=critical">Critical <strong>1</strong>', html)


def test_overdue_count_links_to_overdue_findings(client_for, state):
    html = client_for("manager").get("/").content.decode()
    assert re.search(
        r'href="/findings/\?overdue=1" data-card="overdue">.*?data-testid="overdue">1<', html, re.S
    )


def test_unacknowledged_alerts_are_counted(client_for, state):
    html = client_for("manager").get("/").content.decode()
    assert re.search(
        r'href="/alerts/\?state=open" data-card="alerts">.*?data-testid="open-alerts">1<', html, re.S
    )


def test_last_sync_per_region_links_managers_to_coverage_freshness(client_for, state):
    html = client_for("manager").get("/").content.decode()
    card = re.search(r'<a class="card card-link" href="([^"]+)" data-card="last-sync">(.*?)</a>', html, re.S)
    assert card.group(1) == "/accounts/coverage/#freshness"
    assert re.search(r'data-region="us-east-1">.*?4\xa0minutes ago', card.group(2), re.S)
    assert re.search(r'data-region="eu-west-1">.*?never', card.group(2), re.S)


def test_analyst_last_sync_card_links_to_the_sync_page(client_for, state):
    html = client_for("analyst").get("/").content.decode()
    assert 'href="/findings/sync/" data-card="last-sync"' in html


def test_person_without_a_role_sees_no_figures(client_for, state):
    html = client_for("outsider").get("/").content.decode()
    assert "has no role yet" in html and 'data-card="' not in html


def test_dashboard_runs_a_bounded_number_of_queries(client_for, state, django_assert_max_num_queries):
    client = client_for("manager")
    with django_assert_max_num_queries(17):  # one more since teams: the person's scope
        assert client.get("/").status_code == 200
